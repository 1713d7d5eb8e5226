"""How far back the criteria read each analyte and score: results older than that are never read, so never validated."""

from __future__ import annotations

from datetime import date, timedelta

from matcher.codes.model import Mappings
from matcher.trial import NCT07161193, Trial

#: (trial id, mappings digest) -> lookback days (the same mappings are asked for every patient)
_CACHE: dict[tuple[str, str], dict[str, int | None]] = {}


def lookback_days(m: Mappings, trial: Trial = NCT07161193) -> dict[str, int | None]:
    """Days before as_of that any criterion reads, per analyte or score id; None means the whole record.

    Each value is the longest window any criterion declares for the item (criteria/reads.py); a criterion
    that reads further back than it declares raises UndeclaredRead, so nothing it reads is left out here.
    """
    key = (trial.id, m.provenance.digest)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = trial.reads().lookback_days(m)
    return found


def horizon(m: Mappings, as_of: date, trial: Trial = NCT07161193) -> dict[str, date | None]:
    """The earliest date each item is read from, as of `as_of` (None: from the beginning)."""
    return {item: None if d is None else as_of - timedelta(days=d) for item, d in lookback_days(m, trial).items()}

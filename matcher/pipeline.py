"""The steps every shell shares: read FHIR input, evaluate, rank. Shells add only their own I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from matcher.codes.loader import Mappings
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.ndjson import Skipped
from matcher.outcome import MatchResult
from matcher.rank import rank
from matcher.settings import Settings
from matcher.sources import read_inputs
from matcher.trial import NCT07161193


def checked_mappings(settings: Settings) -> Mappings:
    """The mappings, verified to define every id the trial's criteria read."""
    mappings = settings.mappings
    NCT07161193.check_mappings(mappings)
    return mappings


def match_bundle(
    data: bytes | str | dict[str, object], as_of: date, mappings: Mappings, source: str | None = None
) -> MatchResult:
    return evaluate(record_from_bundle(data, mappings, source, as_of), as_of, mappings)


def rank_paths(paths: Iterable[Path], as_of: date, mappings: Mappings) -> tuple[list[MatchResult], list[Skipped]]:
    """Every patient in the inputs, ranked; inputs that could not be read are returned beside them."""
    results: list[MatchResult] = []
    skipped: list[Skipped] = []
    for item in read_inputs(paths, mappings, as_of):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            results.append(evaluate(item, as_of, mappings))
    return rank(results), skipped

"""The steps every shell shares: read FHIR input, evaluate, rank. Shells add only their own I/O."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from matcher.codes.model import Mappings
from matcher.errors import InputError, internal_error
from matcher.evaluate import as_of_problem, evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.ndjson import Skipped
from matcher.inputs import read_inputs
from matcher.outcome import MatchResult
from matcher.rank import rank
from matcher.settings import Settings
from matcher.trial import NCT07161193

log = logging.getLogger("trialmatch")


def checked_mappings(settings: Settings) -> Mappings:
    """The mappings, verified to define every id the trial's criteria read (once per process, at start-up)."""
    mappings = settings.mappings
    NCT07161193.check_mappings(mappings)  # converts units, so the UCUM parser and registry now exist
    # The mappings, the UCUM parser and its registry (~40,000 objects) live as long as the process; left to
    # the cyclic garbage collector, every full collection would walk them again (measured: 9 % more time
    # per patient). Keep what exists now out of those walks.
    gc.collect()
    gc.freeze()
    return mappings


def check_as_of(as_of: date) -> date:
    """The date of the question, refused (InputError) when the look-back windows cannot be counted from it."""
    problem = as_of_problem(as_of)
    if problem:
        raise InputError(problem)
    return as_of


def match_bundle(
    data: bytes | str | dict[str, object],
    as_of: date,
    mappings: Mappings,
    source: str | None = None,
    *,
    max_entries: int | None = None,
) -> MatchResult:
    check_as_of(as_of)
    record = record_from_bundle(data, mappings, source, as_of, max_entries=max_entries)
    return evaluate(record, as_of, mappings)


def rank_paths(paths: Iterable[Path], as_of: date, mappings: Mappings) -> tuple[list[MatchResult], list[Skipped]]:
    """Every patient in the inputs, ranked; inputs that could not be read are returned beside them."""
    check_as_of(as_of)
    results: list[MatchResult] = []
    skipped: list[Skipped] = []
    for item in read_inputs(paths, mappings, as_of):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        try:
            results.append(evaluate(item, as_of, mappings))
        except Exception as exc:  # a bug must cost one patient, not the whole ranking
            skipped.append(Skipped(item.patient.ref, item.patient.ref, internal_error(log, item.patient.ref, exc)))
    return rank(results), skipped

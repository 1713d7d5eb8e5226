"""Local inputs: Bundle files, folders of them and NDJSON files, read into PatientRecords (or what was skipped)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import orjson

from matcher.codes.loader import Mappings
from matcher.errors import InputError
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.ndjson import Skipped, read_ndjson
from matcher.record import PatientRecord

NDJSON_SUFFIXES = (".ndjson", ".jsonl")


def read_bundle_file(path: Path, mappings: Mappings, as_of: date | None = None) -> PatientRecord:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return record_from_bundle(data, mappings, str(path), as_of)


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[Path], list[Skipped]]:
    """Split inputs into Bundle files and NDJSON files; folders are searched (other JSON in them is ignored)."""
    bundles: list[Path] = []
    ndjson: list[Path] = []
    problems: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.suffix in NDJSON_SUFFIXES:
                    ndjson.append(found)
                elif found.suffix == ".json" and _is_bundle(found):
                    bundles.append(found)
        elif path.suffix in NDJSON_SUFFIXES:
            ndjson.append(path)
        elif path.exists():
            bundles.append(path)
        else:
            problems.append(Skipped(str(path), None, "no such file or folder"))
    return bundles, ndjson, problems


def _is_bundle(path: Path) -> bool:
    """Folders may hold other JSON (expected outcomes, notes): only Bundles are read from them."""
    try:
        head = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return True  # let reading it report the problem
    return isinstance(head, dict) and head.get("resourceType") == "Bundle"


def read_inputs(
    paths: Iterable[Path], mappings: Mappings, as_of: date | None = None
) -> Iterator[PatientRecord | Skipped]:
    """Every patient found in the inputs, or a Skipped entry saying what could not be read and why."""
    bundles, ndjson, problems = expand(paths)
    yield from problems
    for path in bundles:
        try:
            yield read_bundle_file(path, mappings, as_of)
        except InputError as exc:
            yield Skipped(str(path), None, exc.detail)
    if ndjson:
        yield from read_ndjson(ndjson, mappings, as_of)


__all__ = ["Skipped", "expand", "read_bundle_file", "read_inputs"]

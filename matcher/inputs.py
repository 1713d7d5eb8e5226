"""Local inputs: Bundle files, folders of them and NDJSON files, read into PatientRecords (or what was skipped)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from matcher.codes.model import Mappings
from matcher.errors import InputError, internal_error
from matcher.fhir.bundle import parse_json, record_from_bundle
from matcher.fhir.ndjson import Skipped, read_ndjson
from matcher.record import PatientRecord

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
log = logging.getLogger("trialmatch.fhir")


def expand(paths: Iterable[Path]) -> tuple[list[tuple[Path, bool]], list[Path], list[Skipped]]:
    """Split inputs into JSON files (with whether they were named) and NDJSON files; folders are searched.

    A JSON file named on its own must be a Bundle; one found in a folder is read only if it is one
    (folders may hold other JSON: expected outcomes, notes).
    """
    json_files: list[tuple[Path, bool]] = []
    ndjson: list[Path] = []
    problems: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if not found.is_file():
                    continue  # a folder named x.ndjson, a dangling link
                if found.suffix in NDJSON_SUFFIXES:
                    ndjson.append(found)
                elif found.suffix == ".json":
                    json_files.append((found, False))
        elif not path.exists():
            problems.append(Skipped(str(path), None, "no such file or folder"))
        elif path.suffix in NDJSON_SUFFIXES:
            ndjson.append(path)
        else:
            json_files.append((path, True))
    return json_files, ndjson, problems


def _read_json(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_json(data, str(path))


def read_inputs(
    paths: Iterable[Path], mappings: Mappings, as_of: date | None = None
) -> Iterator[PatientRecord | Skipped]:
    """Every patient found in the inputs, or a Skipped entry saying what could not be read and why."""
    json_files, ndjson, problems = expand(paths)
    yield from problems
    for path, named in json_files:
        try:
            data = _read_json(path)
            if not named and not (isinstance(data, dict) and data.get("resourceType") == "Bundle"):
                continue
            yield record_from_bundle(data, mappings, str(path), as_of)
        except InputError as exc:
            yield Skipped(str(path), None, exc.detail)
        except Exception as exc:  # a bug must cost one file, not the whole run
            yield Skipped(str(path), None, internal_error(log, str(path), exc))
    if ndjson:
        yield from read_ndjson(ndjson, mappings, as_of)


__all__ = ["Skipped", "expand", "read_inputs"]

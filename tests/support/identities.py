"""Who the fixture patients are (names, birth dates), and a search of log records for any of it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import orjson

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture_bundles() -> list[Path]:
    """Every patient Bundle in fixtures/ and fixtures/synthea/."""
    return sorted(p for p in [*FIXTURES.glob("*.json"), *FIXTURES.glob("synthea/*.json")] if p.name != "expected.json")


@cache
def fixture_identities() -> frozenset[str]:
    """Every given and family name, name text and birth date of the fixtures' Patients."""
    found: set[str] = set()
    for path in fixture_bundles():
        for entry in orjson.loads(path.read_bytes()).get("entry", ()):
            resource = entry.get("resource", {})
            if resource.get("resourceType") != "Patient":
                continue
            for name in resource.get("name", ()):
                found.update(name.get("given", ()))
                found.update(value for key in ("family", "text") if (value := name.get(key)))
            if resource.get("birthDate"):
                found.add(resource["birthDate"])
    return frozenset(found)


def leaks(records: Iterable[logging.LogRecord], identities: Iterable[str]) -> list[tuple[str, str]]:
    """(identity, where) for each identity found in a record's message template, its arguments or its text."""
    wanted = sorted(identities)
    found = []
    for record in records:
        args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
        texts = [str(record.msg), *(repr(a) for a in args), *(str(a) for a in args), record.getMessage()]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(str(record.exc_info[1]))
        for identity in wanted:
            if any(identity in text for text in texts):
                found.append((identity, f"{record.name}: {str(record.msg)[:80]}"))
    return found

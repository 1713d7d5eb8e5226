"""A local copy of the last export's NDJSON, kept current with incremental (_since) exports.

Each export makes a new generation folder; a small CURRENT file (replaced atomically) names the
generation in use and the export's transactionTime. A crash at any moment leaves the previous
generation intact, and an incremental export builds only on the generation it was asked against.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson

CURRENT = "CURRENT"


class Mirror:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def current(self) -> tuple[Path, str] | None:
        """(the folder of the generation in use, its export's transactionTime), if there is one."""
        try:
            name, transaction_time = (self.folder / CURRENT).read_text(encoding="utf-8").split("\n", 1)
        except (OSError, ValueError):
            return None
        folder = self.folder / name
        return (folder, transaction_time.strip()) if folder.is_dir() else None

    def transaction_time(self) -> str | None:
        found = self.current()
        return found[1] if found else None

    def files(self) -> list[Path]:
        found = self.current()
        return sorted(found[0].glob("*.ndjson")) if found else []

    def replace(self, incoming: list[tuple[str, Path]], transaction_time: str) -> None:
        """A full export: its files become the new generation."""
        generation = self._new_generation(transaction_time)
        for rtype, path in incoming:
            if rtype != "deleted":
                shutil.move(path, generation / f"{rtype}.{path.name}")
        self._switch(generation, transaction_time)

    def merge(self, incoming: list[tuple[str, Path]], transaction_time: str) -> int:
        """A _since export on top of the current generation: new versions replace old ones by id, deleted
        resources go, the rest is kept. Returns the lines of the new generation."""
        base = self.files()
        changed: dict[str, list[Path]] = {}
        removed: set[tuple[str, str]] = set()
        for rtype, path in incoming:
            if rtype == "deleted":
                removed |= set(_deletions(path))
            else:
                changed.setdefault(rtype, []).append(path)
        gone = removed | {(rtype, rid) for rtype, paths in changed.items() for p in paths for rid in _ids(p)}
        types = {_type_of(p) for p in base} | set(changed)
        generation = self._new_generation(transaction_time)
        written = 0
        for rtype in sorted(types):
            with (generation / f"{rtype}.ndjson").open("wb") as out:
                for old in (p for p in base if _type_of(p) == rtype):
                    for line in _lines(old):
                        if (rtype, _id(line)) not in gone:
                            out.write(line)
                            written += 1
                for new in changed.get(rtype, []):
                    for line in _lines(new):
                        out.write(line)
                        written += 1
        self._switch(generation, transaction_time)
        return written

    @staticmethod
    def discard(folder: Path) -> None:
        """Remove a download folder once its files are in a generation (or the export failed)."""
        shutil.rmtree(folder, ignore_errors=True)

    def _new_generation(self, transaction_time: str) -> Path:
        safe = "".join(ch if ch.isalnum() else "-" for ch in transaction_time) or "unknown"
        generation = self.folder / f"gen-{safe}-{os.getpid()}"
        shutil.rmtree(generation, ignore_errors=True)
        generation.mkdir()
        return generation

    def _switch(self, generation: Path, transaction_time: str) -> None:
        previous = self.current()
        pointer = self.folder / f".{CURRENT}.tmp"
        pointer.write_text(f"{generation.name}\n{transaction_time}\n", encoding="utf-8")
        os.replace(pointer, self.folder / CURRENT)
        if previous is not None and previous[0] != generation:
            shutil.rmtree(previous[0], ignore_errors=True)


def _type_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield line if line.endswith(b"\n") else line + b"\n"


def _id(line: bytes) -> str | None:
    try:
        value = orjson.loads(line).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _ids(path: Path) -> Iterator[str]:
    for line in _lines(path):
        rid = _id(line)
        if rid is not None:
            yield rid


def _deletions(path: Path) -> Iterator[tuple[str, str]]:
    """Bulk Data v2 deleted files: Bundles whose entries are DELETE requests for Type/id."""
    for line in _lines(path):
        try:
            bundle = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for entry in bundle.get("entry", []) if isinstance(bundle, dict) else []:
            url = ((entry or {}).get("request") or {}).get("url", "")
            if isinstance(url, str) and url.count("/") == 1:
                rtype, rid = url.split("/")
                yield rtype, rid

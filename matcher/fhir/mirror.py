"""A local copy of the last export's NDJSON, kept current with incremental (_since) exports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson


class Mirror:
    """One folder of `<Type>.ndjson` files: replaced by a full export, merged with a _since export."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("*.ndjson") if not p.name.startswith("."))

    def replace(self, incoming: list[tuple[str, Path]]) -> None:
        """A full export: its files become the mirror."""
        for old in self.files():
            old.unlink()
        for rtype, path in incoming:
            if rtype != "deleted":
                os.replace(path, self.folder / f"{rtype}.{path.name}")

    def merge(self, incoming: list[tuple[str, Path]]) -> int:
        """A _since export: new versions replace old ones by id, deleted resources go. Returns lines written."""
        changed: dict[str, list[Path]] = {}
        removed: set[tuple[str, str]] = set()
        for rtype, path in incoming:
            if rtype == "deleted":
                removed |= set(_deletions(path))
            else:
                changed.setdefault(rtype, []).append(path)
        replaced = {(rtype, rid) for rtype, paths in changed.items() for p in paths for rid in _ids(p)}
        gone = removed | replaced
        types = {p.name.split(".", 1)[0] for p in self.files()} | set(changed)
        written = 0
        for rtype in sorted(types):
            target = self.folder / f".{rtype}.merging"
            with target.open("wb") as out:
                for old in self._of_type(rtype):
                    for line in _lines(old):
                        if (rtype, _id(line)) not in gone:
                            out.write(line)
                            written += 1
                for new in changed.get(rtype, []):
                    for line in _lines(new):
                        out.write(line)
                        written += 1
            for old in self._of_type(rtype):
                old.unlink()
            os.replace(target, self.folder / f"{rtype}.ndjson")
        return written

    def _of_type(self, rtype: str) -> list[Path]:
        return [p for p in self.files() if p.name.split(".", 1)[0] == rtype]

    def clear_incoming(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)


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

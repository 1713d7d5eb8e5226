"""The local mirror of the last export: generations, merges of _since deltas with deletions, a safe switch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matcher.fhir.mirror import CURRENT, Mirror


def ndjson(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


def lines(mirror: Mirror) -> list[dict[str, Any]]:
    return [json.loads(line) for f in mirror.files() for line in f.read_text().splitlines()]


def test_mirror_replace_then_merge_a_delta_with_deletions(tmp_path):
    mirror = Mirror(tmp_path / "mirror")
    full = tmp_path / "full"
    full.mkdir()
    (full / "Observation.0000.ndjson").write_bytes(
        ndjson({"resourceType": "Observation", "id": "o1", "v": 1}, {"resourceType": "Observation", "id": "o2", "v": 1})
    )
    (full / "Patient.0001.ndjson").write_bytes(ndjson({"resourceType": "Patient", "id": "p"}))
    mirror.replace(
        [("Observation", full / "Observation.0000.ndjson"), ("Patient", full / "Patient.0001.ndjson")],
        "2026-06-01T00:00:00Z",
    )
    first = mirror.current()
    delta = tmp_path / "delta"
    delta.mkdir()
    (delta / "Observation.0000.ndjson").write_bytes(
        ndjson({"resourceType": "Observation", "id": "o2", "v": 2}, {"resourceType": "Observation", "id": "o3", "v": 1})
    )
    (delta / "deleted.0001.ndjson").write_bytes(
        ndjson(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"request": {"method": "DELETE", "url": "Observation/o1"}}],
            }
        )
    )
    mirror.merge(
        [("Observation", delta / "Observation.0000.ndjson"), ("deleted", delta / "deleted.0001.ndjson")],
        "2026-06-02T00:00:00Z",
    )
    assert mirror.transaction_time() == "2026-06-02T00:00:00Z"
    assert first is not None
    assert not first[0].exists()  # the old generation goes once the new one is current
    observations = {r["id"]: r["v"] for r in lines(mirror) if r["resourceType"] == "Observation"}
    assert observations == {"o2": 2, "o3": 1}
    assert [r["id"] for r in lines(mirror) if r["resourceType"] == "Patient"] == ["p"]


def test_an_empty_mirror_has_no_generation(tmp_path):
    mirror = Mirror(tmp_path / "new")
    assert mirror.current() is None and mirror.transaction_time() is None and mirror.files() == []


def test_a_pointer_to_a_missing_generation_is_no_generation(tmp_path):
    mirror = Mirror(tmp_path / "m")
    (mirror.folder / CURRENT).write_text("gen-gone\n2026-06-01T00:00:00Z\n", encoding="utf-8")
    assert mirror.current() is None


def test_a_full_export_replaces_everything_and_ignores_deletions(tmp_path):
    mirror = Mirror(tmp_path / "m")
    old = _file(tmp_path / "old", "Condition", {"resourceType": "Condition", "id": "c1"})
    mirror.replace([("Condition", old)], "t1")
    new = _file(tmp_path / "new", "Patient", {"resourceType": "Patient", "id": "p"})
    gone = _file(tmp_path / "new", "deleted", {"resourceType": "Bundle", "entry": []})
    mirror.replace([("Patient", new), ("deleted", gone)], "t2")
    assert [r["id"] for r in lines(mirror)] == ["p"]
    assert mirror.transaction_time() == "t2"


def test_a_merge_counts_its_lines_and_skips_blank_or_unreadable_ones(tmp_path):
    mirror = Mirror(tmp_path / "m")
    base = _file(tmp_path / "a", "Condition", {"resourceType": "Condition", "id": "c1"})
    mirror.replace([("Condition", base)], "t1")
    delta = tmp_path / "b" / "Condition.0000.ndjson"
    delta.parent.mkdir()
    delta.write_bytes(b'{"resourceType": "Condition", "id": "c2"}\n\n{"resourceType": "Condition", "id": "c3"}')
    deleted = tmp_path / "b" / "deleted.0001.ndjson"
    deleted.write_bytes(b"not json\n")
    assert mirror.merge([("Condition", delta), ("deleted", deleted)], "t2") == 3
    assert sorted(r["id"] for r in lines(mirror)) == ["c1", "c2", "c3"]


def test_discard_removes_a_download_folder(tmp_path):
    incoming = tmp_path / ".incoming-1"
    _file(incoming, "Patient", {"resourceType": "Patient", "id": "p"})
    Mirror.discard(incoming)
    Mirror.discard(incoming)  # twice is fine
    assert not incoming.exists()


def _file(folder: Path, rtype: str, *resources: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rtype}.{len(list(folder.iterdir())):04d}.ndjson"
    path.write_bytes(ndjson(*resources))
    return path

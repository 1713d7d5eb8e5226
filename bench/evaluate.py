"""Benchmark: in-process evaluation time per patient (bytes -> MatchResult), beside a bare orjson.loads.

Usage: python bench/evaluate.py [--repeat N] [BUNDLE_OR_DIR ...]   (default: fixtures/synthea)

Prints the median and p99 per patient over the Synthea fixtures and over a generated heavy patient
(5,000 Observations, half of them labs the criteria read). Not a test: numbers go in the README.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.pipeline import checked_mappings, match_bundle  # noqa: E402
from matcher.serialize import result_json  # noqa: E402
from matcher.settings import Settings  # noqa: E402
from tests.support.fixturekit import PatientBuilder  # noqa: E402

AS_OF = date(2021, 4, 1)
HEAVY_OBSERVATIONS = 5000


def heavy_patient() -> bytes:
    """One patient with 5,000 Observations over five years: labs the criteria read, and vitals they do not."""
    p = PatientBuilder("heavy", sex="female", birth="1975-03-03")
    p.condition("http://snomed.info/sct", "69896004", "Rheumatoid arthritis", onset="2015-01-01")
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", "2016-01-01")
    labs = [
        ("1742-6", "U/L", 25.0),
        ("1920-8", "U/L", 22.0),
        ("1975-2", "mg/dL", 0.6),
        ("2160-0", "mg/dL", 0.9),
        ("29463-7", "kg", 66.0),
    ]
    vitals = [
        ("8867-4", "/min", 72.0),
        ("8310-5", "Cel", 36.8),
        ("9279-1", "/min", 14.0),
        ("8302-2", "cm", 165.0),
        ("39156-5", "kg/m2", 24.0),
    ]
    for i in range(HEAVY_OBSERVATIONS):
        code, unit, value = (labs if i % 2 == 0 else vitals)[i // 2 % 5]
        day = (AS_OF - timedelta(days=(i * 5 * 365) // HEAVY_OBSERVATIONS)).isoformat()
        p.lab(code, "observation", value, unit, day, high=value * 2)
    return orjson.dumps(p.bundle())


def timed(fn: Any, data: bytes, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        out.append((time.perf_counter() - start) * 1000)
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "fixtures" / "synthea"])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    mappings = checked_mappings(Settings())

    def match(data: bytes) -> dict[str, Any]:
        return result_json(match_bundle(data, AS_OF, mappings))

    files = sorted(f for p in args.paths for f in ([p] if p.is_file() else p.glob("*.json")))
    bundles = [f.read_bytes() for f in files]
    for data in bundles:  # warm up imports and caches
        match(data)
    rows = []
    per_patient = [statistics.median(timed(match, d, args.repeat)) for d in bundles]
    parse = [statistics.median(timed(orjson.loads, d, args.repeat)) for d in bundles]
    size = statistics.median(len(d) for d in bundles) / 1024
    rows.append((f"Synthea, {len(bundles)} patients (median {size:.0f} KiB)", per_patient, parse))
    heavy = heavy_patient()
    rows.append(
        (
            f"heavy patient, {HEAVY_OBSERVATIONS} Observations ({len(heavy) / 1024:.0f} KiB)",
            timed(match, heavy, args.repeat),
            timed(orjson.loads, heavy, args.repeat),
        )
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{args.repeat} runs each"
    )
    print("| input | evaluate median | evaluate p99 | orjson.loads median | orjson.loads p99 |")
    print("|---|---|---|---|---|")
    for name, evaluate_ms, parse_ms in rows:
        print(
            f"| {name} | {statistics.median(evaluate_ms):.2f} ms | {p99(evaluate_ms):.2f} ms "
            f"| {statistics.median(parse_ms):.2f} ms | {p99(parse_ms):.2f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

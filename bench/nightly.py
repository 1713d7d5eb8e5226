"""Benchmark: patients per second for `rank` over Bulk-style NDJSON and for the nightly funnel against SEKMET.

Usage: python bench/nightly.py [--patients 5000] [--server-patients 500]

The NDJSON holds copies of the fixtures with new ids (one file per resource type, as a Bulk export
writes them); `rank` reads it in one pass. The funnel run loads copies into a local SEKMET server
and runs `trialmatch nightly` against it (SQLite). Not a test: numbers go in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.fhir.transaction import to_put_transaction  # noqa: E402
from matcher.jobs.funnel_run import FunnelScreening  # noqa: E402
from matcher.jobs.nightly import Nightly, NightlyOptions  # noqa: E402
from matcher.jobs.store import Store  # noqa: E402
from matcher.jobs.wiring import open_job  # noqa: E402
from matcher.pipeline import checked_mappings  # noqa: E402
from matcher.settings import Settings  # noqa: E402
from tests.integration.conftest import fixture_bundles  # noqa: E402
from tests.integration.servers import sekmet  # noqa: E402

AS_OF = date(2026, 6, 30)


def copies(n: int) -> Iterator[dict[str, Any]]:
    """n patient Bundles: the fixtures again and again, every id made new (references follow)."""
    sources = [orjson.loads(p.read_bytes()) for p in fixture_bundles()]
    for i in range(n):
        raw = orjson.dumps(to_put_transaction(sources[i % len(sources)]))
        # every id is a UUID or a scenario name: a suffix keeps them unique and references consistent
        ids = {e["resource"]["id"] for e in orjson.loads(raw)["entry"]}
        text = raw.decode()
        for old in sorted(ids, key=len, reverse=True):
            text = text.replace(f'"{old}"', f'"{old}-c{i}"').replace(f'/{old}"', f'/{old}-c{i}"')
        yield orjson.loads(text)


def write_ndjson(bundles: Iterable[dict[str, Any]], folder: Path) -> int:
    handles: dict[str, Any] = {}
    size = 0
    try:
        for bundle in bundles:
            for entry in bundle["entry"]:
                res = entry["resource"]
                handle = handles.get(res["resourceType"])
                if handle is None:
                    handle = handles[res["resourceType"]] = (folder / f"{res['resourceType']}.ndjson").open("wb")
                line = orjson.dumps(res) + b"\n"
                handle.write(line)
                size += len(line)
    finally:
        for handle in handles.values():
            handle.close()
    return size


def bench_rank(n: int) -> str:
    """`trialmatch rank` in a process of its own, so its time and peak memory are its own."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "export"
        folder.mkdir()
        size = write_ndjson(copies(n), folder)
        start = time.perf_counter()
        with (Path(work) / "ranked.json").open("wb") as out:
            subprocess.run(
                [str(Path(sys.executable).parent / "trialmatch"), "rank", str(folder), "--as-of", AS_OF.isoformat()],
                stdout=out,
                check=True,
            )
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ranked = orjson.loads((Path(work) / "ranked.json").read_bytes())
    assert len(ranked["candidates"]) == n
    assert not ranked["skipped"]
    return (
        f"| `trialmatch rank` over NDJSON, {n} patients ({size / 2**20:.0f} MiB, one file per type) "
        f"| {seconds:.1f} s | {n / seconds:.0f} patients/s | peak memory {peak / 1024:.0f} MiB, output included |"
    )


def bench_funnel(n: int) -> str:
    mappings = checked_mappings(Settings(_env_file=None))
    with tempfile.TemporaryDirectory() as work, sekmet(Path(work) / "sekmet") as base:
        with httpx.Client(timeout=120) as http:
            for bundle in copies(n):
                http.post(
                    base, content=orjson.dumps(bundle), headers={"content-type": "application/fhir+json"}
                ).raise_for_status()
        settings = Settings(_env_file=None, fhir_base_url=base, cache_ttl=0, work_dir=Path(work))
        store = Store(f"sqlite:///{work}/runs.db")

        async def night() -> Any:
            async with open_job(settings, mappings) as parts:
                screening = FunnelScreening(parts.source, parts.finder, store, mappings)
                return await Nightly(screening, parts.source, store).run(
                    NightlyOptions(as_of=AS_OF, out=Path(work) / "report", concurrency=settings.nightly_concurrency)
                )

        start = time.perf_counter()
        outcome = asyncio.run(night())
        seconds = time.perf_counter() - start
        store.close()
    screened = outcome.summary["screened"]
    return (
        f"| nightly funnel against SEKMET, {n} patients ({screened} with a disease) | {seconds:.1f} s "
        f"| {screened / seconds:.0f} patients/s | {outcome.summary['requests_sent']} FHIR requests |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--server-patients", type=int, default=500)
    args = parser.parse_args()
    rows = [bench_rank(args.patients), bench_funnel(args.server_patients)]
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print("| job | time | throughput | notes |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

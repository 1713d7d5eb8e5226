"""Load: many concurrent clients on POST /match and GET /patients/{id}/match against `trialmatch serve` and SEKMET.

Usage: python bench/load.py [--clients 50] [--seconds 60] [--workers 2] [--pool 300]

Starts SEKMET on loopback (installing it with scripts/install-sekmet when missing), loads every fixture
into it and `--pool` copies of them with new ids, then starts `trialmatch serve --workers N` as a
subprocess on a loopback port (development token, no rate limit, a patient cache of 100 per worker).
Each client sends, in turn: POST /match with a fixture Bundle; GET /patients/{id}/match for one of 20
patients read again and again (cached); and for the next copy of the pool, which the cache cannot hold
(not cached). Requests are counted by what the server says (X-Cache: hit or miss), not by intent.
Bounded: every client stops at `--seconds` or after `--max-requests`, whichever comes first.

Prints throughput, p50/p99 per kind, errors, and the RSS of the server processes before and after.
Not a test and not run in CI: the figures go in the README ("Reliability").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nightly import copies  # noqa: E402
from tests.integration.conftest import fixture_bundles, load  # noqa: E402
from tests.integration.servers import free_port, sekmet, wait_until_up  # noqa: E402
from tests.support.auth import DEV_HEADERS, DEV_TOKEN  # noqa: E402

AS_OF = {"as_of": "2026-06-30"}
HOT = 20  # patients read again and again
CACHE = 100  # patients each worker's cache holds: the pool cycles through more, so its reads miss


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's supervisor and its worker processes)."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            found.extend(int(c) for c in children)
    return found


def rss_mib(pid: int) -> list[float]:
    sizes = []
    for each in tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def load_pool(base: str, n: int) -> list[str]:
    """Load n copies of the fixtures with new ids; their Patient ids."""
    ids = []
    with httpx.Client(timeout=120) as http:
        for bundle in copies(n):
            http.post(
                base, content=orjson.dumps(bundle), headers={"content-type": "application/fhir+json"}
            ).raise_for_status()
            ids.append(next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"))
    return ids


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {"POST /match": [], "GET cached": [], "GET not cached": []}
        self.errors: Counter[str] = Counter()
        self.took = 0.0
        self.turn = itertools.count()  # the pool is read in turn by every client: no copy twice in a row
        self.rss: tuple[list[float], list[float]] = ([], [])  # before, after
        self.cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # trialmatch, SEKMET, this script


async def client(  # noqa: PLR0917 (one client's whole brief)
    api: str, bodies: list[bytes], hot: list[str], pool: list[str], stop: float, limit: int, tally: Tally, n: int
) -> None:
    async with httpx.AsyncClient(base_url=api, headers=DEV_HEADERS, timeout=30) as http:
        for i in range(limit):
            if time.monotonic() >= stop:
                return
            kind = (i + n) % 3
            start = time.perf_counter()
            try:
                if kind == 0:
                    body = bodies[(i * 7 + n) % len(bodies)]
                    headers = {"content-type": "application/fhir+json"}
                    response = await http.post("/match", content=body, params=AS_OF, headers=headers)
                    name = "POST /match"
                else:
                    pid = hot[(i + n) % len(hot)] if kind == 1 else pool[next(tally.turn) % len(pool)]
                    response = await http.get(f"/patients/{pid}/match", params=AS_OF)
                    name = "GET cached" if response.headers.get("x-cache") == "hit" else "GET not cached"
            except httpx.HTTPError as error:
                tally.errors[type(error).__name__] += 1
                continue
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                tally.errors[f"{name}: {response.status_code}"] += 1
            else:
                tally.latency[name].append(elapsed)


async def run(api: str, args: argparse.Namespace, bodies: list[bytes], hot: list[str], pool: list[str]) -> Tally:
    tally = Tally()
    stop = time.monotonic() + args.seconds
    await asyncio.gather(
        *(client(api, bodies, hot, pool, stop, args.max_requests, tally, n) for n in range(args.clients))
    )
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of trialmatch serve")
    parser.add_argument("--pool", type=int, default=300, help="copies of the fixtures for the reads that miss")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client, a bound besides --seconds")
    args = parser.parse_args()
    if not (1 <= args.clients <= 500 and 0 < args.seconds <= 600 and args.pool > CACHE):
        parser.error("--clients 1..500, --seconds up to 600, --pool above the cache size (100)")
    with tempfile.TemporaryDirectory() as work, sekmet(Path(work) / "sekmet") as base:
        started = time.monotonic()
        hot = list(load(base, fixture_bundles()))[:HOT]
        pool = load_pool(base, args.pool)
        print(
            f"SEKMET loaded with {len(fixture_bundles())} fixtures + {len(pool)} copies "
            f"in {time.monotonic() - started:.0f} s"
        )
        bodies = [p.read_bytes() for p in fixture_bundles()]
        port = free_port()
        env = {
            **os.environ,
            "TRIALMATCH_FHIR_BASE_URL": base,
            "TRIALMATCH_API_TOKEN": DEV_TOKEN,
            "TRIALMATCH_ALLOW_STATIC_TOKEN": "true",
            "TRIALMATCH_RATE_LIMIT": "",
            "TRIALMATCH_CACHE_MAX_PATIENTS": str(CACHE),
            "TRIALMATCH_WORK_DIR": work,
        }
        command = [str(Path(sys.executable).parent / "trialmatch"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        log = (Path(work) / "serve.log").open("wb")
        server = subprocess.Popen(
            [*command, "--workers", str(args.workers)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            api = f"http://127.0.0.1:{port}"
            wait_until_up(f"{api}/health", server)
            time.sleep(1)  # every worker up
            before = rss_mib(server.pid)
            servers = tree(server.pid)
            others = [x for x in tree(os.getpid()) if x != os.getpid() and x not in servers]  # SEKMET
            spent = cpu_seconds(servers), cpu_seconds(others), time.process_time()
            started = time.monotonic()
            tally = asyncio.run(run(api, args, bodies, hot, pool))
            tally.took = time.monotonic() - started
            tally.rss = before, rss_mib(server.pid)
            tally.cpu = (
                cpu_seconds(servers) - spent[0],
                cpu_seconds(others) - spent[1],
                time.process_time() - spent[2],
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    report(args, tally)
    return 0 if not tally.errors else 1


def report(args: argparse.Namespace, tally: Tally) -> None:
    """The figures, as a Markdown table with a few lines around it."""
    total = sum(len(v) for v in tally.latency.values())
    every = [x for v in tally.latency.values() for x in v]
    took, (before, after), (ours, theirs, load_cpu) = tally.took, tally.rss, tally.cpu
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.clients} clients for {took:.0f} s; trialmatch serve --workers {args.workers}; SEKMET on loopback"
    )
    print(
        f"CPU seconds in {took:.0f} s (2 cores: {2 * took:.0f} available): trialmatch {ours:.0f}, "
        f"SEKMET {theirs:.0f}, this load generator {load_cpu:.0f}"
    )
    print("| requests | count | per second | p50 | p99 |")
    print("|---|---|---|---|---|")
    for name, values in [*tally.latency.items(), ("all", every)]:
        print(
            f"| {name} | {len(values)} | {len(values) / took:.0f} "
            f"| {p(values, 0.5):.0f} ms | {p(values, 0.99):.0f} ms |"
        )
    print(f"errors: {sum(tally.errors.values())} {dict(tally.errors) or ''}".rstrip())
    print(
        f"server RSS before: {sum(before):.0f} MiB ({', '.join(f'{x:.0f}' for x in before)}); "
        f"after: {sum(after):.0f} MiB ({', '.join(f'{x:.0f}' for x in after)})"
    )
    print(f"{total} answered in {took:.1f} s: {total / took:.0f} requests/s; median {statistics.median(every):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())

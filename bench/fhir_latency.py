"""Benchmark: GET /patients/{id}/match against a local SEKMET FHIR server, cold and cached.

Usage: python bench/fhir_latency.py [--rounds N]

Starts SEKMET (installing it with scripts/install-sekmet when missing), loads every fixture into it,
serves trialmatch on a loopback port, and times the route end to end over HTTP: p50 and p99 per
request, cold (cache empty) and cached, for Patient/$everything and for plain searches; and how
many requests trialmatch sent to the FHIR server per patient. Not a test: numbers go in the README.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import Request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.api.app import create_app  # noqa: E402
from tests.integration.conftest import fixture_bundles, load  # noqa: E402
from tests.integration.servers import sekmet, serve_app  # noqa: E402
from tests.support.auth import DEV_HEADERS, dev_settings  # noqa: E402


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def measure(api: str, patients: list[str], rounds: int) -> tuple[list[float], list[float], list[int]]:
    cold, cached, requests = [], [], []
    with httpx.Client(base_url=api, timeout=60, headers=DEV_HEADERS) as client:
        for _ in range(rounds):
            client.post("/_bench/forget")  # empty the cache: every first request is cold
            for pid in patients:
                for bucket in (cold, cached):
                    start = time.perf_counter()
                    response = client.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"})
                    bucket.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
                    if bucket is cold:
                        requests.append(int(response.headers["x-fhir-requests"]))
    return cold, cached, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work, sekmet(Path(work)) as base:
        patients = list(load(base, fixture_bundles()))
        for mode in ("always", "never"):
            settings = dev_settings(fhir_base_url=base, fhir_everything=mode, cache_ttl=600)
            app = create_app(settings)

            @app.post("/_bench/forget", include_in_schema=False)
            def forget(request: Request) -> None:
                with contextlib.suppress(AttributeError):
                    request.app.state.patients.forget()

            with serve_app(app) as api:
                cold, cached, requests = measure(api, patients, args.rounds)
            rows.append(("Patient/$everything" if mode == "always" else "searches", cold, cached, requests))
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}; {len(patients)} patients x "
        f"{args.rounds} rounds; SEKMET 0.1.1 (SQLite) on loopback"
    )
    print("| fetch | cold p50 | cold p99 | cached p50 | cached p99 | FHIR requests per patient (median, max) |")
    print("|---|---|---|---|---|---|")
    for name, cold, cached, requests in rows:
        print(
            f"| {name} | {statistics.median(cold):.1f} ms | {p99(cold):.1f} ms | {statistics.median(cached):.1f} ms "
            f"| {p99(cached):.1f} ms | {statistics.median(requests):.0f}, {max(requests)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Session fixtures: a real SEKMET FHIR server, loaded with every fixture (ids kept, urn:uuid references rewritten)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from matcher.fhir.transaction import to_put_transaction
from tests.integration.servers import sekmet

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture_bundles() -> list[Path]:
    return sorted(
        p for p in [*FIXTURES.glob("*.json"), *(FIXTURES / "synthea").glob("*.json")] if p.name != "expected.json"
    )


def patient_id(path: Path) -> str:
    bundle = orjson.loads(path.read_bytes())
    pid: str = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return pid


def load(base: str, paths: list[Path]) -> dict[str, Path]:
    loaded = {}
    with httpx.Client(timeout=120) as http:
        for path in paths:
            transaction = to_put_transaction(orjson.loads(path.read_bytes()))
            response = http.post(
                base, content=orjson.dumps(transaction), headers={"content-type": "application/fhir+json"}
            )
            assert response.status_code == 200, f"{path.name}: {response.status_code} {response.text[:300]}"
            loaded[patient_id(path)] = path
    return loaded


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sekmet(tmp_path_factory.mktemp("sekmet")) as base:
        yield base


@pytest.fixture(scope="session")
def loaded(fhir_server: str) -> dict[str, Path]:
    """Patient id -> the Bundle file it was loaded from, for every fixture."""
    return load(fhir_server, fixture_bundles())

"""SMART Backend Services end to end: SEKMET requires a token; trialmatch signs its assertion and fetches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.fhir.transaction import to_put_transaction
from matcher.pipeline import match_bundle
from matcher.serialize import result_json
from tests.integration.servers import sekmet
from tests.support.auth import DEV_HEADERS, dev_settings

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sle_eligible.json"
LOADER_TOKEN = "loader-token"


def write_keys(folder: Path, name: str, key) -> tuple[Path, Path]:
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[tuple[str, Path, dict[str, Path]]]:
    folder = tmp_path_factory.mktemp("smart")
    keys = {
        "RS384": write_keys(folder, "rsa", rsa.generate_private_key(65537, 2048)),
        "ES384": write_keys(folder, "ec", ec.generate_private_key(ec.SECP384R1())),
    }
    clients = "".join(
        f'    - {{client_id: trialmatch-{alg.lower()}, public_key_path: {pub}, scopes: "system/*.read"}}\n'
        for alg, (_, pub) in keys.items()
    )
    auth = f"server_auth:\n  types: [smart, bearer]\n  tokens: [{LOADER_TOKEN}]\n  smart_clients:\n{clients}"
    with sekmet(folder, auth) as base:
        transaction = to_put_transaction(orjson.loads(FIXTURE.read_bytes()))
        response = httpx.post(
            base,
            content=orjson.dumps(transaction),
            timeout=60,
            headers={"content-type": "application/fhir+json", "authorization": f"Bearer {LOADER_TOKEN}"},
        )
        assert response.status_code == 200, response.text[:300]
        patient = next(e["resource"]["id"] for e in transaction["entry"] if e["resource"]["resourceType"] == "Patient")
        yield base, folder, {"patient": Path(patient), **{alg: private for alg, (private, _) in keys.items()}}


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_backend_services_fetches_with_a_signed_assertion(secured, mappings, alg):
    base, _, things = secured
    pid = str(things["patient"])
    settings = dev_settings(
        fhir_base_url=base,
        fhir_auth="smart",
        smart_client_id=f"trialmatch-{alg.lower()}",
        smart_key_file=things[alg],
        smart_alg=alg,
        smart_scope="system/*.read",
    )
    with TestClient(create_app(settings), headers=DEV_HEADERS) as client:
        response = client.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"})
    assert response.status_code == 200, response.text
    assert response.json() == result_json(match_bundle(FIXTURE.read_bytes(), date(2026, 6, 30), mappings))


def test_without_credentials_the_server_refuses_and_we_say_so(secured):
    base, _, things = secured
    with TestClient(create_app(dev_settings(fhir_base_url=base)), headers=DEV_HEADERS) as client:
        response = client.get(f"/patients/{things['patient']}/match")
    assert response.status_code == 502
    assert "refused the credentials" in response.json()["issue"][0]["diagnostics"]


def test_an_unknown_client_is_refused_at_the_token_endpoint(secured):
    base, _, things = secured
    settings = dev_settings(
        fhir_base_url=base,
        fhir_auth="smart",
        smart_client_id="stranger",
        smart_key_file=things["RS384"],
    )
    with TestClient(create_app(settings), headers=DEV_HEADERS) as client:
        response = client.get(f"/patients/{things['patient']}/match")
    assert response.status_code == 502
    assert "token endpoint refused" in response.json()["issue"][0]["diagnostics"]

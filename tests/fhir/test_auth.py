"""SMART Backend Services: a signed client assertion, token caching until shortly before expiry, discovery, refusal."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from matcher.errors import AuthorizationError, ConfigurationError
from matcher.fhir.auth import ASSERTION_TYPE, BearerAuth, SmartBackendAuth

BASE = "https://fhir.example/r4"
TOKEN_URL = "https://auth.example/token"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_response(request: httpx.Request, n: list[int], expires_in: int = 300) -> httpx.Response:
    n.append(1)
    return httpx.Response(200, json={"access_token": f"tok{len(n)}", "token_type": "bearer", "expires_in": expires_in})


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
@respx.mock
async def test_client_assertion_is_signed_and_carries_the_claims(alg, rsa_key):
    key = rsa_key if alg == "RS384" else ec.generate_private_key(ec.SECP384R1())
    calls: list[int] = []
    route = respx.post(TOKEN_URL).mock(side_effect=lambda r: token_response(r, calls))
    auth = SmartBackendAuth(
        base_url=BASE,
        client_id="trialmatch",
        private_key=pem(key),
        alg=alg,
        kid="k1",
        scope="system/Observation.read",
        token_url=TOKEN_URL,
    )
    async with httpx.AsyncClient() as http:
        assert await auth.headers(http) == {"Authorization": "Bearer tok1"}
    form = parse_qs(route.calls[0].request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [ASSERTION_TYPE]
    assert form["scope"] == ["system/Observation.read"]
    assertion = form["client_assertion"][0]
    assert jwt.get_unverified_header(assertion)["kid"] == "k1"
    claims = jwt.decode(assertion, key.public_key(), algorithms=[alg], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "trialmatch"
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]


@respx.mock
async def test_token_is_cached_until_shortly_before_expiry_and_renewed_after(rsa_key):
    calls: list[int] = []
    respx.post(TOKEN_URL).mock(side_effect=lambda r: token_response(r, calls, expires_in=300))
    timer = Clock()
    auth = SmartBackendAuth(base_url=BASE, client_id="c", private_key=pem(rsa_key), token_url=TOKEN_URL, timer=timer)
    async with httpx.AsyncClient() as http:
        first = await auth.headers(http)
        timer.now += 200  # 300 s token, renewed 60 s early: still valid
        assert await auth.headers(http) == first
        timer.now += 50  # 250 s: within the margin, a new token
        assert await auth.headers(http) == {"Authorization": "Bearer tok2"}
        auth.invalidate()  # a 401 from the FHIR server
        assert await auth.headers(http) == {"Authorization": "Bearer tok3"}
    assert len(calls) == 3


@respx.mock
async def test_token_endpoint_is_discovered_from_smart_configuration(rsa_key):
    respx.get(f"{BASE}/.well-known/smart-configuration").respond(json={"token_endpoint": TOKEN_URL})
    calls: list[int] = []
    respx.post(TOKEN_URL).mock(side_effect=lambda r: token_response(r, calls))
    auth = SmartBackendAuth(base_url=BASE, client_id="c", private_key=pem(rsa_key))
    async with httpx.AsyncClient() as http:
        await auth.headers(http)
    assert auth.token_url == TOKEN_URL


@respx.mock
async def test_refused_credentials_are_an_authorization_error(rsa_key):
    respx.post(TOKEN_URL).respond(400, json={"error": "invalid_client"})
    auth = SmartBackendAuth(base_url=BASE, client_id="c", private_key=pem(rsa_key), token_url=TOKEN_URL)
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthorizationError) as caught:
            await auth.headers(http)
    assert caught.value.status == 400 and caught.value.url == TOKEN_URL


def test_unreadable_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read the SMART private key"):
        SmartBackendAuth.from_key_file(tmp_path / "missing.pem", base_url=BASE, client_id="c")


async def test_static_bearer():
    async with httpx.AsyncClient() as http:
        assert await BearerAuth("abc").headers(http) == {"Authorization": "Bearer abc"}


@respx.mock
async def test_a_401_clears_only_the_token_it_was_given_to(rsa_key):
    calls: list[int] = []
    respx.post(TOKEN_URL).mock(side_effect=lambda r: token_response(r, calls))
    auth = SmartBackendAuth(base_url=BASE, client_id="c", private_key=pem(rsa_key), token_url=TOKEN_URL)
    async with httpx.AsyncClient() as http:
        first = (await auth.headers(http))["Authorization"]
        auth.invalidate(first)
        second = (await auth.headers(http))["Authorization"]
        auth.invalidate(first)  # a late 401 for the old token: the new one stays
        assert (await auth.headers(http))["Authorization"] == second
    assert len(calls) == 2

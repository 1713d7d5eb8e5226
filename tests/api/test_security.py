"""Who may call: JWTs of REST callers and CDS clients checked against keys served by a real JWKS endpoint, scopes,
the development token, CORS, the rate limit, and an OpenAPI document and /docs that open no door."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from matcher.api.app import create_app
from matcher.api.security import Principal, cds_client, principal
from matcher.errors import ConfigurationError
from matcher.settings import CdsClient, Settings
from tests.support.auth import Issuer, JwksServer, jwks_server

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
FHIR = {"content-type": "application/fhir+json"}
IDP = "https://idp.example.org"
EHR = "https://ehr.example.org"
BASE = "https://trialmatch.example.org"
AUDIENCE = "https://trialmatch.example.org/api"
APP_ORIGIN = "https://ehr-app.example.org"
MATCH = "trialmatch/match.read"
ECHO = "/cds-services/echo"  # a CDS service route made for these tests, guarded like the real ones


def pid(name: str) -> str:
    bundle = json.loads((FIXTURES / name).read_text())
    found: str = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return found


PATIENT = f"/patients/{pid('hbsag_positive.json')}/match"


def outcome(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    issue: dict[str, Any] = body["issue"][0]
    return issue


class World:
    """A JWKS endpoint holding an identity provider's key (REST callers) and an EHR's keys (CDS client)."""

    def __init__(self, served: JwksServer) -> None:
        self.served = served
        self.idp = Issuer(IDP, "RS384")
        self.ehr = Issuer(EHR, "ES384")
        self.rotated = Issuer(EHR, "ES384")  # the EHR's next key, published only at its allowed jku
        self.rogue = Issuer(EHR, "ES384")  # a key nobody trusts, published where the EHR never said
        self.jwks_url = served.publish("/idp/jwks", self.idp)
        self.ehr_jwks = served.publish("/ehr/jwks", self.ehr)
        self.ehr_jku = served.publish("/ehr/rotated", self.rotated)
        self.rogue_jku = served.publish("/rogue/jwks", self.rogue)

    def settings(self, **more: Any) -> Settings:
        given: dict[str, Any] = {
            "jwt_issuer": IDP,
            "jwt_audience": AUDIENCE,
            "jwks_url": self.jwks_url,
            "cds_clients": {EHR: CdsClient(jwks_url=self.ehr_jwks, jku=(self.ehr_jku,))},
            "public_url": BASE,
            "cors_origins": APP_ORIGIN,
            "rate_limit": "",
            **more,
        }
        return Settings(_env_file=None, **given)

    def rest(self, **claims: Any) -> dict[str, str]:
        """Headers with a REST caller's token: sub, aud and the match scope unless overridden."""
        token = self.idp.token({"sub": "coordinator-7", "aud": AUDIENCE, "scope": MATCH, **claims})
        return {"authorization": f"Bearer {token}"}

    def cds(self, path: str = ECHO, issuer: Issuer | None = None, headers: dict[str, Any] | None = None, **claims: Any):
        token = (issuer or self.ehr).token({"sub": "ehr-client", "aud": f"{BASE}{path}", **claims}, headers=headers)
        return {"authorization": f"Bearer {token}"}


def build(settings: Settings) -> FastAPI:
    app = create_app(settings, today=lambda: date(2026, 6, 30))

    @app.get("/whoami")
    def whoami(who: Principal = Depends(principal)) -> dict[str, Any]:  # noqa: B008
        return {"sub": who.sub, "iss": who.iss, "client_id": who.client_id, "scopes": sorted(who.scopes)}

    @app.post(ECHO)
    def echo(who: Principal = Depends(cds_client)) -> dict[str, Any]:  # noqa: B008
        return {"sub": who.sub, "iss": who.iss, "kind": who.kind, "tenant": who.tenant}

    return app


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with jwks_server() as served:
        yield World(served)


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[TestClient]:
    with TestClient(build(world.settings())) as client:
        yield client


# --- REST callers -------------------------------------------------------------------------------------------------


def test_no_token_is_a_401_with_a_bearer_challenge(api):
    for response in (api.get(PATIENT), api.get(PATIENT, headers={"authorization": "Basic dXNlcjpwdw=="})):
        assert response.status_code == 401 and outcome(response)["code"] == "login"
        assert response.headers["www-authenticate"] == 'Bearer realm="trialmatch"'


def test_a_valid_token_with_the_scope_is_let_in(api, world):
    response = api.get(PATIENT, headers=world.rest(azp="ehr-portal"))
    assert response.status_code == 200 and response.json()["verdict"] == "ineligible"
    who = api.get("/whoami", headers=world.rest(azp="ehr-portal")).json()
    assert who == {"sub": "coordinator-7", "iss": IDP, "client_id": "ehr-portal", "scopes": [MATCH]}


def _other_key_same_kid(world: World) -> Issuer:
    return Issuer(IDP, "RS384", kid=world.idp.kid)


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("bad signature", "signature does not verify"),
        ("unknown key", "key is not in the issuer's key set"),
        ("expired", "has expired"),
        ("not yet valid", "not valid yet"),
        ("wrong audience", "not meant for this service"),
        ("wrong issuer", "issuer is not trusted"),
        ("no audience", "no aud claim"),
        ("symmetric", "algorithm is not accepted"),
        ("garbage", "cannot be read"),
    ],
)
def test_a_token_that_does_not_verify_is_a_401_saying_why(api, world, case, text):
    now = int(time.time())
    base = {"sub": "coordinator-7", "aud": AUDIENCE, "scope": MATCH}
    tokens: dict[str, Callable[[], str]] = {
        "bad signature": lambda: _other_key_same_kid(world).token(base),
        "unknown key": lambda: Issuer(IDP, "RS384").token(base),
        "expired": lambda: world.idp.token(base, iat=now - 3600, exp=now - 600),
        "not yet valid": lambda: world.idp.token(base, nbf=now + 600),
        "wrong audience": lambda: world.idp.token(base, aud="https://elsewhere.example.org"),
        "wrong issuer": lambda: world.idp.token(base, iss="https://idp.evil.example"),
        "no audience": lambda: world.idp.token(base, aud=None),
        "symmetric": lambda: jwt.encode(
            {**base, "iss": IDP, "exp": now + 60}, "k" * 64, "HS256", {"kid": world.idp.kid}
        ),
        "garbage": lambda: "not.a.jwt",
    }
    response = api.get(PATIENT, headers={"authorization": f"Bearer {tokens[case]()}"})
    assert response.status_code == 401, response.text
    issue = outcome(response)
    assert issue["code"] == "login" and text in issue["diagnostics"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="trialmatch"') and 'error="invalid_token"' in challenge


def test_clocks_may_disagree_by_the_small_leeway_only(api, world):
    now = int(time.time())
    assert api.get(PATIENT, headers=world.rest(iat=now - 400, exp=now - 10)).status_code == 200
    assert api.get(PATIENT, headers=world.rest(iat=now - 400, exp=now - 60)).status_code == 401


def test_a_token_without_the_route_s_scope_is_a_403(api, world):
    response = api.get(PATIENT, headers=world.rest(scope="trialmatch/report.read openid"))
    assert response.status_code == 403 and outcome(response)["code"] == "forbidden"
    assert "trialmatch/match.read" in outcome(response)["diagnostics"]
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="trialmatch/match.read"' in challenge
    assert api.get(PATIENT, headers=world.rest(scope=None, scp=["openid", MATCH])).status_code == 200  # scp, a list
    report = "/runs/00000000-0000-0000-0000-000000000000/report"
    assert api.get(report, headers=world.rest()).status_code == 403  # match.read does not read reports
    assert api.get(report, headers=world.rest(scope="trialmatch/report.read")).status_code == 404


def test_a_cds_client_s_token_does_not_open_the_rest_routes(api, world):
    assert api.get(PATIENT, headers=world.cds(path=PATIENT)).status_code == 401


def test_an_unreachable_key_set_is_a_502_not_a_pass(world):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/jwks"
    with TestClient(build(world.settings(jwks_url=closed))) as client:
        response = client.get(PATIENT, headers=world.rest())
    assert response.status_code == 502 and "key set could not be read" in outcome(response)["diagnostics"]


@pytest.mark.parametrize("form", ["pem", "jwks"])
def test_the_keys_may_come_from_a_file(world, tmp_path, form):
    public = world.idp.key.public_key()
    path = tmp_path / f"idp.{form}"
    if form == "pem":
        path.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    else:
        path.write_text(json.dumps({"keys": [world.idp.jwk()]}))
    with TestClient(build(world.settings(jwks_url=None, jwt_key_file=path))) as client:
        assert client.get(PATIENT, headers=world.rest()).status_code == 200
        forged = _other_key_same_kid(world).token({"sub": "x", "aud": AUDIENCE, "scope": MATCH})
        assert client.get(PATIENT, headers={"authorization": f"Bearer {forged}"}).status_code == 401


# --- CDS Hooks clients --------------------------------------------------------------------------------------------


def test_a_cds_client_s_jwt_is_checked_as_cds_hooks_2_says(api, world):
    headers = world.cds(tenant="hospital-1")
    first = api.post(ECHO, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"sub": "ehr-client", "iss": EHR, "kind": "cds", "tenant": "hospital-1"}
    replayed = api.post(ECHO, headers=headers)
    assert replayed.status_code == 401 and "used before" in outcome(replayed)["diagnostics"]


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("aud is the service base, not the endpoint", "not meant for this service"),
        ("issuer not on the allow-list", "not a trusted CDS client"),
        ("long-lived", "lives longer than 300 seconds"),
        ("expired", "has expired"),
        ("no jti", "no jti claim"),
        ("not typ JWT", "typ JWT"),
        ("a REST caller's token", "not a trusted CDS client"),
        ("signed by another key", "signature does not verify"),
    ],
)
def test_a_cds_jwt_that_does_not_hold_is_a_401(api, world, case, text):
    now = int(time.time())
    headers = {
        "aud is the service base, not the endpoint": lambda: world.cds(aud=BASE),
        "issuer not on the allow-list": lambda: world.cds(issuer=Issuer("https://other-ehr.example.org", "ES384")),
        "long-lived": lambda: world.cds(iat=now, exp=now + 3600),
        "expired": lambda: world.cds(iat=now - 900, exp=now - 600),
        "no jti": lambda: world.cds(jti=None),
        "not typ JWT": lambda: world.cds(headers={"typ": "at+jwt"}),
        "a REST caller's token": lambda: world.rest(aud=f"{BASE}{ECHO}"),
        "signed by another key": lambda: world.cds(issuer=Issuer(EHR, "ES384", kid=world.ehr.kid)),
    }[case]()
    response = api.post(ECHO, headers=headers)
    assert response.status_code == 401, response.text
    assert text in outcome(response)["diagnostics"]


def test_jku_is_followed_only_when_on_the_issuer_s_allowed_list(api, world):
    allowed = api.post(ECHO, headers=world.cds(issuer=world.rotated, headers={"jku": world.ehr_jku}))
    assert allowed.status_code == 200, allowed.text
    before = world.served.hits.get("/rogue/jwks", 0)
    refused = api.post(ECHO, headers=world.cds(issuer=world.rogue, headers={"jku": world.rogue_jku}))
    assert refused.status_code == 401 and "jku is not on its issuer's allowed list" in outcome(refused)["diagnostics"]
    assert world.served.hits.get("/rogue/jwks", 0) == before  # a jku not allowed is never even fetched


def test_a_cds_client_s_jwt_reaches_the_real_cds_service(api, world):
    path = "/cds-services/trialmatch-nct07161193/feedback"
    response = api.post(path, headers=world.cds(path=path), json={"feedback": []})
    assert response.status_code not in (401, 403), response.text
    assert api.post(path, headers=world.cds(path=ECHO), json={"feedback": []}).status_code == 401  # aud: another URL


def test_discovery_and_health_need_no_token_and_cds_services_do(api):
    assert api.get("/health").status_code == 200
    assert api.get("/cds-services").status_code != 401
    for path in ("/cds-services/trialmatch-nct07161193", "/cds-services/trialmatch-nct07161193/feedback", ECHO):
        response = api.post(path, json={})
        assert response.status_code == 401 and outcome(response)["code"] == "login"


# --- the development token ----------------------------------------------------------------------------------------


def test_the_development_token_is_off_unless_allowed_and_says_so_at_start_up(caplog):
    caplog.set_level(logging.INFO, logger="trialmatch.api.security")
    with TestClient(create_app(Settings(_env_file=None, api_token=SecretStr("dev")))) as ignored:
        assert "TRIALMATCH_API_TOKEN is set but ignored" in caplog.text
        assert "every route but /health and GET /cds-services answers 401" in caplog.text
        assert ignored.get(PATIENT, headers={"authorization": "Bearer dev"}).status_code == 401
    caplog.clear()
    settings = Settings(_env_file=None, api_token=SecretStr("dev"), allow_static_token=True)
    with TestClient(create_app(settings)) as allowed:
        [warning] = [r for r in caplog.records if r.name == "trialmatch.api.security" and r.levelno == logging.WARNING]
        assert "development token" in warning.getMessage() and "never in production" in warning.getMessage()
        assert allowed.get(PATIENT, headers={"authorization": "Bearer dev"}).status_code == 200
        assert allowed.get(PATIENT, headers={"authorization": "Bearer dev2"}).status_code == 401


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        ({"jwks_url": "https://idp.example.org/jwks"}, "together"),
        ({"jwt_issuer": IDP, "jwt_audience": AUDIENCE}, "together"),
        ({"jwt_algorithms": "RS256,HS256"}, "only asymmetric"),
        ({"cds_clients": {EHR: CdsClient(jwks_url="https://ehr.example.org/jwks")}}, "TRIALMATCH_PUBLIC_URL"),
        ({"rate_limit": "often"}, "TRIALMATCH_RATE_LIMIT"),
        ({"limits_storage": "bogus://x"}, "TRIALMATCH_LIMITS_STORAGE"),
        ({"jwt_issuer": IDP, "jwt_audience": AUDIENCE, "jwt_key_file": Path("/nonexistent/key.pem")}, "cannot read"),
    ],
)
def test_a_wrong_security_setting_is_said_at_start_up(settings, text):
    with pytest.raises(ConfigurationError, match=text):
        create_app(Settings(_env_file=None, **settings))


# --- CORS, rate limit ---------------------------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/match",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )


def test_cors_admits_the_allowed_origin_only(api, world):
    allowed = preflight(api, APP_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(api, "https://evil.example.com")
    assert refused.status_code == 400 and outcome(refused)["code"] == "forbidden"
    assert "access-control-allow-origin" not in refused.headers
    # an answer to the allowed origin (a refusal too) can be read by its page; another origin's cannot
    assert api.get(PATIENT, headers={"origin": APP_ORIGIN}).headers["access-control-allow-origin"] == APP_ORIGIN
    assert "access-control-allow-origin" not in api.get(PATIENT, headers={"origin": "https://evil.example.com"}).headers


def test_cors_is_closed_by_default(world):
    with TestClient(build(world.settings(cors_origins=""))) as client:
        response = preflight(client, APP_ORIGIN)
    assert response.status_code == 400 and "access-control-allow-origin" not in response.headers


def test_the_rate_limit_counts_per_client_and_says_when_to_retry(world):
    with TestClient(build(world.settings(rate_limit="2/minute"))) as client:
        one, two = world.rest(azp="portal-a"), world.rest(azp="portal-b")
        assert [client.get(PATIENT, headers=one).status_code for _ in range(2)] == [200, 200]
        limited = client.get(PATIENT, headers=one)
        assert limited.status_code == 429 and outcome(limited)["code"] == "throttled"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert client.get(PATIENT, headers=two).status_code == 200  # another client has its own count
        cds = [client.post(ECHO, headers=world.cds()).status_code for _ in range(3)]
        assert cds == [200, 200, 429]
        # a CDS client is its issuer: changing `sub` (the client's own choice) does not give a new allowance
        assert client.post(ECHO, headers=world.cds(sub="someone-else")).status_code == 429
        assert client.get("/health").status_code == 200  # probes are never limited


# --- OpenAPI and /docs --------------------------------------------------------------------------------------------


def test_the_openapi_document_needs_a_token_and_declares_the_schemes(api, world):
    assert api.get("/openapi.json").status_code == 401
    spec = api.get("/openapi.json", headers=world.rest(scope="openid")).json()  # any verified caller may read it
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"], schemes["bearer"]["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )
    assert schemes["cdsHooksJWT"]["scheme"] == "bearer"
    match = spec["paths"]["/match"]["post"]
    assert match["security"] == [{"bearer": [MATCH]}]
    assert {"401", "403", "429"} <= set(match["responses"])
    assert spec["paths"]["/runs/{run_id}/report"]["get"]["security"] == [{"bearer": ["trialmatch/report.read"]}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert spec["paths"][ECHO]["post"]["security"] == [{"cdsHooksJWT": []}]
    service = spec["paths"]["/cds-services/trialmatch-nct07161193"]["post"]
    assert service["security"] == [{"cdsHooksJWT": []}] and "429" in service["responses"]  # cds_client guards it
    assert spec["paths"]["/cds-services"]["get"]["security"] == []
    unguarded = [
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "security" not in operation
    ]
    assert unguarded == []


def test_docs_are_served_from_the_service_itself_behind_the_token(api, world):
    assert api.get("/docs").status_code == 401
    assert api.get("/docs/assets/swagger-ui-bundle.js").status_code == 401
    assert api.get("/redoc").status_code in (401, 404)
    page = api.get("/docs", headers=world.rest(scope="openid"))
    assert page.status_code == 200
    assert re.findall(r"https?://", page.text) == []  # no CDN, nothing from elsewhere
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for source in sources:
        asset = api.get(source, headers=world.rest(scope="openid"))
        assert asset.status_code == 200 and len(asset.content) > 100
    assert "SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js", headers=world.rest()).text


def test_docs_can_be_turned_off(world):
    with TestClient(build(world.settings(docs=False))) as client:
        assert client.get("/docs", headers=world.rest()).status_code == 404
        assert client.get("/openapi.json", headers=world.rest()).status_code == 200


def test_a_websocket_is_closed_at_the_gate(api):
    from starlette.websockets import WebSocketDisconnect  # noqa: PLC0415

    with pytest.raises(WebSocketDisconnect) as closed, api.websocket_connect("/match"):
        pass
    assert closed.value.code == 1008


def test_workers_sharing_the_limits_storage_refuse_each_other_s_replays(world):
    from limits.storage import MemoryStorage  # noqa: PLC0415  one storage shared, as redis:// is by workers

    from matcher.api.tokens import Authenticator, Refused  # noqa: PLC0415

    shared = MemoryStorage()
    one, two = Authenticator(world.settings(), shared), Authenticator(world.settings(), shared)
    header = world.cds()["authorization"]
    assert one.cds_caller(header, ECHO).iss == EHR
    with pytest.raises(Refused, match="used before"):
        two.cds_caller(header, ECHO)
    alone = Authenticator(world.settings(), MemoryStorage())  # a worker with its own storage cannot know
    assert alone.cds_caller(header, ECHO).iss == EHR

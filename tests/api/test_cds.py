"""CDS Hooks 2.0: discovery, patient-view (full, partial and no prefetch), cards by verdict, feedback, patient page.

Every body sent and answered is held to the 2.0 logical models (tests/support/cds_hooks.py).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from matcher.api.app import create_app
from matcher.codes.model import Mappings
from matcher.jobs.feedback_store import FeedbackStore
from matcher.settings import CdsClient, Settings
from tests.support.auth import DEV_HEADERS, Issuer, dev_settings, jwks_server
from tests.support.cds_hooks import (
    feedback_problems,
    request_problems,
    response_problems,
    services_problems,
)

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
SERVICE = "/cds-services/trialmatch-nct07161193"
AS_OF = date(2026, 6, 30)
#: prefetch key -> the resource type its search returns
SEARCH_KEYS = {
    "conditions": "Condition",
    "observations": "Observation",
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
    "medicationAdministrations": "MedicationAdministration",
    "procedures": "Procedure",
}


def bundle_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return data


def resources(name: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle_of(name)["entry"]]


def patient_id(name: str) -> str:
    return next(str(r["id"]) for r in resources(name) if r["resourceType"] == "Patient")


def prefetch_of(name: str, *, drop_codes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The prefetch a CDS client would send for a fixture: the Patient, and one searchset Bundle per search."""
    found = resources(name)
    out: dict[str, Any] = {"patient": next(r for r in found if r["resourceType"] == "Patient")}
    for key, rtype in SEARCH_KEYS.items():
        matches = [r for r in found if r["resourceType"] == rtype and not _has_code(r, drop_codes)]
        if rtype.startswith("Medication"):
            matches += [r for r in found if r["resourceType"] == "Medication"]
        out[key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in matches]}
    return out


def _has_code(resource: dict[str, Any], codes: tuple[str, ...]) -> bool:
    return any(c.get("code") in codes for c in (resource.get("code") or {}).get("coding", []))


def hook_request(pid: str, prefetch: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": pid},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    assert request_problems(body) == []  # what the tests send is a valid 2.0 request
    return body


def make_client(tmp: Path, **settings: Any) -> TestClient:
    """The API with the development token (every scope; the CDS JWT itself is tested in test_security)."""
    app = create_app(dev_settings(work_dir=tmp, **settings), today=lambda: AS_OF)
    return TestClient(app, headers=DEV_HEADERS)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(tmp_path_factory.mktemp("cds")) as c:
        yield c


def cards_for(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert response_problems(answer) == []
    cards: list[dict[str, Any]] = answer["cards"]
    return cards


def outcome(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue: dict[str, Any] = body["issue"][0]
    return issue


# -- the logical models' checks can fail ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "body", "problem"),
    [
        (services_problems, {}, "services must be present"),
        (services_problems, {"services": [{"hook": "patient-view", "id": "x"}]}, "description is required"),
        (services_problems, {"services": [{"hook": "", "id": "x", "description": "d"}]}, "hook is required"),
        (request_problems, {"hook": "patient-view", "context": {}}, "hookInstance is required"),
        (request_problems, {"hook": "patient-view", "hookInstance": "nope", "context": {"a": 1}}, "uuid"),
        (
            request_problems,
            {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"patientId": "1"},
                "fhirAuthorization": {"access_token": "t", "token_type": "Bearer", "expires_in": 1, "scope": "s"},
            },
            "cds-r-1",
        ),
        (response_problems, {}, "cards must be present"),
        (response_problems, {"cards": [{"summary": "s", "indicator": "info", "source": {}}]}, "source.label"),
        (
            response_problems,
            {"cards": [{"summary": "s", "indicator": "hard-stop", "source": {"label": "x"}}]},
            "indicator",
        ),
        (response_problems, {"cards": [{"summary": "x" * 140, "indicator": "info", "source": {"label": "x"}}]}, "140"),
        (response_problems, {"cards": [{"summary": "s", "indicator": "info", "source": {"label": "x"}}]}, "uuid"),
        (
            response_problems,
            {
                "cards": [
                    {
                        "uuid": str(uuid.uuid4()),
                        "summary": "s",
                        "indicator": "info",
                        "source": {"label": "x"},
                        "links": [{"label": "l", "url": "/relative", "type": "absolute"}],
                    }
                ]
            },
            "absolute URL",
        ),
        (
            response_problems,
            {
                "cards": [
                    {
                        "uuid": str(uuid.uuid4()),
                        "summary": "s",
                        "indicator": "info",
                        "source": {"label": "x"},
                        "links": [{"label": "l", "url": "https://a.example", "type": "web"}],
                    }
                ]
            },
            "type",
        ),
        (
            response_problems,
            {
                "cards": [
                    {
                        "uuid": str(uuid.uuid4()),
                        "summary": "s",
                        "indicator": "info",
                        "source": {"label": "x"},
                        "suggestions": [{"label": "go"}],
                    }
                ]
            },
            "cds-resp-6",
        ),
        (
            feedback_problems,
            {
                "feedback": [
                    {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-06-30T09:00:00Z"}
                ]
            },
            "cds-fb-2",
        ),
        (
            feedback_problems,
            {
                "feedback": [
                    {"card": str(uuid.uuid4()), "outcome": "ignored", "outcomeTimestamp": "2026-06-30T09:00:00Z"}
                ]
            },
            "cds-fb-1",
        ),
        (feedback_problems, {"feedback": [{"card": "c", "outcome": "overridden"}]}, "outcomeTimestamp is required"),
    ],
)
def test_the_model_checks_catch_bad_bodies(check: Any, body: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in check(body)), check(body)


# -- discovery ----------------------------------------------------------------------------------------------


def test_discovery_lists_the_patient_view_service(client: TestClient, mappings: Mappings) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    assert services_problems(body) == []
    (service,) = body["services"]
    assert service["id"] == "trialmatch-nct07161193" and service["hook"] == "patient-view"
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert set(prefetch) == {"patient", *SEARCH_KEYS}
    for key, rtype in SEARCH_KEYS.items():
        assert prefetch[key].startswith(f"{rtype}?patient={{{{context.patientId}}}}")
    assert "_include=MedicationRequest:medication" in prefetch["medicationRequests"]
    # Observations restricted to the codes the criteria read, and to nothing else
    codes = set(parse_qs(urlsplit(prefetch["observations"]).query)["code"][0].split(","))
    assert codes == {c.code for c in mappings.observation_codes}
    assert {"5196-1", "1742-6", "sle-pga"} <= codes


# -- patient-view: cards by verdict, from a full prefetch -------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "summary"),
    [
        ("sle_eligible.json", "Candidate for NCT07161193 (SLE): only the screening visit's checks remain"),
        ("sle_pga_missing.json", "Possible candidate for NCT07161193 (SLE): 1 test to order"),
        ("psoriasis_unspecified_needs_review.json", "Possible candidate for NCT07161193 (psoriasis): 1 chart to read"),
        (
            "anti_hbc_positive_hbsag_negative.json",
            "Possible candidate for NCT07161193 (RA): 1 test to order, 1 chart to read",
        ),
        ("stale_labs_from_last_year.json", "Possible candidate for NCT07161193 (RA): 9 tests to order"),
    ],
)  # fmt: skip
def test_a_candidate_gets_one_info_card(client: TestClient, fixture: str, summary: str) -> None:
    pid = patient_id(fixture)
    (card,) = cards_for(client, hook_request(pid, prefetch_of(fixture)))
    assert card["summary"] == summary
    assert card["indicator"] == "info"
    assert "trialmatch" in card["source"]["label"] and "NCT07161193" in card["source"]["label"]
    (link,) = card["links"]
    assert link["type"] == "absolute"
    assert link["url"] == f"http://testserver/patients/{pid}/page?as_of=2026-06-30"
    # the detail is the match result's: every code to order appears, with its system named
    match = client.post("/match?as_of=2026-06-30", json=bundle_of(fixture)).json()
    for need in match["missing"]:
        for code in need.get("codes", []):
            assert code["code"] in card["detail"]
    if match["verdict"] == "possibly_eligible":
        assert "Unknown or under chart review" in card["detail"]


def test_two_tests_to_order_read_as_the_issue_says(client: TestClient) -> None:
    pid = patient_id("sle_eligible.json")
    prefetch = prefetch_of("sle_eligible.json", drop_codes=("sle-pga", "5196-1"))
    (card,) = cards_for(client, hook_request(pid, prefetch))
    assert card["summary"] == "Possible candidate for NCT07161193 (SLE): 2 tests to order"
    assert "**Tests to order**" in card["detail"]
    assert "`LOINC 5196-1`" in card["detail"] and "sle-pga`" in card["detail"]


@pytest.mark.parametrize(
    "fixture", ["age_17_too_young.json", "hiv_antibody_positive.json", "no_autoimmune_disease.json"]
)
def test_an_ineligible_patient_gets_no_card(client: TestClient, fixture: str) -> None:
    assert cards_for(client, hook_request(patient_id(fixture), prefetch_of(fixture))) == []


def test_each_call_gives_new_card_uuids(client: TestClient) -> None:
    body = hook_request(patient_id("sle_eligible.json"), prefetch_of("sle_eligible.json"))
    first, second = cards_for(client, body)[0], cards_for(client, {**body, "hookInstance": str(uuid.uuid4())})[0]
    assert first["uuid"] != second["uuid"]
    assert first["suggestions"][0]["uuid"] != second["suggestions"][0]["uuid"]


# -- request handling ----------------------------------------------------------------------------------------


def test_without_prefetch_or_fhir_server_it_is_412(client: TestClient) -> None:
    response = client.post(SERVICE, json=hook_request(patient_id("sle_eligible.json")))
    assert response.status_code == 412
    assert "fhirServer" in outcome(response)["diagnostics"]


def test_a_partial_prefetch_without_fhir_server_is_412_naming_what_lacks(client: TestClient) -> None:
    prefetch = prefetch_of("sle_eligible.json")
    del prefetch["observations"]
    prefetch["procedures"] = None  # the client could not fetch it: also missing
    response = client.post(SERVICE, json=hook_request(patient_id("sle_eligible.json"), prefetch))
    assert response.status_code == 412
    assert "observations, procedures" in outcome(response)["diagnostics"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"hook": "order-sign"}, "hook"),
        ({"hookInstance": "not-a-uuid"}, "hookInstance"),
        ({"context": {"userId": "Practitioner/1"}}, "patientId"),
        ({"context": {"userId": "Practitioner/1", "patientId": "../etc"}}, "patientId"),
        (
            {
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "trialmatch",
                }
            },
            "cds-r-1",
        ),
        (
            {
                "fhirServer": "https://ehr.example/fhir",
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "MAC",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "trialmatch",
                },
            },
            "token_type",
        ),
        ({"fhirServer": "file:///etc/passwd"}, "fhirServer"),
    ],
)
def test_a_bad_request_is_400(client: TestClient, change: dict[str, Any], where: str) -> None:
    body = {**hook_request(patient_id("sle_eligible.json"), prefetch_of("sle_eligible.json")), **change}
    response = client.post(SERVICE, json=body)
    assert response.status_code == 400, response.text
    assert where in outcome(response)["diagnostics"]


def test_a_prefetched_patient_other_than_the_context_is_400(client: TestClient) -> None:
    body = hook_request(patient_id("sle_pga_missing.json"), prefetch_of("sle_eligible.json"))
    response = client.post(SERVICE, json=body)
    assert response.status_code == 400
    assert "context.patientId" in outcome(response)["diagnostics"]


# -- partial prefetch: the rest read with the client's token, never ours ------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A FHIR server holding one fixture, which records each request's path and Authorization header."""

    fixture: ClassVar[list[dict[str, Any]]] = []
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        parts = urlsplit(self.path)
        segments = parts.path.removeprefix("/fhir/").split("/")
        if len(segments) == 2:
            found = [r for r in self.fixture if r["resourceType"] == segments[0] and r["id"] == segments[1]]
            return self._send(found[0] if found else {"resourceType": "OperationOutcome"}, 200 if found else 404)
        rtype = segments[0]
        entries = [{"resource": r} for r in self.fixture if r["resourceType"] == rtype]
        if "_include" in parse_qs(parts.query):
            entries += [{"resource": r} for r in self.fixture if r["resourceType"] == "Medication"]
        return self._send({"resourceType": "Bundle", "type": "searchset", "entry": entries}, 200)

    def _send(self, body: dict[str, Any], status: int) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("content-type", "application/fhir+json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def ehr_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"fixture": resources("sle_eligible.json"), "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", handler
    finally:
        server.shutdown()
        server.server_close()


def _authorization(token: str) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
            "subject": "trialmatch"}  # fmt: skip


def test_a_partial_prefetch_is_completed_from_the_fhir_server_with_the_clients_token(
    tmp_path: Path, ehr_server: tuple[str, type[_Recorder]]
) -> None:
    base, handler = ehr_server
    # the service has credentials of its own for this very server: they must not be the ones used
    with make_client(tmp_path, fhir_base_url=base, fhir_token=SecretStr("service-own-secret")) as client:
        pid = patient_id("sle_eligible.json")
        prefetch = prefetch_of("sle_eligible.json")
        del prefetch["observations"], prefetch["medicationRequests"]
        body = hook_request(pid, prefetch, fhirServer=base, fhirAuthorization=_authorization("ehr-granted-token"))
        full = cards_for(client, hook_request(pid, prefetch_of("sle_eligible.json")))
        partial = cards_for(client, body)
    assert [c["summary"] for c in partial] == [c["summary"] for c in full]
    asked = sorted(urlsplit(path).path for path, _ in handler.seen)
    assert asked == ["/fhir/MedicationRequest", "/fhir/Observation"]  # only what the prefetch lacked
    assert {auth for _, auth in handler.seen} == {"Bearer ehr-granted-token"}


def test_a_fhir_server_not_allowed_is_412_and_never_contacted(
    tmp_path: Path, ehr_server: tuple[str, type[_Recorder]]
) -> None:
    base, handler = ehr_server
    with make_client(tmp_path) as client:  # no TRIALMATCH_FHIR_BASE_URL, no TRIALMATCH_CDS_FHIR_SERVERS
        body = hook_request(patient_id("sle_eligible.json"), fhirServer=base)
        response = client.post(SERVICE, json=body)
    assert response.status_code == 412
    assert "TRIALMATCH_CDS_FHIR_SERVERS" in outcome(response)["diagnostics"]
    assert handler.seen == []


def test_a_listed_fhir_server_without_authorization_is_read_without_any_token(
    tmp_path: Path, ehr_server: tuple[str, type[_Recorder]]
) -> None:
    base, handler = ehr_server
    with make_client(tmp_path, cds_fhir_servers=f"https://other.example/fhir, {base}/") as client:
        cards = cards_for(client, hook_request(patient_id("sle_eligible.json"), fhirServer=base))
    assert len(cards) == 1
    assert len(handler.seen) == 7  # the Patient and six searches
    assert {auth for _, auth in handler.seen} == {None}


# -- feedback ------------------------------------------------------------------------------------------------


def test_feedback_is_stored_per_card_and_read_back(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        card = cards_for(client, hook_request(patient_id("sle_eligible.json"), prefetch_of("sle_eligible.json")))[0]
        other = cards_for(
            client, hook_request(patient_id("sle_pga_missing.json"), prefetch_of("sle_pga_missing.json"))
        )[0]
        reason = card["overrideReasons"][0]
        body = {
            "feedback": [
                {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-06-30T09:15:00Z",
                 "overrideReason": {"reason": reason, "userComment": "discussed last week"}},
                {"card": other["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-06-30T09:16:30.5+02:00",
                 "acceptedSuggestions": [{"id": other["suggestions"][0]["uuid"]}]},
            ]
        }  # fmt: skip
        assert feedback_problems(body) == []
        response = client.post(f"{SERVICE}/feedback", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2}
    store = FeedbackStore(f"sqlite:///{tmp_path / 'trialmatch.db'}")
    try:
        (overridden,) = store.for_card(card["uuid"])
        (accepted,) = store.for_card(other["uuid"])
    finally:
        store.close()
    assert overridden.outcome == "overridden" and overridden.service == "trialmatch-nct07161193"
    assert (overridden.override_system, overridden.override_code, overridden.override_display) == (
        reason["system"], reason["code"], reason["display"])  # fmt: skip
    assert overridden.user_comment == "discussed last week"
    assert overridden.outcome_timestamp.replace(tzinfo=None).isoformat() == "2026-06-30T09:15:00"
    assert accepted.outcome == "accepted" and accepted.accepted_suggestions == other["suggestions"][0]["uuid"]
    assert accepted.override_code is None


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"outcome": "accepted"}, "cds-fb-2"),
        ({"outcome": "overridden", "overrideReason": {}}, "cds-fb-3"),
        ({"outcome": "ignored"}, "outcome"),
        ({"outcome": "overridden", "outcomeTimestamp": None}, "outcomeTimestamp"),
        ({"outcome": "overridden", "outcomeTimestamp": "2026-06-30T09:15:00"}, "outcomeTimestamp"),  # no zone
        ({"outcome": "overridden", "card": "card-1"}, "card"),
    ],
)
def test_feedback_outside_the_model_is_400_and_not_stored(tmp_path: Path, entry: dict[str, Any], where: str) -> None:
    card = str(uuid.uuid4())
    body = {"feedback": [{"card": card, "outcomeTimestamp": "2026-06-30T09:15:00Z", **entry}]}
    body["feedback"][0] = {k: v for k, v in body["feedback"][0].items() if v is not None}
    with make_client(tmp_path) as client:
        response = client.post(f"{SERVICE}/feedback", json=body)
        assert client.post(f"{SERVICE}/feedback", json={"feedback": []}).status_code == 400
    assert response.status_code == 400, response.text
    assert where in outcome(response)["diagnostics"]
    store = FeedbackStore(f"sqlite:///{tmp_path / 'trialmatch.db'}")
    try:
        assert store.for_card(card) == []
    finally:
        store.close()


# -- the page the card links to -----------------------------------------------------------------------------


def test_the_cards_link_opens_the_patients_page(client: TestClient) -> None:
    pid = patient_id("sle_pga_missing.json")
    (card,) = cards_for(client, hook_request(pid, prefetch_of("sle_pga_missing.json")))
    url = urlsplit(card["links"][0]["url"])
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'id="p-{pid}"' in page.text
    assert "NCT07161193" in page.text and "sle-pga" in page.text
    assert client.get("/patients/no-such-patient/page").status_code == 404


def test_the_page_link_uses_the_public_url(tmp_path: Path) -> None:
    with make_client(tmp_path, public_url="https://trialmatch.example.org/") as client:
        pid = patient_id("sle_eligible.json")
        (card,) = cards_for(client, hook_request(pid, prefetch_of("sle_eligible.json")))
    assert card["links"][0]["url"] == f"https://trialmatch.example.org/patients/{pid}/page?as_of=2026-06-30"


def test_the_openapi_document_describes_the_cds_routes_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/cds-services", SERVICE, f"{SERVICE}/feedback", "/patients/{patient_id}/page"} <= set(paths)
    assert "412" in paths[SERVICE]["post"]["responses"]
    schemas = spec["components"]["schemas"]
    assert schemas["CdsRequest"]["examples"] and schemas["FeedbackRequest"]["examples"]
    # the documented examples are themselves valid 2.0 bodies
    assert all(request_problems(e) == [] for e in schemas["CdsRequest"]["examples"])
    assert all(feedback_problems(e) == [] for e in schemas["FeedbackRequest"]["examples"])
    assert all(response_problems(e) == [] for e in schemas["CardsOut"]["examples"])
    discovery = paths["/cds-services"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert services_problems(discovery) == [] and discovery == client.get("/cds-services").json()


# -- who may call: discovery is open, the service and its feedback take the CDS client's JWT ---------------


def test_discovery_is_open_and_the_service_needs_a_cds_jwt(tmp_path: Path) -> None:
    ehr = Issuer("https://ehr.example.org")
    public = "https://trialmatch.example.org"
    with jwks_server() as keys:
        jwks = keys.publish("/ehr/jwks", ehr)
        settings = Settings(
            _env_file=None, work_dir=tmp_path, public_url=public, cds_clients={ehr.url: CdsClient(jwks_url=jwks)}
        )
        with TestClient(create_app(settings, today=lambda: AS_OF)) as client:
            assert client.get("/cds-services").status_code == 200
            pid = patient_id("sle_eligible.json")
            body = hook_request(pid, prefetch_of("sle_eligible.json"))
            assert client.post(SERVICE, json=body).status_code == 401
            signed = {"Authorization": f"Bearer {ehr.token(sub='ehr-client', aud=public + SERVICE)}"}
            response = client.post(SERVICE, json=body, headers=signed)
            assert response.status_code == 200, response.text
            (card,) = response.json()["cards"]
            entry = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-06-30T09:15:00Z"}
            feedback = {"feedback": [entry]}
            assert client.post(f"{SERVICE}/feedback", json=feedback).status_code == 401
            signed = {"Authorization": f"Bearer {ehr.token(sub='ehr-client', aud=public + SERVICE + '/feedback')}"}
            assert client.post(f"{SERVICE}/feedback", json=feedback, headers=signed).status_code == 200
            assert client.get(f"/patients/{pid}/page", headers=signed).status_code == 401  # not a REST caller
    store = FeedbackStore(settings.database)
    try:
        (row,) = store.for_card(card["uuid"])
    finally:
        store.close()
    assert row.client == ehr.url


@pytest.mark.parametrize("pid", [".", ".."])
def test_a_dot_patient_id_is_refused_before_the_fhir_server_is_asked(
    tmp_path: Path, ehr_server: tuple[str, type[_Recorder]], pid: str
) -> None:
    # '..' passed the id pattern and six searches went out with the client's token before the refusal
    base, handler = ehr_server
    before = len(handler.seen)
    with make_client(tmp_path, cds_fhir_servers=base) as client:
        response = client.post(
            SERVICE,
            json={**hook_request("p1", fhirServer=base), "context": {"userId": "Practitioner/x", "patientId": pid}},
        )
    assert response.status_code == 400 and "not a FHIR resource id" in outcome(response)["diagnostics"]
    assert len(handler.seen) == before

"""A MatchResult as FHIR R4 resources (ResearchStudy, ResearchSubject, Parameters in a Bundle), validated with
fhir.resources, and the content negotiation that chooses it over the MatchResult JSON."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, get_args

import orjson
from fastapi import Request
from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.researchstudy import ResearchStudy
from fhir.resources.R4B.researchsubject import ResearchSubject
from pydantic import BaseModel, ValidationError

from matcher.outcome import MatchResult
from matcher.serialize import result_json
from matcher.trial import COHORTS, TRIAL_ID

FHIR_JSON = "application/fhir+json"
#: the identifier system of ClinicalTrials.gov registrations (as MITRE's matching services write it)
NCT_SYSTEM = "http://clinicaltrials.gov"
PHASE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-phase"
#: the trial's phase (ClinicalTrials.gov: PHASE1/PHASE2) and status (NOT_YET_RECRUITING), as R4 codes
TRIAL_PHASE = "phase-1-phase-2"
TRIAL_STATUS = "approved"
TRIAL_TITLE = "Anti-CD19 Chimeric Antigen Receptor T Cells for Refractory Autoimmune Diseases"
#: ResearchSubject.status by verdict: a possible candidate is a `candidate` until the chart is read
SUBJECT_STATUS = {"eligible": "eligible", "possibly_eligible": "candidate", "ineligible": "ineligible"}
#: a namespace for the Bundle's urn:uuid full URLs, so the same result always gives the same Bundle
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:trialmatch")
_MODELS: dict[str, type[BaseModel]] = {
    "Bundle": Bundle,
    "Parameters": Parameters,
    "ResearchStudy": ResearchStudy,
    "ResearchSubject": ResearchSubject,
}


class InvalidOutputError(RuntimeError):
    """trialmatch built a resource that is not valid FHIR R4: a bug (answered 500, never sent)."""


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource`, once fhir.resources has validated it (a Bundle's entries each with their own model) and its
    codes are checked against their required value sets (which fhir.resources lists but does not enforce)."""
    kind = resource["resourceType"]
    try:
        _MODELS[kind].model_validate(resource)
        _codes_in(_MODELS[kind], resource, kind)
        for entry in resource.get("entry", ()):
            inner = entry.get("resource")
            if inner is None:
                continue
            _MODELS[inner["resourceType"]].model_validate(inner)
            _codes_in(_MODELS[inner["resourceType"]], inner, inner["resourceType"])
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        raise InvalidOutputError(f"{kind} built invalid: {where}: {err['msg']}") from None
    return resource


def _codes_in(model: type[BaseModel], value: dict[str, Any], where: str) -> None:
    """Raise InvalidOutputError when a code element holds a code outside its element's enumerated values."""
    for field in model.model_fields.values():
        name = field.alias or ""
        if name not in value or name == "resource":  # a contained resource is checked with its own model
            continue
        items = value[name] if isinstance(value[name], list) else [value[name]]
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        allowed = extra.get("enum_values")
        if isinstance(allowed, list) and any(isinstance(i, str) and i not in allowed for i in items):
            raise InvalidOutputError(f"{where}.{name}: a code outside {', '.join(map(str, allowed))}")
        inner = _model_of(field.annotation)
        for item in items:
            if inner is not None and isinstance(item, dict):
                _codes_in(inner, item, f"{where}.{name}")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside an annotation such as `typing.List[BundleEntryType] | None`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    klass = getattr(annotation, "get_model_klass", None)  # fhir.resources' abstract element types
    if callable(klass):
        found = klass()
        return found if isinstance(found, type) and issubclass(found, BaseModel) else None
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '|'.join(parts))}"


@cache
def _study() -> dict[str, Any]:
    return checked(
        {
            "resourceType": "ResearchStudy",
            "id": TRIAL_ID.lower(),
            "identifier": [{"use": "official", "system": NCT_SYSTEM, "value": TRIAL_ID}],
            "title": TRIAL_TITLE,
            "status": TRIAL_STATUS,
            "phase": {"coding": [{"system": PHASE_SYSTEM, "code": TRIAL_PHASE, "display": "Phase 1/Phase 2"}]},
            "condition": [{"text": cohort.title} for cohort in COHORTS],
            "description": "Anti-CD19 CAR-T cells for seven refractory autoimmune diseases: SLE, idiopathic "
            "inflammatory myopathy, systemic sclerosis, pemphigus, plaque psoriasis, rheumatoid arthritis and "
            "ANCA-associated vasculitis.",
            "keyword": [{"text": "CD19 CAR-T"}, {"text": "refractory autoimmune disease"}],
        }
    )


def research_study() -> dict[str, Any]:
    """The trial as a validated ResearchStudy (NCT identifier, title, phase, status, the seven conditions)."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(_study()))  # callers may add to it
    return copy


def _criterion(c: dict[str, Any]) -> dict[str, Any]:
    part: list[dict[str, Any]] = [
        {"name": "id", "valueCode": c["id"]},
        {"name": "kind", "valueCode": c["kind"]},
        {"name": "status", "valueCode": c["status"]},
    ]
    if c.get("review"):
        part.append({"name": "review", "valueCode": c["review"]})
    if c.get("reason"):
        part.append({"name": "reason", "valueString": c["reason"]})
    for e in c["evidence"]:
        part.append({"name": "evidence", "valueReference": {"reference": e["reference"]} | _display(e)})
    return {"name": "criterion", "part": part}


def _display(evidence: dict[str, Any]) -> dict[str, str]:
    """What the evidence said and when, as the reference's display ("135 U/L (2026-10-02)")."""
    value, day = evidence.get("value"), evidence.get("date")
    text = str(value or day or "")
    if value and day and str(day) not in str(value):
        text = f"{value} ({day})"
    return {"display": text} if text else {}


def _missing(m: dict[str, Any]) -> dict[str, Any]:
    part: list[dict[str, Any]] = [{"name": "criterion", "valueCode": m["criterion"]}]
    if m.get("need"):
        part.append({"name": "need", "valueString": m["need"]})
    part += [{"name": "code", "valueCoding": {"system": c["system"], "code": c["code"]}} for c in m["codes"]]
    if m.get("review"):
        part.append({"name": "review", "valueCode": m["review"]})
    return {"name": "missing", "part": part}


def result_bundle(result: MatchResult) -> dict[str, Any]:
    """The result as a validated `collection` Bundle: the trial's ResearchStudy, the patient's ResearchSubject
    (status by verdict) and a Parameters with the verdict, cohort, score, each criterion (id, kind, status,
    review, reason, evidence references) and the worklist."""
    out = result_json(result)
    study_url = urn("ResearchStudy", TRIAL_ID)
    subject_url = urn("ResearchSubject", TRIAL_ID, result.patient)
    params_url = urn("Parameters", TRIAL_ID, result.patient, out["as_of"])
    subject = {
        "resourceType": "ResearchSubject",
        "id": subject_url.rsplit(":", 1)[1],
        "status": SUBJECT_STATUS[result.verdict],
        "study": {"reference": study_url, "display": TRIAL_ID},
        "individual": {"reference": result.patient},
    }
    parameter: list[dict[str, Any]] = [
        {"name": "trial", "valueIdentifier": {"system": NCT_SYSTEM, "value": TRIAL_ID}},
        {"name": "patient", "valueReference": {"reference": result.patient}},
        {"name": "subject", "valueReference": {"reference": subject_url}},
        {"name": "asOf", "valueDate": out["as_of"]},
        {"name": "verdict", "valueCode": result.verdict},
        {"name": "score", "valueDecimal": result.score},
    ]
    if result.cohort:
        parameter.append({"name": "cohort", "valueCode": result.cohort})
    parameter += [_criterion(c) for c in out["criteria"]]
    parameter += [_missing(m) for m in out["missing"]]
    params = {"resourceType": "Parameters", "id": params_url.rsplit(":", 1)[1], "parameter": parameter}
    return checked(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": study_url, "resource": research_study()},
                {"fullUrl": subject_url, "resource": subject},
                {"fullUrl": params_url, "resource": params},
            ],
        }
    )


def wants_fhir(accept: str | None) -> bool:
    """True when the Accept header prefers application/fhir+json to application/json (by q; a tie, `*/*` or no
    header keeps the MatchResult JSON)."""
    fhir = plain = 0.0
    for item in (accept or "").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for p in params:
            key, _, value = p.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == FHIR_JSON:
            fhir = max(fhir, q)
        elif media in ("application/json", "application/*", "*/*"):
            plain = max(plain, q)
    return fhir > plain


def match_response(request: Request, result: MatchResult, headers: dict[str, str] | None = None) -> Response:
    """The MatchResult JSON (the contract), or its FHIR Bundle when the caller's Accept prefers FHIR."""
    vary = {"Vary": "Accept"} | (headers or {})
    if wants_fhir(request.headers.get("accept")):
        return Response(orjson.dumps(result_bundle(result)), media_type=FHIR_JSON, headers=vary)
    return Response(orjson.dumps(result_json(result)), media_type="application/json", headers=vary)


#: the OpenAPI description of the FHIR answer, merged into the match routes' 200 response
FHIR_RESULT: dict[str, Any] = {
    "content": {
        FHIR_JSON: {
            "schema": {
                "type": "object",
                "description": "with `Accept: application/fhir+json`: a FHIR R4 collection Bundle of the trial's "
                "ResearchStudy, the patient's ResearchSubject (status eligible, candidate or ineligible) and a "
                "Parameters with the verdict, cohort, score, each criterion and the worklist",
                "required": ["resourceType", "type", "entry"],
                "properties": {"resourceType": {"const": "Bundle"}, "type": {"const": "collection"}},
            },
            "example": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:5b0c3c5e-0d5f-5a57-9d0b-6b1d1a0c2f31",
                        "resource": {
                            "resourceType": "ResearchStudy",
                            "id": "nct07161193",
                            "identifier": [{"use": "official", "system": NCT_SYSTEM, "value": TRIAL_ID}],
                            "title": TRIAL_TITLE,
                            "status": TRIAL_STATUS,
                        },
                    },
                    {
                        "fullUrl": "urn:uuid:0f9e4a8e-54a4-5b83-a3f3-1a4b1c9f7d11",
                        "resource": {
                            "resourceType": "ResearchSubject",
                            "id": "0f9e4a8e-54a4-5b83-a3f3-1a4b1c9f7d11",
                            "status": "candidate",
                            "study": {"reference": "urn:uuid:5b0c3c5e-0d5f-5a57-9d0b-6b1d1a0c2f31"},
                            "individual": {"reference": "Patient/123"},
                        },
                    },
                    {
                        "fullUrl": "urn:uuid:7d1c2b3a-4e5f-5a6b-8c9d-0e1f2a3b4c5d",
                        "resource": {
                            "resourceType": "Parameters",
                            "parameter": [
                                {"name": "verdict", "valueCode": "possibly_eligible"},
                                {"name": "score", "valueDecimal": 0.81},
                                {
                                    "name": "criterion",
                                    "part": [
                                        {"name": "id", "valueCode": "liver_function"},
                                        {"name": "kind", "valueCode": "exclusion"},
                                        {"name": "status", "valueCode": "pass"},
                                        {"name": "reason", "valueString": "ALT 35 U/L on 2026-10-02 is 0.9 x ULN"},
                                        {
                                            "name": "evidence",
                                            "valueReference": {
                                                "reference": "Observation/abc",
                                                "display": "35 U/L (2026-10-02)",
                                            },
                                        },
                                    ],
                                },
                            ],
                        },
                    },
                ],
            },
        }
    }
}

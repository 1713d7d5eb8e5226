"""CDS Hooks 2.0 wire shapes: the request, feedback and response bodies (from the HL7 logical models)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

#: a FHIR logical id (R4 id datatype)
FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"


class FhirAuthorization(BaseModel):
    """The OAuth 2.0 bearer token the CDS client grants for reading its FHIR server (never our own)."""

    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1, repr=False)
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = Field(None, pattern=FHIR_ID)


class PatientViewContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    userId: str = Field(min_length=1, examples=["Practitioner/123"])
    patientId: str = Field(pattern=FHIR_ID, examples=["0a42e90a-7166-5d28-aef9-c0c85e46e852"])
    encounterId: str | None = None


class CdsRequest(BaseModel):
    """A CDS Hooks 2.0 request (CDSHooksRequest) for the patient-view hook."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "hook": "patient-view",
                    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                    "fhirServer": "https://ehr.example.org/fhir",
                    "fhirAuthorization": {
                        "access_token": "<token issued by the EHR>",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "patient/*.read",
                        "subject": "trialmatch",
                        "patient": "0a42e90a-7166-5d28-aef9-c0c85e46e852",
                    },
                    "context": {"userId": "Practitioner/123", "patientId": "0a42e90a-7166-5d28-aef9-c0c85e46e852"},
                    "prefetch": {"patient": {"resourceType": "Patient", "id": "0a42e90a-7166-5d28-aef9-c0c85e46e852"}},
                }
            ]
        },
    )

    hook: Literal["patient-view"]
    hookInstance: UUID
    fhirServer: str | None = Field(None, pattern=r"^https?://", max_length=2000)
    fhirAuthorization: FhirAuthorization | None = None
    context: PatientViewContext
    prefetch: dict[str, dict[str, Any] | None] | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> CdsRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirAuthorization is given without fhirServer (cds-r-1)")
        return self


class Coding(BaseModel):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class OverrideReason(BaseModel):
    reason: Coding | None = None
    userComment: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _something(self) -> OverrideReason:
        if self.reason is None and not self.userComment:
            raise ValueError("an overrideReason needs a reason, a userComment, or both (cds-fb-3)")
        return self


class AcceptedSuggestion(BaseModel):
    id: UUID


class FeedbackEntry(BaseModel):
    card: UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackEntry:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted card names its acceptedSuggestions (cds-fb-2)")
        return self


class FeedbackRequest(BaseModel):
    """A CDS Hooks 2.0 feedback body (CDSHooksFeedback)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "feedback": [
                        {
                            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                            "outcome": "overridden",
                            "overrideReason": {
                                "reason": {
                                    "system": "urn:trialmatch:cds-override",
                                    "code": "patient-declined",
                                    "display": "Patient does not wish to take part in a trial",
                                },
                                "userComment": "discussed at the last visit",
                            },
                            "outcomeTimestamp": "2026-06-30T09:15:00Z",
                        }
                    ]
                }
            ]
        }
    )

    feedback: list[FeedbackEntry] = Field(min_length=1, max_length=100)


class FeedbackStored(BaseModel):
    stored: int = Field(description="feedback entries stored", examples=[1])


class ServiceOut(BaseModel):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class DiscoveryOut(BaseModel):
    services: list[ServiceOut]


class CardSourceOut(BaseModel):
    label: str
    url: str | None = None
    topic: Coding | None = None


class LinkOut(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"]


class SuggestionOut(BaseModel):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None


class CardOut(BaseModel):
    uuid: str
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: CardSourceOut
    suggestions: list[SuggestionOut] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[LinkOut] | None = None


class CardsOut(BaseModel):
    """A CDS Hooks 2.0 response (CDSHooksResponse): no card for an ineligible patient."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cards": [
                        {
                            "uuid": "9368d37b-283f-44a0-93ea-547cebab93ed",
                            "summary": "Possible candidate for NCT07161193 (SLE): 2 tests to order",
                            "detail": "**possibly eligible** · Systemic lupus erythematosus · score 0.86\n\n"
                            "**Tests to order**\n\n- HBsAg (LOINC 5196-1) result within 180 days: `LOINC 5196-1`",
                            "indicator": "info",
                            "source": {
                                "label": "trialmatch · NCT07161193",
                                "url": "https://clinicaltrials.gov/study/NCT07161193",
                            },
                            "links": [
                                {
                                    "label": "Eligibility, criterion by criterion (trialmatch)",
                                    "url": "https://trialmatch.example.org/patients/123/page?as_of=2026-06-30",
                                    "type": "absolute",
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    )

    cards: list[CardOut]

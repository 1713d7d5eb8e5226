"""Wire schemas of the API for the OpenAPI document; kept apart from the domain types they describe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EvidenceOut(BaseModel):
    reference: str = Field(description="the resource used, as Type/id", examples=["Observation/abc"])
    value: str | None = Field(None, description="the value as written", examples=["135 U/L"])
    date: str | None = Field(None, examples=["2026-10-02"])
    item: str | None = Field(None, description="analyte, score, value set or drug id from mappings/")
    code: str | None = Field(None, description="system|code that matched")
    display: str | None = None
    quantity: float | None = Field(None, description="value in the analyte's canonical unit")
    unit: str | None = None
    limit: float | None = Field(None, description="the limit compared with, in `unit`")
    limit_source: str | None = Field(None, description="reference_range | default | protocol")
    status: str | None = None


class FindingOut(BaseModel):
    message: str = Field(description="message id; the reason is rendered from it and its params")
    status: Literal["pass", "fail", "unknown", "review"] | None
    review: Literal["screening", "chart"] | None = Field(None, description="with status review: who settles it")
    params: dict[str, str | int | float | bool | None]
    text: str


class CriterionOut(BaseModel):
    id: str = Field(examples=["liver_function"])
    kind: Literal["inclusion", "exclusion"]
    status: Literal["pass", "fail", "unknown", "review"]
    review: Literal["screening", "chart"] | None = Field(
        None,
        description="only with status review: 'screening' (settled at the screening visit whatever the record"
        " says) or 'chart' (the record is ambiguous: read the chart before calling the patient in)",
    )
    reason: str
    evidence: list[EvidenceOut]
    findings: list[FindingOut]


class CodeOut(BaseModel):
    system: str
    code: str


class MissingOut(BaseModel):
    criterion: str
    need: str = Field(examples=["HBsAg (LOINC 5196-1) result within 180 days"])
    codes: list[CodeOut]
    review: Literal["chart"] | None = Field(None, description="'chart': a chart to read before calling the patient")
    message: str = Field(description="message id of the entry; `need` is rendered from it and its params")
    params: dict[str, str | int | float | bool | None]


class CohortOut(BaseModel):
    cohort: str
    statuses: dict[str, str]


class MatchResultOut(BaseModel):
    trial: Literal["NCT07161193"]
    patient: str = Field(examples=["Patient/123"])
    as_of: str = Field(examples=["2026-11-24"])
    verdict: Literal["eligible", "possibly_eligible", "ineligible"]
    cohort: Literal["sle", "iim", "ssc", "pemphigus", "psoriasis", "ra", "aav"] | None
    score: float = Field(ge=0, le=1)
    criteria: list[CriterionOut]
    missing: list[MissingOut]
    cohorts: list[CohortOut]
    notes: list[str]
    versions: dict[str, str]


class OperationOutcomeIssue(BaseModel):
    severity: str
    code: str
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcomeOut(BaseModel):
    resourceType: Literal["OperationOutcome"]
    issue: list[OperationOutcomeIssue]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    mappings: str

"""The result types of the core (Finding, Evidence, Need, CriterionResult, MatchResult) and Outcome, their builder.

`Outcome` collects one criterion's findings into its CriterionResult; it is the only outcome of the core. Elsewhere
the word keeps names published outside the code: FHIR's OperationOutcome (the API's error bodies, api/errors.py),
and a nightly run's per-patient states, which the summary counts as `outcomes` and the results table stores in
its `outcome` column (jobs/models.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from matcher.codes.model import Code

Status = Literal["pass", "fail", "unknown", "review"]
#: who settles a `review` and when: the screening visit whatever the record says, or a person who reads
#: the chart before the patient is called in (CONTRACT.md section 1)
ReviewKind = Literal["screening", "chart"]
Kind = Literal["inclusion", "exclusion"]
Verdict = Literal["eligible", "possibly_eligible", "ineligible"]
Param = str | int | float | None

#: how strongly a status weighs when several findings meet in one criterion
SEVERITY: dict[Status, int] = {"pass": 0, "review": 1, "unknown": 2, "fail": 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One statement behind a status: a message id (see explain.py) and its parameters."""

    message: str
    params: Mapping[str, Param] = field(default_factory=dict)
    status: Status | None = None  # None: context only, it does not move the status
    #: with status `review`: settled at the screening visit, or a chart to read first
    review: ReviewKind | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """A resource a decision used, with the values compared, as data."""

    reference: str
    value: str | None = None
    date: str | None = None
    item: str | None = None  # analyte, score, value set or drug id
    code: str | None = None  # "system|code" that matched
    display: str | None = None
    quantity: float | None = None  # in `unit`, the analyte's canonical unit
    unit: str | None = None
    limit: float | None = None  # the limit it was compared with, in `unit`
    limit_source: str | None = None  # reference_range | default | protocol
    status: str | None = None  # the resource's own status, where it has one


@dataclass(frozen=True, slots=True)
class Need:
    """A worklist entry: what would resolve an unknown criterion, with the codes to order or record."""

    message: str
    params: Mapping[str, Param] = field(default_factory=dict)
    codes: tuple[Code, ...] = ()
    #: kept on the worklist even when the criterion passes (e.g. the screening hCG)
    keep: bool = False


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str
    kind: Kind
    status: Status
    findings: tuple[Finding, ...]
    evidence: tuple[Evidence, ...] = ()
    needs: tuple[Need, ...] = ()
    cohort_specific: bool = False
    #: with status `review`: who settles it (see ReviewKind); None otherwise
    review: ReviewKind | None = None

    @property
    def chart_review(self) -> bool:
        """Someone must read the chart before the patient is called in."""
        return self.status == "review" and self.review != "screening"


@dataclass(frozen=True, slots=True)
class CohortSummary:
    """How one candidate cohort fared on its cohort-specific criteria."""

    cohort: str
    statuses: Mapping[str, Status]


@dataclass(frozen=True)
class MatchResult:
    """One patient against one trial as of a date: the verdict (CONTRACT.md section 1), the cohort that fits
    best, the score that ranks candidates within a verdict, every criterion's result in the protocol's reading
    order, how each candidate cohort fared, what was left out while reading (`notes`), and the versions."""

    trial: str
    patient: str
    as_of: date
    verdict: Verdict
    cohort: str | None
    score: float
    criteria: tuple[CriterionResult, ...]
    cohorts: tuple[CohortSummary, ...] = ()
    notes: tuple[str, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)

    def criterion(self, cid: str) -> CriterionResult:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)


class Outcome:
    """Collects the findings of one criterion; the status is the most severe finding's, unless set."""

    def __init__(self, cid: str, kind: Kind) -> None:
        self.cid, self.kind = cid, kind
        self.findings: list[Finding] = []
        self.evidence: list[Evidence] = []
        self.needs: list[Need] = []

    def say(self, status: Status | None, message: str, **params: Param) -> Outcome:
        """Add a finding; a `review` said here is a chart review (the record is ambiguous)."""
        self.findings.append(Finding(message, params, status, "chart" if status == "review" else None))
        return self

    def screening(self, message: str, **params: Param) -> Outcome:
        """Add a review that the protocol leaves to the screening visit, whatever the record says."""
        self.findings.append(Finding(message, params, "review", "screening"))
        return self

    def cite(self, *evidence: Evidence) -> Outcome:
        for item in evidence:
            if item not in self.evidence:
                self.evidence.append(item)
        return self

    def need(self, message: str, *codes: Code, keep: bool = False, **params: Param) -> Outcome:
        """Put what would resolve the criterion on the worklist (once: two findings may ask for the same)."""
        need = Need(message, params, codes, keep)
        if need not in self.needs:
            self.needs.append(need)
        return self

    @property
    def status(self) -> Status:
        statuses = [f.status for f in self.findings if f.status is not None]
        if not statuses:
            raise ValueError(f"criterion {self.cid} has no finding with a status")
        return max(statuses, key=SEVERITY.__getitem__)

    def first_of(self, *order: Status, default: Status) -> Status:
        """The first status in `order` that some finding has: for criteria that one good finding settles."""
        found = {f.status for f in self.findings}
        return next((s for s in order if s in found), default)

    def review_kind(self) -> ReviewKind:
        """A screening review only when every review finding is one; any doubt about the record is a chart."""
        kinds = {f.review for f in self.findings if f.status == "review"}
        return "screening" if kinds == {"screening"} else "chart"

    def result(self, status: Status | None = None, *, cohort_specific: bool = False) -> CriterionResult:
        final = status or self.status
        return CriterionResult(
            id=self.cid,
            kind=self.kind,
            status=final,
            findings=tuple(self.findings),
            evidence=tuple(self.evidence),
            # a settled criterion keeps only the needs meant to outlive it; unknown and review keep them all
            needs=tuple(n for n in self.needs if n.keep or final in ("unknown", "review")),
            cohort_specific=cohort_specific,
            review=self.review_kind() if final == "review" else None,
        )

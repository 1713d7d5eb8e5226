"""A criterion bound to what it reads: the decorators each criteria module puts on its criterion functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matcher.codes.model import Mappings
from matcher.criteria.cohort import Cohort
from matcher.criteria.context import Context
from matcher.criteria.reads import NOTHING, DeclaredMappings, Reads
from matcher.outcome import CriterionResult

GeneralJudge = Callable[[Context], CriterionResult]
CohortJudge = Callable[[Context, Cohort | None], CriterionResult]


@dataclass(frozen=True, eq=False)
class General:
    """A criterion judged once per patient; it sees only what `reads` declares."""

    judge: GeneralJudge
    reads: Reads
    #: mappings digest -> the view of mappings/ this criterion reads (the same mappings serve every patient)
    _views: dict[str, DeclaredMappings] = field(default_factory=dict, init=False, repr=False)

    @property
    def id(self) -> str:
        return self.judge.__name__

    def view(self, m: Mappings) -> DeclaredMappings:
        found = self._views.get(m.provenance.digest)
        if found is None:
            found = self._views[m.provenance.digest] = DeclaredMappings(m, self.reads, self.id)
        return found

    def __call__(self, ctx: Context) -> CriterionResult:
        return self.judge(Context(ctx.record, ctx.as_of, self.view(ctx.m.mappings)))


@dataclass(frozen=True, eq=False)
class PerCohort:
    """A criterion judged for each cohort under consideration; what it reads comes from the cohort's definition."""

    judge: CohortJudge
    reads: Callable[[Cohort], Reads]
    #: (mappings digest, id of the cohort) -> the cohort and the view of mappings/ this criterion reads for it
    _views: dict[tuple[str, int], tuple[Cohort | None, DeclaredMappings]] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def id(self) -> str:
        return self.judge.__name__

    def reads_for(self, cohort: Cohort | None) -> Reads:
        """Without a cohort the criterion has nothing to judge by, and reads nothing."""
        return NOTHING if cohort is None else self.reads(cohort)

    def view(self, m: Mappings, cohort: Cohort | None) -> DeclaredMappings:
        key = (m.provenance.digest, id(cohort))
        found = self._views.get(key)
        if found is None or found[0] is not cohort:
            found = self._views[key] = (cohort, DeclaredMappings(m, self.reads_for(cohort), self.id))
        return found[1]

    def __call__(self, ctx: Context, cohort: Cohort | None) -> CriterionResult:
        return self.judge(Context(ctx.record, ctx.as_of, self.view(ctx.m.mappings, cohort)), cohort)


def reads(declared: Reads = NOTHING) -> Callable[[GeneralJudge], General]:
    """Declare what a criterion judged once per patient reads."""

    def bind(judge: GeneralJudge) -> General:
        return General(judge, declared)

    return bind


def reads_per_cohort(declared: Callable[[Cohort], Reads]) -> Callable[[CohortJudge], PerCohort]:
    """Declare what a per-cohort criterion reads, as a function of the cohort's definition."""

    def bind(judge: CohortJudge) -> PerCohort:
        return PerCohort(judge, declared)

    return bind

"""Choosing the result that decides: the most recent usable one inside the look-back window, and why others were not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from matcher.codes.answers import Polarity, combine
from matcher.codes.model import AnalyteDef
from matcher.codes.units import convert, convert_between
from matcher.criteria.context import Context
from matcher.criteria.limits import Limit, reference_high
from matcher.outcome import Evidence, Param
from matcher.record import ObservationFact

#: Observation statuses whose value may decide (preliminary and registered results may still change)
USABLE_STATUSES = frozenset({"final", "amended", "corrected", "appended"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unusable:
    """Why a result cannot decide (no unit, preliminary, out of range ...): a reason id of explain.REASONS
    and its parameters."""

    why: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def as_params(self) -> dict[str, Param]:
        """The reason as parameters of the finding that reports it: `why` its id, `why_<name>` its parameters."""
        return {"why": self.why, **{f"why_{key}": value for key, value in self.params.items()}}


@dataclass(frozen=True, slots=True)
class Bound:
    """A result reported as a bound ('>500', '<15'): the true value lies beyond `value` in that direction."""

    value: float
    comparator: str

    @property
    def above(self) -> bool:
        return self.comparator in (">", ">=")


@dataclass(frozen=True, slots=True)
class Usable(Generic[T]):
    fact: ObservationFact
    value: T


@dataclass(frozen=True)
class Pick(Generic[T]):
    """What the record offers for one analyte or score as of as_of."""

    item: str
    window: int
    chosen: Usable[T] | None
    #: results that could not be used although they may be the latest (newer than the chosen one,
    #: undated, or dated too imprecisely to place), with why
    passed_over: tuple[tuple[ObservationFact, Unusable], ...]
    #: every usable result inside the window, newest first (the chosen one included)
    usable: tuple[Usable[T], ...]
    #: the newest result older than the window, when nothing inside it was usable
    stale: ObservationFact | None


def pick(ctx: Context, item: str, window: int, read: Callable[[ObservationFact], T | Unusable]) -> Pick[T]:
    """Walk the item's results newest first; `read` returns the usable value or why it is not usable."""
    start = ctx.window_start(window)
    passed: list[tuple[ObservationFact, Unusable]] = []
    usable: list[Usable[T]] = []
    stale = None
    for fact in ctx.results(item, window):
        when = fact.when
        if when is None:
            passed.append((fact, Unusable("unusable.undated")))  # it could be the latest: always worth a look
            continue
        if when.lo > ctx.as_of:
            continue  # after as_of: not part of the record on that day
        if when.hi < start:
            if not usable and stale is None:
                stale = fact  # the newest result before the window
            continue
        why: Unusable | T
        if when.hi > ctx.as_of or when.lo < start:
            why = Unusable("unusable.imprecise_date", {"date": str(when), "window": window})
        else:
            why = read(fact)
        if isinstance(why, Unusable):
            if not usable:
                passed.append((fact, why))
        else:
            usable.append(Usable(fact, why))
    return Pick(item, window, usable[0] if usable else None, tuple(passed), tuple(usable), stale)


def _common(fact: ObservationFact) -> Unusable | None:
    if fact.status not in USABLE_STATUSES:
        return Unusable("unusable.status", {"status": fact.status}) if fact.status else Unusable("unusable.no_status")
    if fact.absent_reason:
        return Unusable("unusable.absent", {"reason": fact.absent_reason})
    return None


def read_quantity(
    ctx: Context, analyte: str, *, bounds: bool = False
) -> Callable[[ObservationFact], float | Bound | Unusable]:
    """A reader giving the value in the analyte's canonical unit, or why it cannot.

    With `bounds`, a value written with a comparator ('>500 U/L') is usable as a Bound: the criterion
    decides whether the bound settles its question. Without, only exact values are usable.
    """
    definition = ctx.m.analytes[analyte]

    def read(fact: ObservationFact) -> float | Bound | Unusable:
        why = _common(fact)
        if why:
            return why
        q = fact.quantity
        if q is None:
            return Unusable("unusable.no_number")
        if q.unit is None:
            if q.written_unit:
                return Unusable("unusable.unknown_unit", {"unit": q.written_unit})
            return Unusable("unusable.no_unit")
        value = convert(definition, q.value, q.unit)
        if value is None:
            return Unusable("unusable.unit_not_convertible", {"unit": q.unit, "canonical": definition.unit})
        implausible = _implausible(definition, value)
        if implausible:
            return implausible
        if q.comparator in (">", ">=", "<", "<="):
            return Bound(value, q.comparator) if bounds else Unusable("unusable.not_exact", {"value": str(q)})
        return value

    return read


def read_exact(ctx: Context, analyte: str) -> Callable[[ObservationFact], float | Unusable]:
    """Exact values only (for calculations such as Cockcroft-Gault)."""
    inner = read_quantity(ctx, analyte)

    def read(fact: ObservationFact) -> float | Unusable:
        value = inner(fact)
        if isinstance(value, Bound):  # read_quantity without `bounds` gives none; the type checker cannot know
            return Unusable("unusable.not_exact", {"value": str(fact.quantity)})
        return value

    return read


def _implausible(definition: AnalyteDef, value: float) -> Unusable | None:
    if definition.plausible is None:
        return None
    low, high = definition.plausible
    if low <= value <= high:
        return None
    return Unusable("unusable.implausible", {"value": value, "unit": definition.unit})


def read_score(ctx: Context, score: str) -> Callable[[ObservationFact], float | tuple[str, ...] | Unusable]:
    """A reader for disease-activity scores: a number inside the instrument's range, or BILAG grades."""
    definition = ctx.m.scores[score]

    def read(fact: ObservationFact) -> float | tuple[str, ...] | Unusable:
        why = _common(fact)
        if why:
            return why
        if definition.value == "grades":
            return fact.grades or Unusable("unusable.no_grades")
        q = fact.quantity
        if q is None:
            return Unusable("unusable.no_number")
        if q.comparator:
            return Unusable("unusable.not_exact", {"value": str(q)})
        # the score's id names it in any language; its title from mappings/ is what the English text shows
        score = {"item": definition.id, "title": definition.title}
        if q.unit is not None and q.unit not in definition.units:
            return Unusable("unusable.score_unit", {"unit": q.unit, **score})
        if q.unit is None and q.written_unit and q.written_unit not in definition.units:
            return Unusable("unusable.score_written_unit", {"unit": q.written_unit, **score})
        low = definition.min if definition.min is not None else float("-inf")
        high = definition.max if definition.max is not None else float("inf")
        if not low <= q.value <= high:
            # open bounds travel as None: JSON has no infinity
            return Unusable(
                "unusable.out_of_range", {"value": q.value, "low": definition.min, "high": definition.max, **score}
            )
        return q.value

    return read


def read_polarity(ctx: Context, analyte: str) -> Callable[[ObservationFact], Polarity | Unusable]:
    """A reader for qualitative results: positive, negative or indeterminate, from every part that says so."""
    definition = ctx.m.analytes[analyte]
    answers = ctx.m.answers

    def read(fact: ObservationFact) -> Polarity | Unusable:
        why = _common(fact)
        if why:
            return why
        from_value = answers.of_codes(fact.value_codes) or answers.of_text(fact.value_text)
        from_interpretation = answers.of_codes(fact.interpretation)
        from_number = _number_polarity(ctx, fact, definition)
        # a number that leaves it open ('<15 IU/mL', below the quantification limit) does not contradict
        # a laboratory's 'detected' or 'not detected'; a number that settles it is weighed with them
        if from_number == "indeterminate" and (from_value or from_interpretation):
            from_number = None
        found = combine(from_value, from_interpretation, from_number)
        if found is None:
            if fact.quantity is not None and fact.quantity.unit is None and not fact.ranges:
                return Unusable("unusable.unitless_number")
            return Unusable("unusable.no_polarity")
        return found

    return read


def _number_polarity(ctx: Context, fact: ObservationFact, definition: AnalyteDef) -> Polarity | None:
    """A number against the analyte's detection cut-off (viral loads, hCG), else the result's own range."""
    q = fact.quantity
    if q is None:
        return None
    canonical = convert(definition, q.value, q.unit)
    if definition.positive_above is not None and canonical is not None:
        # 'detectable' means above the detection cut-off, whatever range the laboratory prints
        return _against(canonical, q.comparator, definition.positive_above)
    high = reference_high(ctx, fact).high
    if high is None:
        return None
    if high.unit == q.unit:
        return _against(q.value, q.comparator, high.value)
    if high.unit and q.unit:
        cutoff = convert_between(definition, high.value, high.unit, q.unit)
        return None if cutoff is None else _against(q.value, q.comparator, cutoff)
    return None


def _against(value: float, comparator: str | None, cutoff: float) -> Polarity:
    """Positive when the true value is above the cut-off; indeterminate when the comparator leaves it open."""
    if comparator in ("<", "<="):
        return "negative" if value <= cutoff else "indeterminate"
    if comparator == ">":
        return "positive" if value >= cutoff else "indeterminate"
    if comparator == ">=":
        return "positive" if value > cutoff else "indeterminate"
    return "positive" if value > cutoff else "negative"


def fmt(value: float, unit: str | None = None) -> str:
    """A number as a person writes it: no trailing zeros, at most 3 significant decimals."""
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if "e" in text:
        text = f"{value:.0f}"
    return f"{text} {unit}" if unit else text


def shown(fact: ObservationFact) -> str:
    """The value of a result as a person reads it: the quantity, the answer's display, or the grades."""
    if fact.grades:
        return " ".join(fact.grades)
    if fact.quantity is not None:
        return str(fact.quantity)
    return fact.value_display or (fact.value_codes[0].code if fact.value_codes else "no value")


def observation_evidence(
    fact: ObservationFact,
    *,
    value: float | None = None,
    unit: str | None = None,
    limit: Limit | None = None,
    limit_value: float | None = None,
) -> Evidence:
    """Evidence for one result: as written, plus the canonical value and the limit it was held to."""
    return Evidence(
        reference=fact.ref,
        value=shown(fact),
        date=str(fact.when) if fact.when else None,
        item=fact.item,
        code=str(fact.code),
        display=fact.label,
        quantity=None if value is None else round(value, 4),
        unit=unit,
        limit=limit_value if limit_value is not None else (round(limit.value, 4) if limit else None),
        limit_source=limit.source if limit else ("protocol" if limit_value is not None else None),
        status=fact.status,
    )

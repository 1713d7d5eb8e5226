"""Choosing the result that decides: the most recent usable one inside the look-back window, and why others were not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from matcher.codes.answers import Polarity, combine
from matcher.codes.model import Code
from matcher.codes.units import convert, convert_between
from matcher.criteria.context import Context
from matcher.outcome import Evidence
from matcher.record import ObservationFact, Quantity

#: Observation statuses whose value may decide (preliminary and registered results may still change)
USABLE_STATUSES = frozenset({"final", "amended", "corrected", "appended"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unusable:
    """Why a result cannot decide (no unit, preliminary, out of range ...)."""

    why: str


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
    #: results inside the window that could not be used (newer than the chosen one), with why
    passed_over: tuple[tuple[ObservationFact, str], ...]
    #: every usable result inside the window, newest first (the chosen one included)
    usable: tuple[Usable[T], ...]
    #: the newest result older than the window, when nothing inside it was usable
    stale: ObservationFact | None


def pick(ctx: Context, item: str, window: int, read: Callable[[ObservationFact], T | Unusable]) -> Pick[T]:
    """Walk the item's results newest first; `read` returns the usable value or why it is not usable."""
    start = ctx.window_start(window)
    passed: list[tuple[ObservationFact, str]] = []
    usable: list[Usable[T]] = []
    stale = None
    for fact in ctx.record.results(item):
        if fact.when is None:
            if not usable:
                passed.append((fact, "it has no date"))
            continue
        if fact.when.lo > ctx.as_of:
            continue  # after as_of: not part of the record on that day
        if fact.when.lo < start:
            if not usable and stale is None:
                stale = fact
            break
        value = read(fact)
        if isinstance(value, Unusable):
            if not usable:
                passed.append((fact, value.why))
        else:
            usable.append(Usable(fact, value))
    return Pick(item, window, usable[0] if usable else None, tuple(passed), tuple(usable), stale)


def _common(fact: ObservationFact) -> Unusable | None:
    if fact.status not in USABLE_STATUSES:
        return Unusable(f"its status is {fact.status or 'missing'}")
    if fact.absent_reason:
        return Unusable(f"it has no value ({fact.absent_reason})")
    return None


def read_quantity(ctx: Context, analyte: str) -> Callable[[ObservationFact], float | Unusable]:
    """A reader giving the value in the analyte's canonical unit, or why it cannot."""
    definition = ctx.m.analytes[analyte]

    def read(fact: ObservationFact) -> float | Unusable:
        why = _common(fact)
        if why:
            return why
        q = fact.quantity
        if q is None:
            return Unusable("it has no numeric value")
        if q.unit is None:
            return Unusable(
                f"its unit {q.written_unit!r} is not a known UCUM unit" if q.written_unit else "it has no unit"
            )
        value = convert(definition, q.value, q.unit)
        if value is None:
            return Unusable(f"its unit {q.unit} cannot be converted to {definition.unit}")
        if q.comparator in (">", ">=", "<", "<="):
            return Unusable(f"it is not an exact value ({q})")
        return value

    return read


def read_score(ctx: Context, score: str) -> Callable[[ObservationFact], float | tuple[str, ...] | Unusable]:
    """A reader for disease-activity scores: a number inside the instrument's range, or BILAG grades."""
    definition = ctx.m.scores[score]

    def read(fact: ObservationFact) -> float | tuple[str, ...] | Unusable:
        why = _common(fact)
        if why:
            return why
        if definition.value == "grades":
            return fact.grades or Unusable("it holds no BILAG grades (A-E)")
        q = fact.quantity
        if q is None:
            return Unusable("it has no numeric value")
        if q.comparator:
            return Unusable(f"it is not an exact value ({q})")
        if q.unit is not None and q.unit not in definition.units:
            return Unusable(f"its unit {q.unit} is not a unit of {definition.title}")
        if q.unit is None and q.written_unit and q.written_unit not in definition.units:
            return Unusable(f"its unit {q.written_unit!r} is not a unit of {definition.title}")
        low = definition.min if definition.min is not None else float("-inf")
        high = definition.max if definition.max is not None else float("inf")
        if not low <= q.value <= high:
            return Unusable(f"{q.value:g} is outside the range of {definition.title} ({low:g}-{high:g})")
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
        from_number = _number_polarity(fact, definition.factors, definition.positive_above)
        found = combine(from_value, from_interpretation, from_number)
        if found is None:
            if fact.quantity is not None and fact.quantity.unit is None and fact.ref_high is None:
                return Unusable("its numeric value has no unit and no reference range to read it against")
            return Unusable("it cannot be read as positive or negative")
        return found

    return read


def _number_polarity(fact: ObservationFact, factors: dict[str, float], positive_above: float | None) -> Polarity | None:
    q = fact.quantity
    if q is None:
        return None
    cutoff: float | None = None
    value = q.value
    high = fact.ref_high
    if high is not None and high.unit == q.unit:
        cutoff = high.value
    elif high is not None and high.unit and q.unit:
        cutoff = convert_between(factors, high.value, high.unit, q.unit)
    if cutoff is None and positive_above is not None and q.unit is not None and q.unit in factors:
        value, cutoff = value * factors[q.unit], positive_above
    if cutoff is None:
        return None
    return _against(value, q.comparator, cutoff)


def _against(value: float, comparator: str | None, cutoff: float) -> Polarity:
    """Positive when the true value is above the cut-off; indeterminate when the comparator leaves it open."""
    if comparator in ("<", "<="):
        return "negative" if value <= cutoff else "indeterminate"
    if comparator == ">":
        return "positive" if value >= cutoff else "indeterminate"
    if comparator == ">=":
        return "positive" if value > cutoff else "indeterminate"
    return "positive" if value > cutoff else "negative"


# -- limits ----------------------------------------------------------------------------------------

Source = Literal["reference_range", "default"]


@dataclass(frozen=True, slots=True)
class Limit:
    value: float  # in the analyte's canonical unit
    source: Source
    note: str | None = None  # why the reference range was not used, when it was not


def upper_limit(ctx: Context, analyte: str, fact: ObservationFact) -> Limit:
    """The result's own referenceRange.high when usable, else the default ULN for the patient's sex."""
    definition = ctx.m.analytes[analyte]
    high = fact.ref_high
    note = None
    if high is not None:
        converted = convert(definition, high.value, high.unit) if high.unit else None
        if converted is not None and converted > 0:
            return Limit(converted, "reference_range")
        note = "its reference range has no usable unit" if converted is None else "its reference range is not positive"
    default = ctx.m.uln[analyte]
    value = convert(definition, default.for_sex(ctx.record.patient.sex), default.unit)
    assert value is not None  # the loader checked that the unit converts
    return Limit(value, "default", note)


def fmt(value: float, unit: str | None = None) -> str:
    """A number as a person writes it: no trailing zeros, at most 3 significant decimals."""
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if "e" in text:
        text = f"{value:.0f}"
    return f"{text} {unit}" if unit else text


def observation_evidence(
    fact: ObservationFact,
    *,
    value: float | None = None,
    unit: str | None = None,
    limit: Limit | None = None,
    limit_value: float | None = None,
) -> Evidence:
    """Evidence for one result: as written, plus the canonical value and the limit it was held to."""
    written = str(fact.quantity) if fact.quantity is not None else (fact.value_text or _code_text(fact.value_codes))
    if fact.grades:
        written = " ".join(fact.grades)
    return Evidence(
        reference=fact.ref,
        value=written or None,
        date=str(fact.when) if fact.when else None,
        item=fact.item,
        code=str(fact.code),
        display=fact.label,
        quantity=value,
        unit=unit,
        limit=limit_value if limit_value is not None else (limit.value if limit else None),
        limit_source=limit.source if limit else ("protocol" if limit_value is not None else None),
        status=fact.status,
    )


def _code_text(codes: tuple[Code, ...]) -> str:
    return codes[0].code if codes else ""


def written(q: Quantity | None) -> str:
    return str(q) if q is not None else "(no value)"

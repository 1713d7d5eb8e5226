"""Upper limits of normal: the result's own reference range for this patient's sex and age, else the default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from matcher.codes.model import AnalyteDef, Sex, SexLimit
from matcher.codes.units import convert
from matcher.criteria.context import Context
from matcher.errors import MappingError
from matcher.record import ObservationFact, Quantity, RefRange

Fit = Literal["yes", "no", "unsure"]
Source = Literal["reference_range", "default"]


@dataclass(frozen=True, slots=True)
class RangeChoice:
    """The reference range that surely applies to the patient, and those that may apply instead."""

    high: Quantity | None
    #: upper limits of ranges that may or may not apply (an age or a group that cannot be placed)
    maybe: tuple[Quantity, ...] = ()
    #: why its own range was not simply used: a reason id of explain.REASONS
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    value: float  # in the analyte's canonical unit; the strictest candidate when unsure
    source: Source
    note: str | None = None  # why the reference range was not used, when it was not: a reason id of explain.REASONS
    #: the most lenient limit that may apply instead, when it is not certain which range is the patient's
    loosest: float | None = None


def reference_high(ctx: Context, fact: ObservationFact) -> RangeChoice:
    """The result's own upper limit for this patient: a range for their sex and age, else one for everyone.

    A range for a named group (a sex, an age) is preferred to a general one; a range for another group
    is never used; one that cannot be placed (an unreadable group, an age the patient may or may not
    have) is returned as `maybe`, for the caller to hold the result against both readings.
    """
    fits = [(r, fit(ctx, r)) for r in fact.ranges]
    specific = [r for r, f in fits if f == "yes" and r.restricted]
    if specific:  # a range for this patient's own group settles it
        return RangeChoice(specific[0].high)
    general = next((r.high for r, f in fits if f == "yes"), None)
    maybe = tuple(r.high for r, f in fits if f == "unsure" and r.high is not None)
    if maybe:  # a range for everyone does not settle it while one for the patient's group may apply
        return RangeChoice(general, maybe, "range.unclear")
    if general is not None:
        return RangeChoice(general)
    return RangeChoice(None, note="range.other_groups" if fact.ranges else None)


def fit(ctx: Context, r: RefRange) -> Fit:
    """Whether a reference range is meant for this patient, from its appliesTo groups and its age."""
    found: list[Fit] = []
    if r.applies_to or r.applies_text:
        found.append(_fits_group(ctx, r))
    if r.age_low is not None or r.age_high is not None or r.age_unreadable:
        found.append(_fits_age(ctx, r))
    if "no" in found:
        return "no"
    return "unsure" if "unsure" in found else "yes"


def _fits_group(ctx: Context, r: RefRange) -> Fit:
    sexes = {ctx.m.sex_codes[c] for c in r.applies_to if c in ctx.m.sex_codes}
    words = {w for text in r.applies_text for w in re.findall(r"[a-z]+", text.lower())}
    sexes |= {ctx.m.sex_words[w] for w in words if w in ctx.m.sex_words}
    if sexes:
        sex = ctx.record.patient.sex
        if sex in sexes:
            return "yes"
        return "no" if sex in ("male", "female") else "unsure"
    if r.applies_text:
        return "unsure"  # words that name no sex this table knows: a person reads them
    return "no"  # coded for another group (a gestational age, a cycle phase, a race)


def _fits_age(ctx: Context, r: RefRange) -> Fit:
    ages = ctx.age_range()
    if ages is None or r.age_unreadable:
        return "unsure"
    youngest, oldest = ages  # whole years, so a range ending at 65 holds a patient of 65 years and 5 months
    low = r.age_low if r.age_low is not None else float("-inf")
    high = r.age_high if r.age_high is not None else float("inf")
    if low <= youngest and oldest <= high:
        return "yes"
    if oldest < low or youngest > high:
        return "no"
    return "unsure"


def upper_limit(ctx: Context, analyte: str, fact: ObservationFact) -> Limit:
    """The result's own referenceRange.high when usable, else the default ULN for the patient's sex.

    When it is unclear which of its ranges is the patient's, the strictest candidate (the default among
    them) is the limit and `loosest` the most lenient, so that a result between the two is not decided.
    """
    definition = ctx.m.analytes[analyte]
    choice = reference_high(ctx, fact)
    note = choice.note
    own = _canonical(definition, choice.high) if choice.high is not None else None
    if choice.high is not None and own is None:
        unitless = not choice.high.unit or convert(definition, choice.high.value, choice.high.unit) is None
        note = "range.no_unit" if unitless else "range.not_positive"
    value: float
    source: Source
    if own is not None:
        value, source = own, "reference_range"
    else:
        value, source = in_canonical_unit(definition, ctx.m.uln[analyte], ctx.record.patient.sex), "default"
    maybe = [v for v in (_canonical(definition, q) for q in choice.maybe) if v is not None]
    if maybe:
        strictest, loosest = min(*maybe, value), max(*maybe, value)
        return Limit(strictest, source if strictest == value else "reference_range", note, loosest)
    return Limit(value, source, note)


def in_canonical_unit(definition: AnalyteDef, limit: SexLimit, sex: Sex) -> float:
    """A limit of mappings/limits.toml for the patient's sex, in the analyte's canonical unit."""
    value = convert(definition, limit.for_sex(sex), limit.unit)
    if value is None:  # the loader refuses such a limit at start-up
        raise MappingError(f"the limit for {definition.id} in {limit.unit} does not convert to {definition.unit}")
    return value


def _canonical(definition: AnalyteDef, high: Quantity) -> float | None:
    """A range's upper limit in the analyte's canonical unit; None without a usable unit or when not positive."""
    converted = convert(definition, high.value, high.unit) if high.unit else None
    return converted if converted is not None and converted > 0 else None

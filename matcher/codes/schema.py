"""The shapes of the TOML files in mappings/ (unknown keys rejected) and the checks on what they say once merged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from matcher.codes.answers import normal_words
from matcher.codes.model import Code, Windows
from matcher.codes.units import MOLAR_MASS_UNIT, factor, is_ucum, to_canonical


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(Strict):
    kind: Literal["valuesets", "labs", "scores", "drugs", "answers", "limits", "windows"]
    version: str
    title: str
    sources: list[str] = Field(min_length=1)
    override: bool = False


def _uri(value: str) -> str:
    if ":" not in value:
        raise ValueError(f"system {value!r} is not a URI (write the full code system URI)")
    return value


class CodeEntry(Strict):
    system: str
    code: str
    note: str | None = None

    @field_validator("system")
    @classmethod
    def _is_uri(cls, value: str) -> str:
        return _uri(value)


class Include(Strict):
    system: str | list[str]
    codes: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)
    tier: Literal["match", "review"] = "match"
    note: str | None = None

    @field_validator("system")
    @classmethod
    def _are_uris(cls, value: str | list[str]) -> str | list[str]:
        for system in [value] if isinstance(value, str) else value:
            _uri(system)
        return value


class ValueSet(Strict):
    title: str | None = None
    include: list[Include] = Field(default_factory=list)
    exclude: list[Include] = Field(default_factory=list)


class Divide(Strict):
    divide: float = Field(gt=0)


UnitFactor = Annotated[float, Field(gt=0)] | Divide


class MolarMass(Strict):
    value: float = Field(gt=0)
    unit: str = MOLAR_MASS_UNIT
    source: str

    def grams_per_mol(self) -> float | None:
        """The molar mass in g/mol; None when `unit` is not a unit of g/mol."""
        per = factor(self.unit, MOLAR_MASS_UNIT)
        return None if per is None else self.value * per


class Plausible(Strict):
    min: float
    max: float


class Analyte(Strict):
    title: str | None = None
    result: Literal["quantity", "qualitative"] | None = None
    #: the canonical UCUM unit; any UCUM unit of the same dimension converts to it
    unit: str | None = None
    #: units UCUM cannot relate to `unit` (an arbitrary unit, an annotation), with the factor to it
    equivalents: dict[str, UnitFactor] = Field(default_factory=dict)
    #: for converting between mass and amount of substance
    molar_mass: MolarMass | None = None
    positive_above: float | None = None
    #: values outside this range (canonical unit) are data errors, not results: unusable
    plausible: Plausible | None = None
    codes: list[CodeEntry] = Field(default_factory=list)
    note: str | None = None

    def factors(self) -> tuple[tuple[str, float], ...]:
        """The equivalents as (unit, factor to the canonical unit)."""
        return tuple(
            (other, 1.0 / times.divide if isinstance(times, Divide) else float(times))
            for other, times in self.equivalents.items()
        )

    def molar_mass_g(self) -> float | None:
        """The molar mass in g/mol, when one is given in a unit of g/mol."""
        return self.molar_mass.grams_per_mol() if self.molar_mass else None


class Score(Strict):
    title: str | None = None
    value: Literal["number", "grades"] | None = None
    min: float | None = None
    max: float | None = None
    units: list[str] = Field(default_factory=list)
    codes: list[CodeEntry] = Field(default_factory=list)
    note: str | None = None


class Drug(Strict):
    title: str | None = None
    codes: list[CodeEntry] = Field(default_factory=list)
    #: names a text may call it by (INN, brand names, development codes, names in other languages): a
    #: medication none of whose codes is known is still this drug when its text names it (whole words)
    names: list[str] = Field(default_factory=list)
    #: words that, in the same text, stop a recognition by name (a topical or eye product of the drug)
    name_exclusions: list[str] = Field(default_factory=list)
    #: administrations this many days apart still belong to one course (e.g. rituximab every 6 months)
    course_gap_days: int | None = Field(None, ge=1, le=400)
    note: str | None = None


class DrugSet(Strict):
    title: str | None = None
    drugs: list[str] = Field(default_factory=list)
    note: str | None = None


class Answer(Strict):
    words: list[str] = Field(default_factory=list)
    codes: list[CodeEntry] = Field(default_factory=list)


class SexLimit(Strict):
    unit: str
    male: float = Field(gt=0)
    female: float = Field(gt=0)
    source: str


class ValueSets(Strict):
    valueset: dict[str, ValueSet] = Field(default_factory=dict)


class Labs(Strict):
    analyte: dict[str, Analyte] = Field(default_factory=dict)
    unit_aliases: dict[str, str] = Field(default_factory=dict)


class Scores(Strict):
    score: dict[str, Score] = Field(default_factory=dict)


class Drugs(Strict):
    drug: dict[str, Drug] = Field(default_factory=dict)
    drugset: dict[str, DrugSet] = Field(default_factory=dict)


class Answers(Strict):
    answer: dict[Literal["positive", "negative", "indeterminate"], Answer] = Field(default_factory=dict)


class Limits(Strict):
    uln: dict[str, SexLimit] = Field(default_factory=dict)
    threshold: dict[str, SexLimit] = Field(default_factory=dict)
    #: codes in a reference range's appliesTo that say which sex the range is for
    sex_codes: dict[Literal["male", "female"], Answer] = Field(default_factory=dict)


class LookBack(Strict):
    windows: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)


class ValueSetsFile(ValueSets):
    meta: Meta


class LabsFile(Labs):
    meta: Meta


class ScoresFile(Scores):
    meta: Meta


class DrugsFile(Drugs):
    meta: Meta


class AnswersFile(Answers):
    meta: Meta


class LimitsFile(Limits):
    meta: Meta


class WindowsFile(LookBack):
    meta: Meta


FILE_MODELS: dict[str, type[Strict]] = {
    "valuesets": ValueSetsFile,
    "labs": LabsFile,
    "scores": ScoresFile,
    "drugs": DrugsFile,
    "answers": AnswersFile,
    "limits": LimitsFile,
    "windows": WindowsFile,
}

#: Windows that the contract bounds: a result older than 365 days is outside them.
_CAPPED_WINDOWS = ("organ_function", "ecg", "disease_activity")
_MIN_WINDOW_DAYS = 30
_MAX_CAPPED_DAYS = 365


class Merged(Strict):
    """What all the files of mappings/ say together, one field per file kind.

    A site file may add to a default one (a code to an analyte, an include to a value set), so whether
    an entry is complete and consistent is checked here, on the merged whole: each field validator
    checks one kind, the model validator checks kinds against each other. A refusal is a
    `PydanticCustomError` of type "refused" whose message names the entry.
    """

    valuesets: ValueSets
    labs: Labs
    scores: Scores
    drugs: Drugs
    answers: Answers
    limits: Limits
    windows: LookBack

    @field_validator("valuesets")
    @classmethod
    def _value_sets_include_codes(cls, value: ValueSets) -> ValueSets:
        for key, vs in value.valueset.items():
            if not vs.include:
                raise refused(f"value set {key!r} includes no codes")
            if any(not inc.codes and not inc.prefixes for inc in vs.include):
                raise refused(f"value set {key!r}: an include with neither codes nor prefixes")
        return value

    @field_validator("labs")
    @classmethod
    def _analytes_are_complete_and_units_valid(cls, value: Labs) -> Labs:
        for key, analyte in value.analyte.items():
            _check_analyte(key, analyte)
        for alias, target in value.unit_aliases.items():
            if not is_ucum(target):
                raise refused(f"unit alias {alias!r} points to {target!r}, which is not a valid UCUM unit")
            if is_ucum(alias) and factor(alias, target, annotations=False) != 1.0:
                raise refused(f"unit alias {alias!r} is itself a UCUM unit, and not {target!r}")
        return value

    @field_validator("scores")
    @classmethod
    def _scores_have_codes_and_a_range(cls, value: Scores) -> Scores:
        for key, score in value.score.items():
            if not score.codes:
                raise refused(f"score {key!r} has no codes")
            if score.min is not None and score.max is not None and score.min > score.max:
                raise refused(f"score {key!r}: min {score.min} is above max {score.max}")
        return value

    @field_validator("drugs")
    @classmethod
    def _drug_sets_name_defined_drugs(cls, value: Drugs) -> Drugs:
        for key, drugset in value.drugset.items():
            unknown = [d for d in dict.fromkeys(drugset.drugs) if d not in value.drug]
            if unknown:
                raise refused(f"drug set {key!r} names drugs that are not defined: {', '.join(unknown)}")
        return value

    @field_validator("answers")
    @classmethod
    def _answers_have_one_polarity(cls, value: Answers) -> Answers:
        seen: dict[object, str] = {}  # codes and normalised words -> the polarity they were given first
        for polarity, answer in value.answer.items():
            said: list[tuple[object, str]] = [(code, f"code {code}") for code in codes_of(answer.codes)]
            said += [(normal_words(word), f"word {word!r}") for word in answer.words]
            for key, what in said:
                if seen.setdefault(key, polarity) != polarity:
                    raise refused(f"answer {what} is both {seen[key]} and {polarity}")
        return value

    @field_validator("windows")
    @classmethod
    def _windows_are_all_given_and_bounded(cls, value: LookBack) -> LookBack:
        names = {f.name for f in fields(Windows)}
        unknown = sorted(set(value.windows) - names)
        missing = sorted(names - set(value.windows))
        if unknown:
            raise refused(f"unknown look-back windows: {', '.join(unknown)}")
        if missing:
            raise refused(f"look-back windows not given: {', '.join(missing)}")
        for name, days in value.windows.items():
            if days < _MIN_WINDOW_DAYS:
                raise refused(f"window {name} is {days} days; every window must reach back at least 30 days")
            if name in _CAPPED_WINDOWS and days > _MAX_CAPPED_DAYS:
                raise refused(f"window {name} is {days} days; it may not reach back more than 365 days")
        return value

    @model_validator(mode="after")
    def _limits_and_observation_codes_agree_with_the_analytes(self) -> Merged:
        analytes = self.labs.analyte
        for what, limits in (("uln", self.limits.uln), ("threshold", self.limits.threshold)):
            for key, limit in limits.items():
                analyte = analytes.get(key)
                if analyte is None:
                    raise refused(f"{what} given for {key!r}, which is not an analyte")
                if analyte.unit is None or (
                    to_canonical(limit.unit, analyte.unit, analyte.factors(), analyte.molar_mass_g()) is None
                ):
                    raise refused(f"{what} for {key!r} is in {limit.unit!r}, which {key} cannot convert")
        seen: dict[Code, tuple[str, str]] = {}
        for kind, items in (("analyte", analytes), ("score", self.scores.score)):
            for key, item in items.items():
                for code in codes_of(item.codes):
                    if seen.get(code, (kind, key)) != (kind, key):
                        raise refused(f"observation code {code} is mapped to both {seen[code][1]} and {key}")
                    seen[code] = (kind, key)
        return self


def _check_analyte(key: str, analyte: Analyte) -> None:
    """An analyte says what its result is, has codes, and its units are UCUM that UCUM alone cannot relate."""
    if analyte.result is None:
        raise refused(f"analyte {key!r} does not say whether its result is a quantity or qualitative")
    if not analyte.codes:
        raise refused(f"analyte {key!r} has no codes")
    unit = analyte.unit
    if analyte.result == "quantity" and not unit:
        raise refused(f"analyte {key!r} is a quantity without a canonical unit")
    if analyte.molar_mass is not None and analyte.molar_mass_g() is None:
        raise refused(f"analyte {key!r}: its molar mass is in {analyte.molar_mass.unit!r}, not a unit of g/mol")
    if unit is None:
        if analyte.equivalents:
            raise refused(f"analyte {key!r} has equivalents but no canonical unit")
    elif not is_ucum(unit):
        raise refused(f"analyte {key!r}: its unit {unit!r} is not a valid UCUM unit")
    for other in analyte.equivalents if unit is not None else ():
        if not is_ucum(other):
            raise refused(f"analyte {key!r}: equivalent {other!r} is not a valid UCUM unit")
        if factor(other, unit, analyte.molar_mass_g()) is not None:
            raise refused(f"analyte {key!r}: {other!r} converts to {unit!r} by UCUM, it needs no equivalent")
    if analyte.positive_above is not None and analyte.result != "qualitative":
        raise refused(f"analyte {key!r}: positive_above applies to qualitative analytes only")


def codes_of(entries: Iterable[CodeEntry]) -> tuple[Code, ...]:
    """The (system, code) pairs of code entries, each once, in the order first written."""
    return tuple(dict.fromkeys(Code(entry.system, entry.code) for entry in entries))


def refused(message: str) -> PydanticCustomError:
    """A check of the merged mappings that fails; the loader raises it as a MappingError with this message."""
    return PydanticCustomError("refused", "{reason}", {"reason": message})

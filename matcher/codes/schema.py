"""The shapes of the TOML files in mappings/, one pydantic model per file kind; unknown keys are rejected."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    unit: str = "g/mol"
    source: str


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


class ValueSetsFile(Strict):
    meta: Meta
    valueset: dict[str, ValueSet] = Field(default_factory=dict)


class LabsFile(Strict):
    meta: Meta
    analyte: dict[str, Analyte] = Field(default_factory=dict)
    unit_aliases: dict[str, str] = Field(default_factory=dict)


class ScoresFile(Strict):
    meta: Meta
    score: dict[str, Score] = Field(default_factory=dict)


class DrugsFile(Strict):
    meta: Meta
    drug: dict[str, Drug] = Field(default_factory=dict)
    drugset: dict[str, DrugSet] = Field(default_factory=dict)


class AnswersFile(Strict):
    meta: Meta
    answer: dict[Literal["positive", "negative", "indeterminate"], Answer] = Field(default_factory=dict)


class LimitsFile(Strict):
    meta: Meta
    uln: dict[str, SexLimit] = Field(default_factory=dict)
    threshold: dict[str, SexLimit] = Field(default_factory=dict)
    #: codes in a reference range's appliesTo that say which sex the range is for
    sex_codes: dict[Literal["male", "female"], Answer] = Field(default_factory=dict)


class WindowsFile(Strict):
    meta: Meta
    windows: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)


FILE_MODELS: dict[str, type[Strict]] = {
    "valuesets": ValueSetsFile,
    "labs": LabsFile,
    "scores": ScoresFile,
    "drugs": DrugsFile,
    "answers": AnswersFile,
    "limits": LimitsFile,
    "windows": WindowsFile,
}

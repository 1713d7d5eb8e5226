"""Runtime forms of the mappings: `Mappings` and the immutable definitions the record builder and criteria consult."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from matcher.codes.units import convert_between
from matcher.errors import MappingError

if TYPE_CHECKING:
    from matcher.codes.answers import AnswerBook
    from matcher.codes.names import DrugNames
    from matcher.codes.valuesets import ValueSetIndex

Sex = Literal["male", "female", "other", "unknown"]


class Code(NamedTuple):
    """A coded concept: the pair (code system URI, code). Matching never looks at display text."""

    system: str
    code: str

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


@dataclass(frozen=True, slots=True)
class AnalyteDef:
    id: str
    title: str
    result: Literal["quantity", "qualitative"]
    unit: str | None  # the canonical UCUM unit values are converted to
    positive_above: float | None
    codes: tuple[Code, ...]
    plausible: tuple[float, float] | None = None
    #: units UCUM cannot relate to the canonical one, with the factor to it (U/L for [IU]/L of an enzyme)
    equivalents: tuple[tuple[str, float], ...] = ()
    #: g/mol, for converting between mass and amount of substance
    molar_mass: float | None = None

    @property
    def primary_code(self) -> Code:
        return self.codes[0]


@dataclass(frozen=True, slots=True)
class ScoreDef:
    id: str
    title: str
    value: Literal["number", "grades"]
    min: float | None
    max: float | None
    units: frozenset[str]
    codes: tuple[Code, ...]

    @property
    def primary_code(self) -> Code:
        return self.codes[0]


@dataclass(frozen=True, slots=True)
class DrugDef:
    id: str
    title: str
    codes: tuple[Code, ...]
    course_gap_days: int | None = None
    #: names a text may call it by (see matcher/codes/names.py), and words that void such a recognition
    names: tuple[str, ...] = ()
    name_exclusions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DrugSetDef:
    id: str
    title: str
    drugs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SexLimit:
    """A value that depends on sex, in `unit`; `source` says where it comes from."""

    unit: str
    male: float
    female: float
    source: str

    def for_sex(self, sex: Sex) -> float:
        if sex == "male":
            return self.male
        if sex == "female":
            return self.female
        return min(self.male, self.female)


@dataclass(frozen=True, slots=True)
class Windows:
    """Look-back windows in days (mappings/windows.toml)."""

    organ_function: int
    body_weight: int
    ecg: int
    disease_activity: int
    infection_serology: int
    pregnancy_test: int
    autoantibodies: int
    recent_infection: int


@dataclass(frozen=True, slots=True)
class Provenance:
    """Which mapping files were loaded, at which versions, and a digest of their bytes."""

    files: dict[str, str] = field(default_factory=dict)
    digest: str = ""


@dataclass(frozen=True)
class Mappings:
    """Everything trialmatch knows about codes, units, limits and windows."""

    valuesets: ValueSetIndex
    analytes: dict[str, AnalyteDef]
    scores: dict[str, ScoreDef]
    drugs: dict[str, DrugDef]
    drugsets: dict[str, DrugSetDef]
    answers: AnswerBook
    uln: dict[str, SexLimit]
    thresholds: dict[str, SexLimit]
    #: codes of a reference range's appliesTo -> the sex it is for
    sex_codes: dict[Code, Sex]
    #: words of a reference range's appliesTo text that name a sex (lower case)
    sex_words: dict[str, Sex]
    windows: Windows
    #: `unit` strings (without a UCUM code) -> the UCUM code they stand for
    unit_aliases: dict[str, str]
    provenance: Provenance
    #: (system, code) of an Observation -> ("analyte" | "score", id)
    observation_codes: dict[Code, tuple[str, str]]
    #: (system, code) of a medication, or of a procedure that names its product -> drug ids
    drug_codes: dict[Code, frozenset[str]]
    #: the drugs' names, for medications (and CAR-T procedures) whose codes say nothing
    drug_names: DrugNames

    def require(self, kind: str, ids: Iterable[str]) -> None:
        """Fail at start-up, not mid-run, when a criterion needs an id the files do not define."""
        table: Any = {
            "valueset": self.valuesets.titles,
            "analyte": self.analytes,
            "score": self.scores,
            "drugset": self.drugsets,
            "uln": self.uln,
            "threshold": self.thresholds,
        }[kind]
        missing = sorted(set(ids) - set(table))
        if missing:
            raise MappingError(f"no {kind} defined for {', '.join(missing)}")

    def require_units(self, units: Mapping[str, str]) -> None:
        """Fail at start-up when a formula's input cannot be converted to the unit the formula is written in."""
        missing = [
            f"{a} to {u}"
            for a, u in units.items()
            if convert_between(self.analytes[a], 1.0, self.analytes[a].unit or "", u) is None
        ]
        if missing:
            raise MappingError(f"no conversion for {', '.join(missing)}")

    def drugs_in(self, drugset: str) -> frozenset[str]:
        return frozenset(self.drugsets[drugset].drugs)

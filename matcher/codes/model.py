"""Runtime forms of the mappings: immutable definitions the record builder and the criteria consult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

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

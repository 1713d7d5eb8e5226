"""Load, validate and merge the TOML files of mappings/ into one immutable `Mappings`."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from matcher.codes.answers import AnswerBook, Polarity
from matcher.codes.model import (
    AnalyteDef,
    Code,
    DrugDef,
    DrugSetDef,
    Provenance,
    ScoreDef,
    Sex,
    SexLimit,
    Windows,
)
from matcher.codes.names import DrugNames
from matcher.codes.schema import FILE_MODELS, Divide, Meta
from matcher.codes.units import MOLAR_MASS_UNIT, convert, convert_between, factor, is_ucum
from matcher.codes.valuesets import ValueSetIndex
from matcher.errors import MappingError

#: Windows that the contract bounds: a result older than 365 days is outside them.
_CAPPED_WINDOWS = ("organ_function", "ecg", "disease_activity")
_MIN_WINDOW_DAYS = 30
_MAX_CAPPED_DAYS = 365


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


def default_mappings_dir() -> Path:
    """mappings/ of a source checkout, else the copy packaged inside the wheel."""
    here = Path(__file__).resolve().parent.parent
    checkout = here.parent / "mappings"
    if checkout.is_dir():
        return checkout
    return here / "_data" / "mappings"


@cache
def load_mappings(dirs: tuple[Path, ...] | None = None) -> Mappings:
    """Load mappings/ (and site folders after it); cached, since the files do not change while running."""
    return _Loader(dirs or (default_mappings_dir(),)).build()


class _Loader:
    def __init__(self, dirs: Sequence[Path]) -> None:
        self.dirs = dirs
        self.merged: dict[str, dict[str, Any]] = {kind: {} for kind in FILE_MODELS}
        self.files: dict[str, str] = {}
        self.digest = hashlib.sha256()

    def build(self) -> Mappings:
        paths = [p for d in self.dirs for p in self._files_in(d)]
        if not paths:
            raise MappingError(f"no mapping files found in {', '.join(map(str, self.dirs))}")
        for path in paths:
            self._read(path)
        return self._assemble()

    @staticmethod
    def _files_in(folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise MappingError("mappings folder does not exist", path=str(folder))
        return sorted(folder.rglob("*.toml"))

    def _read(self, path: Path) -> None:
        raw = path.read_bytes()
        self.digest.update(path.name.encode() + b"\0" + raw)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"not valid TOML: {exc}", path=str(path)) from exc
        try:
            meta = Meta.model_validate(data.get("meta"))
            model = FILE_MODELS[meta.kind].model_validate(data)
        except ValidationError as exc:
            raise MappingError(_first_error(exc), path=str(path)) from exc
        self.files[str(path.name)] = meta.version
        dumped = model.model_dump(exclude_unset=True, exclude={"meta"})
        target = self.merged[meta.kind]
        for section, entries in dumped.items():
            _merge(target.setdefault(section, {}), entries, override=meta.override, where=f"{path}: {section}")

    def _assemble(self) -> Mappings:
        m = self.merged
        index = _valuesets(m["valuesets"].get("valueset", {}))
        analytes = _analytes(m["labs"].get("analyte", {}))
        aliases = dict(m["labs"].get("unit_aliases", {}))
        scores = _scores(m["scores"].get("score", {}))
        drugs = {
            key: DrugDef(
                key,
                v.get("title", key),
                _codes(v.get("codes", [])),
                v.get("course_gap_days"),
                tuple(dict.fromkeys(v.get("names", []))),
                tuple(dict.fromkeys(v.get("name_exclusions", []))),
            )
            for key, v in m["drugs"].get("drug", {}).items()
        }
        drugsets = _drugsets(m["drugs"].get("drugset", {}), drugs)
        for alias, target in aliases.items():
            if not is_ucum(target):
                raise MappingError(f"unit alias {alias!r} points to {target!r}, which is not a valid UCUM unit")
            if is_ucum(alias) and factor(alias, target, annotations=False) != 1.0:
                raise MappingError(f"unit alias {alias!r} is itself a UCUM unit, and not {target!r}")
        return Mappings(
            valuesets=index,
            analytes=analytes,
            scores=scores,
            drugs=drugs,
            drugsets=drugsets,
            answers=_answers(m["answers"].get("answer", {})),
            uln=_limits(m["limits"].get("uln", {}), analytes, "uln"),
            thresholds=_limits(m["limits"].get("threshold", {}), analytes, "threshold"),
            sex_codes={
                code: cast(Sex, sex)
                for sex, entry in m["limits"].get("sex_codes", {}).items()
                for code in _codes(entry.get("codes", []))
            },
            sex_words={
                word.lower(): cast(Sex, sex)
                for sex, entry in m["limits"].get("sex_codes", {}).items()
                for word in entry.get("words", [])
            },
            windows=_windows(m["windows"].get("windows", {})),
            unit_aliases=aliases,
            provenance=Provenance(files=dict(self.files), digest=self.digest.hexdigest()[:16]),
            observation_codes=_observation_codes(analytes, scores),
            drug_codes=_drug_codes(drugs),
            drug_names=DrugNames(
                {d.id: d.names for d in drugs.values()}, {d.id: d.name_exclusions for d in drugs.values()}
            ),
        )


def _merge(target: dict[str, Any], new: dict[str, Any], *, override: bool, where: str) -> None:
    """Lists extend, tables merge, scalars may be set once (or replaced by an override file)."""
    for key, value in new.items():
        if key not in target:
            target[key] = value
        elif isinstance(value, list) and isinstance(target[key], list):
            target[key] = target[key] + value
        elif isinstance(value, dict) and isinstance(target[key], dict):
            _merge(target[key], value, override=override, where=f"{where}.{key}")
        elif target[key] != value and not override:
            raise MappingError(
                f"{where}.{key} is {target[key]!r} in one file and {value!r} in another "
                "(a site file that changes a default needs `override = true` in its [meta])"
            )
        else:
            target[key] = value


def _codes(entries: list[dict[str, Any]]) -> tuple[Code, ...]:
    seen: dict[Code, None] = {}
    for entry in entries:
        seen[Code(entry["system"], entry["code"])] = None
    return tuple(seen)


def _valuesets(raw: dict[str, dict[str, Any]]) -> ValueSetIndex:
    index = ValueSetIndex()
    for key, vs in raw.items():
        if not vs.get("include"):
            raise MappingError(f"value set {key!r} includes no codes")
        index.titles[key] = vs.get("title", key)
        for inc in vs["include"]:
            systems = [inc["system"]] if isinstance(inc["system"], str) else inc["system"]
            if not inc.get("codes") and not inc.get("prefixes"):
                raise MappingError(f"value set {key!r}: an include with neither codes nor prefixes")
            index.add(key, systems, inc.get("codes", []), inc.get("prefixes", []), inc.get("tier", "match"))
        for exc in vs.get("exclude", []):
            systems = [exc["system"]] if isinstance(exc["system"], str) else exc["system"]
            index.exclude(key, systems, exc.get("codes", []), exc.get("prefixes", []))
    return index


def _analytes(raw: dict[str, dict[str, Any]]) -> dict[str, AnalyteDef]:
    out: dict[str, AnalyteDef] = {}
    for key, a in raw.items():
        result = a.get("result")
        if result is None:
            raise MappingError(f"analyte {key!r} does not say whether its result is a quantity or qualitative")
        if not a.get("codes"):
            raise MappingError(f"analyte {key!r} has no codes")
        unit = a.get("unit")
        if result == "quantity" and not unit:
            raise MappingError(f"analyte {key!r} is a quantity without a canonical unit")
        molar_mass = _molar_mass(key, a.get("molar_mass"))
        equivalents = _equivalents(key, unit, a.get("equivalents", {}), molar_mass)
        if a.get("positive_above") is not None and result != "qualitative":
            raise MappingError(f"analyte {key!r}: positive_above applies to qualitative analytes only")
        out[key] = AnalyteDef(
            id=key,
            title=a.get("title", key),
            result=result,
            unit=unit,
            equivalents=equivalents,
            molar_mass=molar_mass,
            positive_above=a.get("positive_above"),
            codes=_codes(a["codes"]),
            plausible=(a["plausible"]["min"], a["plausible"]["max"]) if a.get("plausible") else None,
        )
    return out


def _molar_mass(key: str, raw: dict[str, Any] | None) -> float | None:
    """The analyte's molar mass in g/mol."""
    if raw is None:
        return None
    per = factor(raw.get("unit", MOLAR_MASS_UNIT), MOLAR_MASS_UNIT)
    if per is None:
        raise MappingError(f"analyte {key!r}: its molar mass is in {raw.get('unit')!r}, not a unit of g/mol")
    return float(raw["value"]) * per


def _equivalents(
    key: str, unit: str | None, raw: dict[str, Any], molar_mass: float | None
) -> tuple[tuple[str, float], ...]:
    """The canonical unit is valid UCUM; each equivalent is a UCUM unit that UCUM itself cannot convert."""
    if unit is None:
        if raw:
            raise MappingError(f"analyte {key!r} has equivalents but no canonical unit")
        return ()
    if not is_ucum(unit):
        raise MappingError(f"analyte {key!r}: its unit {unit!r} is not a valid UCUM unit")
    out = []
    for other, times in raw.items():
        if not is_ucum(other):
            raise MappingError(f"analyte {key!r}: equivalent {other!r} is not a valid UCUM unit")
        if factor(other, unit, molar_mass) is not None:
            raise MappingError(f"analyte {key!r}: {other!r} converts to {unit!r} by UCUM, it needs no equivalent")
        out.append((other, _factor(times)))
    return tuple(out)


def _factor(value: float | dict[str, float] | Divide) -> float:
    if isinstance(value, dict):
        return 1.0 / value["divide"]
    if isinstance(value, Divide):
        return 1.0 / value.divide
    return float(value)


def _scores(raw: dict[str, dict[str, Any]]) -> dict[str, ScoreDef]:
    out: dict[str, ScoreDef] = {}
    for key, s in raw.items():
        if not s.get("codes"):
            raise MappingError(f"score {key!r} has no codes")
        low, high = s.get("min"), s.get("max")
        if low is not None and high is not None and low > high:
            raise MappingError(f"score {key!r}: min {low} is above max {high}")
        out[key] = ScoreDef(
            id=key,
            title=s.get("title", key),
            value=s.get("value", "number"),
            min=low,
            max=high,
            units=frozenset(s.get("units", [])),
            codes=_codes(s["codes"]),
        )
    return out


def _drugsets(raw: dict[str, dict[str, Any]], drugs: dict[str, DrugDef]) -> dict[str, DrugSetDef]:
    out: dict[str, DrugSetDef] = {}
    for key, ds in raw.items():
        names = tuple(dict.fromkeys(ds.get("drugs", [])))
        unknown = [d for d in names if d not in drugs]
        if unknown:
            raise MappingError(f"drug set {key!r} names drugs that are not defined: {', '.join(unknown)}")
        out[key] = DrugSetDef(key, ds.get("title", key), names)
    return out


def _answers(raw: dict[str, dict[str, Any]]) -> AnswerBook:
    codes: dict[Code, Polarity] = {}
    words: dict[str, Polarity] = {}
    for polarity, answer in raw.items():
        pol = cast(Polarity, polarity)
        for code in _codes(answer.get("codes", [])):
            if codes.get(code, pol) != pol:
                raise MappingError(f"answer code {code} is both {codes[code]} and {pol}")
            codes[code] = pol
        for word in answer.get("words", []):
            norm = " ".join(word.strip().lower().split())
            if words.get(norm, pol) != pol:
                raise MappingError(f"answer word {word!r} is both {words[norm]} and {pol}")
            words[norm] = pol
    return AnswerBook(codes, words)


def _limits(raw: dict[str, dict[str, Any]], analytes: dict[str, AnalyteDef], what: str) -> dict[str, SexLimit]:
    out: dict[str, SexLimit] = {}
    for key, lim in raw.items():
        analyte = analytes.get(key)
        if analyte is None:
            raise MappingError(f"{what} given for {key!r}, which is not an analyte")
        if convert(analyte, 1.0, lim["unit"]) is None:
            raise MappingError(f"{what} for {key!r} is in {lim['unit']!r}, which {key} cannot convert")
        out[key] = SexLimit(lim["unit"], lim["male"], lim["female"], lim["source"])
    return out


def _windows(raw: dict[str, int]) -> Windows:
    names = {f.name for f in fields(Windows)}
    unknown = sorted(set(raw) - names)
    missing = sorted(names - set(raw))
    if unknown:
        raise MappingError(f"unknown look-back windows: {', '.join(unknown)}")
    if missing:
        raise MappingError(f"look-back windows not given: {', '.join(missing)}")
    for name, days in raw.items():
        if days < _MIN_WINDOW_DAYS:
            raise MappingError(f"window {name} is {days} days; every window must reach back at least 30 days")
        if name in _CAPPED_WINDOWS and days > _MAX_CAPPED_DAYS:
            raise MappingError(f"window {name} is {days} days; it may not reach back more than 365 days")
    return Windows(**raw)


def _observation_codes(analytes: dict[str, AnalyteDef], scores: dict[str, ScoreDef]) -> dict[Code, tuple[str, str]]:
    out: dict[Code, tuple[str, str]] = {}
    for kind, table in (("analyte", analytes), ("score", scores)):
        for item in table.values():
            for code in item.codes:
                other = out.get(code)
                if other and other != (kind, item.id):
                    raise MappingError(f"observation code {code} is mapped to both {other[1]} and {item.id}")
                out[code] = (kind, item.id)
    return out


def _drug_codes(drugs: dict[str, DrugDef]) -> dict[Code, frozenset[str]]:
    out: dict[Code, set[str]] = {}
    for drug in drugs.values():
        for code in drug.codes:
            out.setdefault(code, set()).add(drug.id)
    return {code: frozenset(ids) for code, ids in out.items()}


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"

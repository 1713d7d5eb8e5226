"""Load mappings/: read each TOML file against its schema, merge the files, and build one immutable `Mappings`."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from matcher.codes.answers import AnswerBook, Polarity, normal_words
from matcher.codes.model import (
    AnalyteDef,
    Code,
    DrugDef,
    DrugSetDef,
    Mappings,
    Provenance,
    ScoreDef,
    SexLimit,
    Windows,
)
from matcher.codes.names import DrugNames
from matcher.codes.schema import FILE_MODELS, Analyte, Answers, Drugs, Merged, Meta, Score, ValueSets, codes_of
from matcher.codes.schema import SexLimit as SchemaSexLimit
from matcher.codes.valuesets import ValueSetIndex
from matcher.errors import MappingError


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
        try:
            merged = Merged.model_validate(self.merged)
        except ValidationError as exc:
            raise MappingError(_first_error(exc)) from exc
        return self._assemble(merged)

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

    def _assemble(self, merged: Merged) -> Mappings:
        analytes = {key: _analyte(key, a) for key, a in merged.labs.analyte.items()}
        scores = {key: _score(key, s) for key, s in merged.scores.score.items()}
        drugs, drugsets = _drugs(merged.drugs)
        return Mappings(
            valuesets=_valuesets(merged.valuesets),
            analytes=analytes,
            scores=scores,
            drugs=drugs,
            drugsets=drugsets,
            answers=_answers(merged.answers),
            uln=_limits(merged.limits.uln),
            thresholds=_limits(merged.limits.threshold),
            sex_codes={code: sex for sex, entry in merged.limits.sex_codes.items() for code in codes_of(entry.codes)},
            sex_words={word.lower(): sex for sex, entry in merged.limits.sex_codes.items() for word in entry.words},
            windows=Windows(**merged.windows.windows),
            unit_aliases=dict(merged.labs.unit_aliases),
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


def _title(title: str | None, key: str) -> str:
    """An entry's title, else its key."""
    return key if title is None else title


def _valuesets(merged: ValueSets) -> ValueSetIndex:
    index = ValueSetIndex()
    for key, vs in merged.valueset.items():
        index.titles[key] = _title(vs.title, key)
        for inc in vs.include:
            systems = [inc.system] if isinstance(inc.system, str) else inc.system
            index.add(key, systems, inc.codes, inc.prefixes, inc.tier)
        for exc in vs.exclude:
            systems = [exc.system] if isinstance(exc.system, str) else exc.system
            index.exclude(key, systems, exc.codes, exc.prefixes)
    return index


def _analyte(key: str, a: Analyte) -> AnalyteDef:
    return AnalyteDef(
        id=key,
        title=_title(a.title, key),
        result=a.result or "quantity",  # never None: the schema refuses an analyte that does not say
        unit=a.unit,
        equivalents=a.factors(),
        molar_mass=a.molar_mass_g(),
        positive_above=a.positive_above,
        codes=codes_of(a.codes),
        plausible=(a.plausible.min, a.plausible.max) if a.plausible else None,
    )


def _score(key: str, s: Score) -> ScoreDef:
    return ScoreDef(
        id=key,
        title=_title(s.title, key),
        value=s.value or "number",
        min=s.min,
        max=s.max,
        units=frozenset(s.units),
        codes=codes_of(s.codes),
    )


def _drugs(merged: Drugs) -> tuple[dict[str, DrugDef], dict[str, DrugSetDef]]:
    drugs = {
        key: DrugDef(
            key,
            _title(d.title, key),
            codes_of(d.codes),
            d.course_gap_days,
            tuple(dict.fromkeys(d.names)),
            tuple(dict.fromkeys(d.name_exclusions)),
        )
        for key, d in merged.drug.items()
    }
    drugsets = {
        key: DrugSetDef(key, _title(ds.title, key), tuple(dict.fromkeys(ds.drugs)))
        for key, ds in merged.drugset.items()
    }
    return drugs, drugsets


def _answers(merged: Answers) -> AnswerBook:
    codes: dict[Code, Polarity] = {}
    words: dict[str, Polarity] = {}
    for polarity, answer in merged.answer.items():
        codes.update(dict.fromkeys(codes_of(answer.codes), polarity))
        words.update(dict.fromkeys(map(normal_words, answer.words), polarity))
    return AnswerBook(codes, words)


def _limits(merged: dict[str, SchemaSexLimit]) -> dict[str, SexLimit]:
    return {key: SexLimit(lim.unit, lim.male, lim.female, lim.source) for key, lim in merged.items()}


def _observation_codes(analytes: dict[str, AnalyteDef], scores: dict[str, ScoreDef]) -> dict[Code, tuple[str, str]]:
    """(system, code) -> ("analyte" | "score", id); the schema refused a code mapped to two of them."""
    out: dict[Code, tuple[str, str]] = {}
    for kind, table in (("analyte", analytes), ("score", scores)):
        for item in table.values():
            for code in item.codes:
                out[code] = (kind, item.id)
    return out


def _drug_codes(drugs: dict[str, DrugDef]) -> dict[Code, frozenset[str]]:
    out: dict[Code, set[str]] = {}
    for drug in drugs.values():
        for code in drug.codes:
            out.setdefault(code, set()).add(drug.id)
    return {code: frozenset(ids) for code, ids in out.items()}


def _first_error(exc: ValidationError) -> str:
    """A refusal of the merged mappings names its entry itself; any other error is placed by its location."""
    err = exc.errors()[0]
    if err["type"] == "refused":
        return err["msg"]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"

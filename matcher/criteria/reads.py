"""What a criterion reads: the mapping ids it asks for and how far back, and mappings/ as it may see them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import TypeVar

from matcher.codes.model import Mappings
from matcher.errors import UndeclaredRead

V = TypeVar("V")


class Window(StrEnum):
    """How far back a result is read: a look-back window of mappings/windows.toml, or the whole record."""

    organ_function = "organ_function"
    body_weight = "body_weight"
    ecg = "ecg"
    disease_activity = "disease_activity"
    infection_serology = "infection_serology"
    pregnancy_test = "pregnancy_test"
    autoantibodies = "autoantibodies"
    whole_record = "whole record"

    def days(self, m: Mappings) -> int | None:
        """Days before as_of; None for the whole record."""
        if self is Window.whole_record:
            return None
        days: int = getattr(m.windows, self.value)
        return days


#: a window of mappings/windows.toml, the whole record, or a number of days the protocol itself sets
Lookback = Window | int


class Reads:
    """The ids one criterion reads (value sets, drug sets, analytes, scores, ULN and threshold ids) and, for
    each analyte and score, the look-back windows it reads it over."""

    __slots__ = ("analytes", "drugsets", "scores", "thresholds", "uln", "units", "valuesets")

    def __init__(
        self,
        *,
        valuesets: Iterable[str] = (),
        drugsets: Iterable[str] = (),
        analytes: Mapping[str, Lookback | tuple[Lookback, ...]] | None = None,
        scores: Mapping[str, Lookback | tuple[Lookback, ...]] | None = None,
        uln: Iterable[str] = (),
        thresholds: Iterable[str] = (),
        units: Mapping[str, str] | None = None,
    ) -> None:
        self.valuesets = frozenset(valuesets)
        self.drugsets = frozenset(drugsets)
        self.analytes = {k: _lookbacks(v) for k, v in (analytes or {}).items()}
        self.scores = {k: _lookbacks(v) for k, v in (scores or {}).items()}
        self.uln = frozenset(uln)
        self.thresholds = frozenset(thresholds)
        #: analyte -> the unit a formula converts it into (the trial checks at start-up that it converts)
        self.units = dict(units or {})

    def __or__(self, other: Reads) -> Reads:
        return Reads(
            valuesets=self.valuesets | other.valuesets,
            drugsets=self.drugsets | other.drugsets,
            analytes=_merged(self.analytes, other.analytes),
            scores=_merged(self.scores, other.scores),
            uln=self.uln | other.uln,
            thresholds=self.thresholds | other.thresholds,
            units={**self.units, **other.units},
        )

    def lookback_days(self, m: Mappings) -> dict[str, int | None]:
        """The longest look-back of each analyte and score, in days; None means the whole record."""
        out: dict[str, int | None] = {}
        for item, lookbacks in (*self.analytes.items(), *self.scores.items()):
            days = [lb.days(m) if isinstance(lb, Window) else lb for lb in lookbacks]
            bounded = [d for d in days if d is not None]
            out[item] = max(bounded) if len(bounded) == len(days) else None
        return out


#: what a criterion that reads nothing from mappings/ declares (age, consent ...)
NOTHING = Reads()


def _lookbacks(value: Lookback | tuple[Lookback, ...]) -> tuple[Lookback, ...]:
    return value if isinstance(value, tuple) else (value,)


def _merged(
    a: Mapping[str, tuple[Lookback, ...]], b: Mapping[str, tuple[Lookback, ...]]
) -> dict[str, tuple[Lookback, ...]]:
    out = dict(a)
    for item, lookbacks in b.items():
        out[item] = tuple(dict.fromkeys((*out.get(item, ()), *lookbacks)))
    return out


class Declared(Mapping[str, V]):
    """One table of mappings/ in which a criterion can read only the ids it declared."""

    __slots__ = ("_ids", "_kind", "_reader", "_table")

    def __init__(self, table: Mapping[str, V], ids: Iterable[str], kind: str, reader: str) -> None:
        self._table, self._ids, self._kind, self._reader = table, frozenset(ids), kind, reader

    def __getitem__(self, key: str) -> V:
        if key not in self._ids:
            raise UndeclaredRead(self._reader, self._kind, key)
        return self._table[key]

    def __contains__(self, key: object) -> bool:
        if key not in self._ids:
            raise UndeclaredRead(self._reader, self._kind, str(key))
        return key in self._table

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._table if k in self._ids)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DeclaredMappings:
    """mappings/ as one criterion sees it: the ids it declared, and the tables it reads without an id."""

    def __init__(self, m: Mappings, reads: Reads, reader: str) -> None:
        #: the whole of mappings/, for building the view of another criterion
        self.mappings = m
        self.reader = reader
        self.analytes = Declared(m.analytes, reads.analytes, "analyte", reader)
        self.scores = Declared(m.scores, reads.scores, "score", reader)
        self.uln = Declared(m.uln, reads.uln, "uln", reader)
        self.thresholds = Declared(m.thresholds, reads.thresholds, "threshold", reader)
        self.drugsets = Declared(m.drugsets, reads.drugsets, "drugset", reader)
        self.windows = m.windows
        self.answers = m.answers
        self.drugs = m.drugs
        self.drug_codes = m.drug_codes
        self.sex_codes = m.sex_codes
        self.sex_words = m.sex_words
        self._valuesets = reads.valuesets
        self._days = reads.lookback_days(m)

    def drugs_in(self, drugset: str) -> frozenset[str]:
        return frozenset(self.drugsets[drugset].drugs)

    def check_valueset(self, valueset: str) -> None:
        if valueset not in self._valuesets:
            raise UndeclaredRead(self.reader, "valueset", valueset)

    def check_results(self, item: str, window: int) -> None:
        """Results of `item` read `window` days back: declared, and no further back than declared (the horizon
        drops older results before evaluation)."""
        if item not in self._days:
            raise UndeclaredRead(self.reader, "result", item)
        longest = self._days[item]
        if longest is not None and window > longest:
            raise UndeclaredRead(self.reader, "result", item, f"read {window} days back, declared {longest}")

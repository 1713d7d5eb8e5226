"""Units: which UCUM unit a FHIR Quantity carries, and conversion to an analyte's canonical unit.

UCUM codes are parsed, not looked up: `ucumvert` reads a code with the UCUM grammar into a `pint`
quantity, and a conversion is the ratio of two such quantities when their dimensions agree. So
every valid spelling of a unit converts (`mg/dl`, `mg/dL`, `mg/(100.mL)`, `10.mg/L` ...), and a
code that is not valid UCUM, or whose dimension is not the analyte's, converts to nothing.

Three rules stricter than pint's arithmetic keep a conversion from being a guess:

- an arbitrary unit (UCUM `isArbitrary`: `[IU]`, `[arb'U]`, `[CFU]` ...) converts only to itself
  (prefixes and the rest of the unit still scale: `m[IU]/mL` = `[IU]/L`), never to a number or to
  another arbitrary unit: each is given a dimension of its own;
- annotations (`{1.73_m2}`, `{37Cel}`) must be the same on both sides: UCUM ignores them in
  arithmetic, but mL/min and mL/min/{1.73_m2} do not measure the same clearance;
- mass and amount of substance convert only through the analyte's molar mass (mappings/labs.toml,
  with its source); a unit UCUM cannot relate to the canonical one at all (U/L and [IU]/L of an
  enzyme activity) converts only through the analyte's `equivalents` there.

Every parse and every factor is cached: they run for each Observation of every patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pint
import ucumvert  # type: ignore[import-untyped]
from lark import Lark, Token, Tree
from lark.exceptions import LarkError
from ucumvert.xml_util import get_units_with_full_definition, root  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from matcher.codes.model import AnalyteDef

UCUM = "http://unitsofmeasure.org"
#: the unit of molar masses in mappings/labs.toml
MOLAR_MASS_UNIT = "g/mol"
#: longer codes are refused unread: no unit of a laboratory result is that long, and parsing time grows with length
MAX_CODE_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Unit:
    """A parsed UCUM code: its size and dimension as a pint quantity, and its annotations."""

    code: str
    quantity: Any  # pint.Quantity
    annotations: tuple[str, ...]


class _ToPint(ucumvert.UcumToPintTransformer):  # type: ignore[misc]
    """ucumvert's transformer, with a dimension of its own for each arbitrary unit and annotations as 1."""

    def __init__(
        self, ureg: pint.UnitRegistry[Any], arbitrary: Mapping[str, str], prefixes: Mapping[str, float]
    ) -> None:
        super().__init__(ureg)
        self.arbitrary, self.prefixes = arbitrary, prefixes

    def simple_unit(self, args: list[Token]) -> Any:
        name = self.arbitrary.get(str(args[-1]))
        if name is None:
            return super().simple_unit(args)
        scale = self.prefixes[str(args[0])] if len(args) == 2 else 1.0
        return self.ureg.Quantity(scale, name)

    def main_term(self, args: list[Any]) -> Any:
        out = super().main_term(args)
        return self.ureg.Quantity(1, "dimensionless") if isinstance(out, Token) else out  # only an annotation


@cache
def _reader() -> tuple[Lark, _ToPint]:
    """The UCUM parser and a pint registry holding UCUM's units (built once, on first use: ~0.3 s)."""
    ureg: pint.UnitRegistry[Any] = pint.UnitRegistry()
    ureg.load_definitions(Path(ucumvert.__file__).resolve().parent / "pint_ucum_defs.txt")
    units = [u for u in get_units_with_full_definition() if u.is_arbitrary]
    codes = {u.code_cs for u in units}
    # [IU] is defined as 1 [iU]: one arbitrary unit under two codes shares one dimension
    same = {
        u.code_cs: u.defining_unit if u.defining_unit in codes and float(u.conversion_factor) == 1 else u.code_cs
        for u in units
    }
    names = {code: f"ucum_arbitrary_{i}" for i, code in enumerate(sorted(set(same.values())))}
    for name in names.values():
        ureg.define(f"{name} = [{name}]")
    arbitrary = {code: names[base] for code, base in same.items()}
    prefixes = {p.attrib["Code"]: float(p.find("{*}value").attrib["value"]) for p in root.findall(".//{*}prefix")}
    return ucumvert.get_ucum_parser(), _ToPint(ureg, arbitrary, prefixes)


@lru_cache(maxsize=2048)
def parse(code: str) -> Unit | None:
    """The UCUM code read into a pint quantity; None when it is not valid UCUM (case-sensitive)."""
    if not code or len(code) > MAX_CODE_LENGTH or code != code.strip():
        return None
    parser, to_pint = _reader()
    try:
        tree = ucumvert.parse_ucum(code, parser)
        quantity = to_pint.transform(tree)
    except (LarkError, pint.PintError, ValueError, TypeError):
        return None
    annotations = tuple(sorted(str(t) for t in tree.scan_values(_is_annotation))) if isinstance(tree, Tree) else ()
    return Unit(code, quantity, annotations)


def _is_annotation(value: object) -> bool:
    return isinstance(value, Token) and value.type == "ANNOTATION"


def is_ucum(code: str) -> bool:
    return parse(code) is not None


@lru_cache(maxsize=4096)
def factor(unit: str, to_unit: str, molar_mass: float | None = None, *, annotations: bool = True) -> float | None:
    """What a value in `unit` is multiplied by to be in `to_unit`; None when UCUM does not relate them.

    With `molar_mass` (g/mol), a mass and an amount of substance convert into each other. With
    `annotations=False`, units that differ only in their annotations are related too.
    """
    src, dst = parse(unit), parse(to_unit)
    if src is None or dst is None or (annotations and src.annotations != dst.annotations):
        return None
    try:
        q, target = src.quantity, dst.quantity
        if q.dimensionality != target.dimensionality and molar_mass:
            mass = _reader()[1].ureg.Quantity(molar_mass, MOLAR_MASS_UNIT)
            q = next((c for c in (q * mass, q / mass) if c.dimensionality == target.dimensionality), q)
        if q.dimensionality != target.dimensionality:
            return None
        ratio = float((q / target).to("dimensionless").magnitude)
    except (pint.PintError, ValueError, TypeError, ZeroDivisionError):
        return None  # e.g. offset units (Cel) and logarithmic ones, which do not scale
    return ratio if ratio > 0 else None


@lru_cache(maxsize=4096)
def to_canonical(
    unit: str, canonical: str, equivalents: tuple[tuple[str, float], ...] = (), molar_mass: float | None = None
) -> float | None:
    """The factor from `unit` to an analyte's canonical unit: by UCUM, else through one of its equivalents."""
    direct = factor(unit, canonical, molar_mass)
    if direct is not None:
        return direct
    for other, times in equivalents:
        via = factor(unit, other, molar_mass)
        if via is not None:
            return via * times
    return None


def resolve_unit(code: str | None, unit: str | None, system: str | None, aliases: Mapping[str, str]) -> str | None:
    """The UCUM code of a Quantity, or None when it has none that trialmatch can trust.

    The UCUM `code` is taken as written (UCUM is case-sensitive; an invalid one converts to nothing
    later). Without one, the human `unit` string is accepted only when it is an exact alias from
    mappings/ or is itself valid UCUM: a unit is never guessed.
    """
    if code and (system is None or system == UCUM):
        return code
    if unit:
        if unit in aliases:
            return aliases[unit]
        if is_ucum(unit):
            return unit
    return None


def analyte_factor(analyte: AnalyteDef, unit: str | None) -> float | None:
    """The factor from `unit` to the analyte's canonical unit; None without a unit or when it does not convert."""
    if unit is None or analyte.unit is None:
        return None
    return to_canonical(unit, analyte.unit, analyte.equivalents, analyte.molar_mass)


def convert(analyte: AnalyteDef, value: float, unit: str | None) -> float | None:
    """`value` in `unit` expressed in the analyte's canonical unit, or None when the unit is not convertible."""
    times = analyte_factor(analyte, unit)
    return None if times is None else value * times


def convert_between(analyte: AnalyteDef, value: float, unit: str, to_unit: str) -> float | None:
    """`value` from `unit` to `to_unit`, both units of one analyte; None when either does not convert."""
    src, dst = analyte_factor(analyte, unit), analyte_factor(analyte, to_unit)
    if src is None or dst is None:
        return None
    return value * src / dst

"""Code lists as data: mappings/ loaded and validated at start-up into one immutable `Mappings`, and what it holds.

The package exports the loader, the runtime definitions the record builder and criteria consult, and the
questions they ask of them: value-set membership, what an answer means, which drugs a text names, unit
conversion. The TOML schema (`matcher.codes.schema`) is the loader's own business.
"""

from matcher.codes.answers import AnswerBook, Polarity
from matcher.codes.loader import default_mappings_dir, load_mappings
from matcher.codes.model import (
    AnalyteDef,
    Code,
    DrugDef,
    DrugSetDef,
    Mappings,
    Provenance,
    ScoreDef,
    Sex,
    SexLimit,
    Windows,
)
from matcher.codes.names import DrugNames, NameHit
from matcher.codes.units import convert, convert_between
from matcher.codes.valuesets import Tier, ValueSetIndex

__all__ = [
    "AnalyteDef",
    "AnswerBook",
    "Code",
    "DrugDef",
    "DrugNames",
    "DrugSetDef",
    "Mappings",
    "NameHit",
    "Polarity",
    "Provenance",
    "ScoreDef",
    "Sex",
    "SexLimit",
    "Tier",
    "ValueSetIndex",
    "Windows",
    "convert",
    "convert_between",
    "default_mappings_dir",
    "load_mappings",
]

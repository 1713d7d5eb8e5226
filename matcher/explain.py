"""Findings and worklist needs in words, in English or Chinese; the criteria only produce message ids and parameters.

The words live in gettext catalogues (`matcher/locale/<lang>/LC_MESSAGES/trialmatch.po`, read with
Babel), one per language, keyed by message id, so that a clinician corrects a translation with any PO
editor and no Python. The ids are those the criteria say (`lab.vs_uln`), the worklist's (`need.*`),
the reasons a result or a reference range could not be used (`unusable.*`, `range.*`), short names
of analytes, scores, value sets and cohorts (`name.<id>`), and the fragments some templates are built
from (`derived.*`, `sex.*`, `uln_source.*`, `list.*`). The report's own labels share the catalogues.

A reason is not a finding of its own but a part of one: the finding carries it flattened into its
parameters, so that every parameter stays a scalar (findings[].params in the JSON):

    Finding("result.unusable", {"item": "alt", "date": "2026-06-28",
                                "why": "unusable.status", "why_status": "preliminary"})

`why` is the reason's id and `why_<name>` its parameter `name`; a reason without parameters is
`why` alone (`"why": "range.unclear"`). A `why` whose value is a reason id is rendered with that
template from the `why_` parameters, and the result takes its place in the finding's template
("ALT on 2026-06-28 cannot be used: its status is preliminary"); any other `why` (the reason a
therapy was stopped, in the record's own words) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po

from matcher.outcome import CriterionResult, Finding, Need, Param

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: parameters that name an id of mappings/ (an analyte, a score, a value set, a drug, a cohort)
_NAMED = ("item", "cohort", "therapy", "instead")
#: parameters whose value is a FHIR code or a fixed word ('positive', 'resolved', 'not-taken', 'undated'):
#: shown as the catalogue's `value.<code>` in the reader's language, else as written
_VALUED = ("polarity", "clinical", "verification", "state", "kind", "date", "source", "status")
#: the prefix of a nested reason's parameters (see the module docstring)
_WHY = "why_"


class MissingMessage(KeyError):
    """A message id that the language's catalogue does not hold."""


@cache
def catalogue(lang: Lang = "en") -> Mapping[str, str]:
    """Message id -> template of one language, read once from its PO file."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "trialmatch.po"
    with path.open("rb") as f:
        po = read_po(f, locale=lang)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def text(key: str, lang: Lang = "en", **params: Param) -> str:
    """One catalogue entry, its `{placeholders}` filled from `params` as they are."""
    try:
        template = catalogue(lang)[key]
    except KeyError:
        raise MissingMessage(f"{key} has no {lang} text in {LOCALE_DIR / lang}") from None
    return template.format(**params) if params else template


def name(item: str, lang: Lang = "en") -> str:
    """The short name of a mappings id ('alt' -> 'ALT'); an id without one reads as words (drug ids)."""
    return catalogue(lang).get(f"name.{item}", item.replace("_", " "))


def _ratio(params: Mapping[str, Param], lang: Lang) -> str:
    """One decimal, unless rounding would make a ratio look equal to the limit it crosses."""
    ratio, factor = params.get("ratio"), params.get("factor")
    if not isinstance(ratio, int | float):
        return ""
    shown = f"{ratio:.1f}"
    if isinstance(factor, int | float) and float(shown) == factor and ratio != factor:
        shown = f"{ratio:.2f}" if round(ratio, 2) != factor else f"{ratio:.3f}"
    return shown


def _threshold(params: Mapping[str, Param], lang: Lang) -> str:
    return text("derived.threshold", lang, op=params["op"], minimum=params["minimum"]) if params.get("op") else ""


def _until(params: Mapping[str, Param], lang: Lang) -> str:
    if params.get("ongoing"):
        return text("derived.until_ongoing", lang)
    return text("derived.until_end", lang, end=params["end"]) if params.get("end") else ""


def _why(params: Mapping[str, Param], lang: Lang) -> str:
    why = params.get("why")
    return text("derived.why_stated", lang, why=why) if why else text("derived.why_unstated", lang)


def _range(params: Mapping[str, Param], lang: Lang) -> str:
    """'low-high' of an instrument's range; an open bound (None) is infinite."""
    low, high = params.get("low"), params.get("high")
    low = low if isinstance(low, int | float) else float("-inf")
    high = high if isinstance(high, int | float) else float("inf")
    return f"{low:g}-{high:g}"


#: parameters computed from others, for templates that read differently by case
DERIVED: dict[str, Callable[[Mapping[str, Param], Lang], str]] = {
    "ratio_text": _ratio,
    "threshold_text": _threshold,
    "until": _until,
    "why_text": _why,
    "range_text": _range,
}


def _uln_source(value: str, params: Mapping[str, Param], lang: Lang) -> str:
    if value == "default" and params.get("sex") in ("male", "female"):
        return text("uln_source.default_sex", lang, sex=text(f"sex.{params['sex']}", lang))
    return catalogue(lang).get(f"uln_source.{value}", value)


def _params(params: Mapping[str, Param], lang: Lang) -> dict[str, Param]:
    out: dict[str, Param] = {}
    for key, value in params.items():
        if key == "why" and isinstance(value, str) and value in catalogue(lang):
            nested = {k[len(_WHY) :]: v for k, v in params.items() if k.startswith(_WHY)}
            out[key] = render_reason(value, nested, lang)
        elif key in _NAMED and isinstance(value, str):
            out[key] = name(value, lang)
        elif key == "scores" and isinstance(value, str):
            out[key] = text("list.comma", lang).join(name(v, lang) for v in value.split(","))
        elif key == "uln_source" and isinstance(value, str):
            out[key] = _uln_source(value, params, lang)
        elif key in _VALUED and isinstance(value, str):
            out[key] = catalogue(lang).get(f"value.{value}", value)
        elif key == "sex":
            out[key] = text(f"sex.{value}" if value in ("male", "female") else "sex.unknown", lang)
        else:
            out[key] = "" if value is None else value
    for key, derive in DERIVED.items():
        out[key] = derive(params, lang)
    return out


def render(finding: Finding, lang: Lang = "en") -> str:
    return text(finding.message, lang, **_params(finding.params, lang))


def render_need(need: Need, lang: Lang = "en") -> str:
    return text(need.message, lang, **_params(need.params, lang))


def render_reason(message: str, params: Mapping[str, Param], lang: Lang = "en") -> str:
    """A reason (`unusable.*`, `range.*`) with its own parameters, as it reads inside a finding."""
    return text(message, lang, **_params(params, lang))


#: the order findings take in a reason: what decides first
_ORDER = {"fail": 0, "unknown": 1, "review": 2, "pass": 3, None: 4}


def reason(result: CriterionResult, texts: list[str] | None = None, lang: Lang = "en") -> str:
    """The criterion's reason: its findings, most severe first, joined into one line.

    `texts` are the findings already rendered (in their own order), to render each only once.
    """
    rendered = texts if texts is not None else [render(f, lang) for f in result.findings]
    order = sorted(range(len(result.findings)), key=lambda i: _ORDER[result.findings[i].status])
    return text("list.separator", lang).join(rendered[i] for i in order)

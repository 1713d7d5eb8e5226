"""The report as one self-contained HTML page: Jinja2 templates, autoescaped, styles and charts inline."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape

from matcher.explain import Lang, text
from matcher.report.view import PatientView, ReportView


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("matcher.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> str:
    return files("matcher.report").joinpath("templates/report.css").read_text(encoding="utf-8")


def who(p: PatientView, lang: Lang) -> str:
    """'MRN 0012, 45 y, female': besides the name, what a coordinator needs to find the patient."""
    person = p.person
    parts: list[str] = []
    if person and person.mrn:
        parts.append(f"{text('ui.mrn', lang)} {person.mrn}")
    if p.age is not None:
        parts.append(text("ui.age_years", lang, age=p.age))
    if person and person.sex in ("male", "female"):
        parts.append(text(f"sex.{person.sex}", lang))
    return text("list.comma", lang).join(parts)


def render_html(view: ReportView) -> str:
    lang = view.lang

    def t(key: str, **params: object) -> str:
        return text(key, lang, **params)  # type: ignore[arg-type]

    template = _environment().get_template("report.html.j2")
    return template.render(v=view, run=view.data.run, t=t, who=lambda p: who(p, lang), css=_css())

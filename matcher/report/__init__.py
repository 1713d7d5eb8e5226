"""The coordinator report: whom to call first and why, in English or Chinese, as HTML, CSV or PDF."""

from __future__ import annotations

from typing import Literal

from matcher.explain import Lang
from matcher.report.csv_out import render_csv
from matcher.report.data import PatientEntry, Person, ReportData, RunInfo
from matcher.report.html import render_html
from matcher.report.view import ReportView, build

Format = Literal["html", "csv", "pdf"]
FORMATS: tuple[Format, ...] = ("html", "csv", "pdf")

__all__ = [
    "FORMATS",
    "Format",
    "PatientEntry",
    "Person",
    "ReportData",
    "ReportView",
    "RunInfo",
    "build",
    "render",
    "render_csv",
    "render_html",
]


def render(data: ReportData, fmt: Format = "html", lang: Lang = "en") -> bytes:
    """The report of one stored night in one format and language."""
    view = build(data, lang)
    if fmt == "csv":
        return render_csv(view)
    html = render_html(view)
    if fmt == "pdf":
        from matcher.report.pdf import render_pdf  # noqa: PLC0415  WeasyPrint loads Pango: only when asked

        return render_pdf(html)
    return html.encode("utf-8")

"""The call list as a spreadsheet: one row per evaluated patient, UTF-8 with a BOM so that Excel reads Chinese."""

from __future__ import annotations

import csv
import io

from matcher.explain import text
from matcher.report.view import ReportView

COLUMNS = (
    "rank", "verdict", "cohort", "score", "name", "mrn", "birth_date", "age", "sex", "patient",
    "todo", "orders", "fails",
)  # fmt: skip


def render_csv(view: ReportView) -> bytes:
    lang = view.lang
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([text(f"ui.csv.{c}", lang) for c in COLUMNS])
    sep = text("list.separator", lang)
    for p in view.patients:
        person = p.person
        writer.writerow(
            [
                p.rank,
                p.verdict_label,
                p.cohort_label,
                f"{p.score:.2f}",
                person.name if person and person.name else "",
                person.mrn if person and person.mrn else "",
                person.birth_date if person and person.birth_date else "",
                "" if p.age is None else p.age,
                text(f"sex.{person.sex}", lang) if person and person.sex in ("male", "female") else "",
                p.patient,
                sep.join(i.text for i in p.todo),
                sep.join(f"{i.text} [{', '.join(i.codes)}]" for i in p.orders),
                sep.join(f"{text(f'criterion.{i.criterion}', lang)}: {i.text}" for i in p.fails),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")

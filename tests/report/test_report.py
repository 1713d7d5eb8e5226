"""The coordinator report of a stored night: its content in both languages, the CSV and the PDF."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from matcher.explain import LANGUAGES, text
from matcher.report import render
from matcher.report.data import PatientEntry, Person, ReportData
from matcher.report.deidentify import deidentify, pseudonym
from matcher.report.funnel import GROUPS
from matcher.report.html import render_html
from matcher.report.view import build


def evaluated(data: ReportData) -> list[PatientEntry]:
    return [p for p in data.patients if p.state == "evaluated" and p.result]


def test_the_night_is_read_back_with_who_each_patient_is(night):
    assert night.run.as_of == date(2026, 9, 30)
    people = [p.person for p in evaluated(night)]
    assert people and all(p is not None and p.name and p.fhir_id.startswith("Patient/") for p in people)
    assert all(p is not None and p.mrn for p in people)  # the identifier of type MR (fixtures and Synthea)
    assert sum(p is not None and p.birth_date is not None and p.sex is not None for p in people) >= len(people) - 2
    assert night.changes is not None  # a first night has nothing to compare with; this is the second


@pytest.mark.parametrize("lang", LANGUAGES)
def test_funnel_counts_equal_the_stored_results(night, lang):
    view = build(night, lang)
    results = [p.result for p in evaluated(night) if p.result]
    assert view.funnel.screened == len(results) == view.counts["screened"]
    remaining = results
    for stage, (key, ids) in zip(view.funnel.stages, GROUPS, strict=True):
        kept = [r for r in remaining if not any(c["status"] == "fail" and c["id"] in ids for c in r["criteria"])]
        assert (stage.key, stage.remaining, stage.removed) == (key, len(kept), len(remaining) - len(kept))
        remaining = kept
    ineligible = sum(r["verdict"] == "ineligible" for r in results)
    assert view.funnel.stages[-1].remaining == len(results) - ineligible
    fails = {c["id"] for r in results for c in r["criteria"] if c["status"] == "fail"}
    assert {cid for cid, _, _ in view.funnel.reasons} <= fails
    for cid, _, count in view.funnel.reasons:
        assert count == sum(any(c["id"] == cid and c["status"] == "fail" for c in r["criteria"]) for r in results)
    by_cohort = {cid: sum(counts.values()) for cid, _, counts in view.funnel.cohorts}
    assert sum(by_cohort.values()) == len(results)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_patient_and_every_criterion_appears(night, lang):
    page = render(night, "html", lang).decode("utf-8")
    for entry in evaluated(night):
        assert f'id="p-{entry.patient_id}"' in page
        assert entry.result is not None
        for c in entry.result["criteria"]:
            assert text(f"criterion.{c['id']}", lang) in page
    assert text("ui.title", lang) in page


def test_the_call_list_puts_eligible_first_then_least_left_to_do(night):
    view = build(night, "en")
    verdicts = [p.verdict for p in view.calls]
    assert verdicts == sorted(verdicts, key=["eligible", "possibly_eligible"].index)
    possible = [len(p.todo) for p in view.calls if p.verdict == "possibly_eligible"]
    assert possible == sorted(possible)
    assert all(p.todo for p in view.calls if p.verdict == "possibly_eligible")  # each says what is left
    assert all(len(p.fails) == 1 for p in view.near_misses)


def test_the_chinese_page_speaks_chinese(night):
    page = render(night, "html", "zh").decode("utf-8")
    assert "筛选" in page and "系统性红斑狼疮" in page
    body = re.sub(r"<style>.*?</style>|<svg.*?</svg>|<code>.*?</code>", "", page, flags=re.S)
    # no English sentence of the catalogue leaks into the Chinese page (names and codes may be Latin)
    for english in ("Whom to call", "What changed", "read the chart before", "nothing is recorded", "a person should"):
        assert english not in body


def test_changes_since_the_previous_night_are_listed(night):
    view = build(night, "en")
    assert night.changes is not None
    listed = sum(len(v) for k, v in night.changes.items() if isinstance(v, list))
    assert len(view.changes) == listed


def test_patient_supplied_text_is_escaped(night):
    entry = evaluated(night)[0]
    hostile = replace(entry, person=Person(entry.patient_id, name='<script>alert("x")</script>', mrn="<b>1</b>"))
    page = render_html(build(replace(night, patients=(hostile, *night.patients[1:])), "en"))
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<b>1</b>" not in page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_csv_opens_with_one_row_per_patient(night, lang):
    data = render(night, "csv", lang)
    assert data.startswith("\ufeff".encode())  # Excel reads UTF-8 (and Chinese) only after a BOM
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == len(evaluated(night)) and all(len(r) == len(header) for r in body)
    assert {r[9] for r in body} == {p.result["patient"] for p in evaluated(night) if p.result}
    names = {p.person.name for p in evaluated(night) if p.person}
    assert {r[4] for r in body} == names


def test_the_pdf_embeds_chinese(night, tmp_path: Path):
    small = replace(night, patients=night.patients[:6])  # layout time grows with the page
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(small, "pdf", "zh"))
    assert pdf.read_bytes().startswith(b"%PDF")
    extracted = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert text("ui.title", "zh") in extracted
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts and all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # embedded


def test_deidentified_reports_carry_no_names_mrns_or_ids(night):
    secret = b"site-secret"
    shared = deidentify(night, secret)
    page = render(shared, "html", "en").decode("utf-8")
    sheet = render(shared, "csv", "en").decode("utf-8-sig")
    for entry in evaluated(night):
        assert entry.person is not None and entry.person.name
        for leak in (entry.person.name, entry.patient_id, entry.person.birth_date):
            assert leak is None or (leak not in page and leak not in sheet)
        alias = pseudonym(entry.patient_id, secret)
        assert alias in page and alias == pseudonym(entry.patient_id, secret)  # stable night after night
    assert pseudonym("123", b"a") != pseudonym("123", b"b")
    with pytest.raises(ValueError, match="secret"):
        deidentify(night, b"")

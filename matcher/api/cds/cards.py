"""CDS Hooks cards from a MatchResult: none when ineligible, one info card for a (possible) candidate."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from matcher import __version__
from matcher.report.data import PatientEntry, Person, ReportData, RunInfo
from matcher.report.view import PatientView, build
from matcher.trial import TRIAL_ID

#: the longest summary: the specification asks for fewer than 140 characters
SUMMARY_MAX = 139
OVERRIDE_SYSTEM = "urn:trialmatch:cds-override"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("patient-declined", "Patient does not wish to take part in a trial"),
    ("not-appropriate", "Trial not appropriate for this patient (clinical judgement)"),
    ("already-known", "Already known to the study team"),
    ("record-wrong", "The record the card is based on is wrong or out of date"),
)
TOPIC = {"system": "urn:trialmatch:cds-topic", "code": "trial-candidate", "display": "Clinical trial candidate"}
TRIAL_URL = f"https://clinicaltrials.gov/study/{TRIAL_ID}"
#: short cohort names for a summary line
SHORT = {"sle": "SLE", "iim": "IIM", "ssc": "SSc", "pemphigus": "pemphigus", "psoriasis": "psoriasis",
         "ra": "RA", "aav": "AAV"}  # fmt: skip


def report_data(
    result: dict[str, Any], as_of: date, source: str, digest: str = "", person: Person | None = None
) -> ReportData:
    """A one-patient ReportData for a live evaluation (no stored run behind it)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    run = RunInfo(
        id="live",
        trial=TRIAL_ID,
        as_of=as_of,
        status="complete",
        source=source,
        started_at=now,
        finished_at=now,
        matcher_version=__version__,
        mappings_digest=digest,
    )
    pid = str(result["patient"]).removeprefix("Patient/")
    return ReportData(run=run, patients=(PatientEntry(pid, "evaluated", result, person),))


def cards(result: dict[str, Any], as_of: date, page_url: str) -> list[dict[str, Any]]:
    """The cards for one MatchResult (CONTRACT.md JSON); `page_url`: the patient's page, absolute."""
    if result["verdict"] not in ("eligible", "possibly_eligible"):
        return []
    view = build(report_data(result, as_of, "CDS Hooks"), "en")
    patient = view.calls[0]
    return [
        {
            "uuid": str(uuid.uuid4()),
            "summary": summary(patient),
            "detail": detail(patient),
            "indicator": "info",
            "source": {"label": f"trialmatch · {TRIAL_ID}", "url": TRIAL_URL, "topic": TOPIC},
            "suggestions": [
                {
                    "label": f"Refer to the {TRIAL_ID} study team",
                    "uuid": str(uuid.uuid4()),
                    "isRecommended": True,
                }
            ],
            "selectionBehavior": "at-most-one",
            "overrideReasons": [{"system": OVERRIDE_SYSTEM, "code": c, "display": d} for c, d in OVERRIDE_REASONS],
            "links": [
                {"label": "Eligibility, criterion by criterion (trialmatch)", "url": page_url, "type": "absolute"}
            ],
        }
    ]


def summary(p: PatientView) -> str:
    """'Possible candidate for NCT07161193 (SLE): 2 tests to order', under 140 characters."""
    cohort = SHORT.get(p.cohort or "", p.cohort or "no cohort")
    if p.verdict == "eligible":
        line = f"Candidate for {TRIAL_ID} ({cohort}): only the screening visit's checks remain"
    else:
        charts = sum(1 for i in p.todo if i.kind == "chart")
        tests = len(p.orders)
        other = sum(1 for i in p.todo if i.kind == "unknown" and not i.codes)
        parts = [
            _count(tests, "test to order", "tests to order"),
            _count(charts, "chart to read", "charts to read"),
            _count(other, "record to find", "records to find"),
        ]
        left = ", ".join(x for x in parts if x) or "to be checked"
        line = f"Possible candidate for {TRIAL_ID} ({cohort}): {left}"
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def detail(p: PatientView) -> str:
    """The card's markdown: verdict and cohort, what is unknown or under chart review, the tests to order."""
    lines = [f"**{_md(p.verdict_label)}** · {_md(p.cohort_label)} · score {p.score:.2f}", ""]
    ordered = {i.text for i in p.orders}
    unknown = [i for i in p.todo if i.text not in ordered]
    if unknown or ordered:
        lines += ["**Unknown or under chart review**", ""]
        lines += [f"- {_md(i.text)}" + (" (chart review)" if i.kind == "chart" else "") for i in unknown]
        if ordered:
            lines.append(
                f"- {_count(len(ordered), 'result', 'results')} missing or out of date: see the tests to order"
            )
        lines.append("")
    if p.orders:
        lines += ["**Tests to order**", ""]
        lines += [f"- {_md(i.text)}: {', '.join(f'`{c}`' for c in i.codes)}" for i in p.orders]
        lines.append("")
    if p.screening:
        lines += ["**At the screening visit**", ""]
        lines += [f"- {_md(i.text)}" for i in p.screening]
    return "\n".join(lines).strip()


def _count(n: int, one: str, many: str) -> str:
    return "" if n == 0 else f"{n} {one if n == 1 else many}"


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


def _md(text: str) -> str:
    """Text from the record, with markdown's active characters escaped (no links or HTML slip in)."""
    return _MARKDOWN.sub(r"\\\1", text)

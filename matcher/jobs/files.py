"""The files a nightly run leaves for people and other systems: candidates, changes, summary, a short report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from matcher.jobs.diff import render
from matcher.jobs.nightly import NightResult
from matcher.trial import TRIAL_ID


def write_atomically(path: Path, data: bytes) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ranked_json(night: NightResult) -> dict[str, Any]:
    return {"trial": TRIAL_ID, "as_of": night.run.as_of.isoformat(), "candidates": night.candidates}


def write_run_files(night: NightResult) -> list[Path]:
    folder = night.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    run = night.run
    about = {
        "run": run.id,
        "batch": run.batch,
        "status": run.status,
        "as_of": run.as_of.isoformat(),
        "source": run.source,
        "matcher": run.matcher_version,
        "mappings": run.mappings_digest,
        "summary": night.summary,
    }
    files = {
        "candidates.json": ranked_json(night),
        "summary.json": about,
        "changes.json": night.changes.as_json() if night.changes else None,
    }
    written = []
    for name, payload in files.items():
        path = folder / name
        write_atomically(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    report = folder / "report.txt"
    write_atomically(report, _report(night).encode())
    written.append(report)
    return written


def open_items(result: dict[str, Any]) -> list[str]:
    """What is left to do for one patient, each once: the charts to read, then the tests and records to get."""
    seen: dict[str, list[str]] = {}
    for m in result["missing"]:
        text = ("check: " if m.get("review") == "chart" else "needs: ") + m["need"]
        seen.setdefault(text, []).append(m["criterion"])
    ordered = sorted(seen.items(), key=lambda item: not item[0].startswith("check: "))
    return [f"{text} [{', '.join(criteria)}]" for text, criteria in ordered]


def _failed(result: dict[str, Any]) -> list[str]:
    return [f"{c['id']}: {c['reason']}" for c in result["criteria"] if c["status"] == "fail"]


def _report(night: NightResult) -> str:
    """A plain summary for coordinators (the full report is rendered elsewhere from the same files)."""
    run, s = night.run, night.summary
    lines = [
        f"{TRIAL_ID} nightly run {run.id} ({run.status}) as of {run.as_of.isoformat()}, source {run.source}",
        f"screened {s['screened']} of {s.get('targets', s['screened'])} patients with one of the diseases "
        f"in {s['seconds']} s, "
        f"{s['requests_sent']} FHIR requests, {s['errors']} errors",
        "verdicts: " + (", ".join(f"{k} {v}" for k, v in sorted(s["verdicts"].items())) or "none"),
        "",
        "candidates (eligible first):",
    ]
    for c in night.candidates:
        if c["verdict"] == "ineligible":
            continue
        lines.append(f"  {c['verdict']:<17} {c['cohort'] or '-':<9} {c['score']:.2f}  {c['patient']}")
        lines += [f"      {item}" for item in open_items(c)]
    near = [c for c in night.candidates if c["verdict"] == "ineligible" and len(_failed(c)) == 1]
    lines += ["", "near misses (ineligible on one criterion only):"]
    lines += [f"  {c['cohort'] or '-':<9} {c['patient']}  {_failed(c)[0]}" for c in near] or ["  (none)"]
    lines += ["", "changes since the previous run:", render(night.changes) if night.changes else "  (first run)"]
    return "\n".join(lines) + "\n"

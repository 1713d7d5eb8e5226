"""The shell of the nightly commands: settings in, a run out, files written, one line per fact on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from matcher.codes.model import Mappings
from matcher.errors import ExitCode, InputError, internal_error
from matcher.explain import LANGUAGES, Lang
from matcher.jobs.database import safe_url
from matcher.jobs.diff import diff, render
from matcher.jobs.files import ranked_json, write_atomically, write_run_files
from matcher.jobs.funnel_run import FunnelScreening
from matcher.jobs.models import RunStatus
from matcher.jobs.nightly import Nightly, NightlyOptions, NightResult, Screening
from matcher.jobs.store import Store
from matcher.jobs.wiring import open_job
from matcher.settings import Settings

if TYPE_CHECKING:
    from matcher.report import Format

log = logging.getLogger("trialmatch.jobs")


def run_nightly(args: argparse.Namespace, settings: Settings, mappings: Mappings, dump: Callable[[Any], None]) -> int:
    if args.since and not args.bulk:
        raise InputError("--since applies to --bulk runs only")
    if args.bulk and args.shard != (0, 1):
        raise InputError("--bulk exports the whole hospital once: it does not combine with --shard")
    as_of = args.as_of or date.today()
    out = args.out or settings.work_dir / "report"
    opts = NightlyOptions(
        as_of=as_of,
        out=out,
        group=args.group,
        shard=args.shard,
        resume=args.resume,
        batch=args.batch,
        concurrency=settings.nightly_concurrency,
        mode="bulk" if args.bulk else "funnel",
        since=args.since,
        mrn_system=settings.mrn_system,
    )
    store = Store(settings.database)
    try:
        night = asyncio.run(_run(settings, mappings, store, opts, bulk=args.bulk))
        files = write_run_files(night)
        files += _night_reports(store, night)
    finally:
        store.close()
    dump(ranked_json(night))
    s = night.summary
    print(
        f"trialmatch: run {night.run.id} {night.run.status}: {s['screened']} of {s['targets']} patients screened, "
        f"{s['errors']} errors, {s['requests_sent']} FHIR requests, {s['seconds']} s",
        file=sys.stderr,
    )
    print(f"trialmatch: results stored in {safe_url(settings.database)}", file=sys.stderr)
    print(f"trialmatch: report written to {files[0].parent}", file=sys.stderr)
    return ExitCode.OK if night.complete else ExitCode.INCOMPLETE


async def _run(
    settings: Settings, mappings: Mappings, store: Store, opts: NightlyOptions, *, bulk: bool
) -> NightResult:
    async with open_job(settings, mappings) as parts:
        screening: Screening
        if bulk:
            from matcher.jobs.bulk_run import BulkScreening  # noqa: PLC0415

            screening = BulkScreening(parts, store, mappings, settings)
        else:
            screening = FunnelScreening(parts.source, parts.finder, store, mappings)
        # the batch belongs to its source: another server's run never shares this one's candidates
        return await Nightly(screening, parts.source, store).run(replace(opts, source=parts.source.name))


def list_runs(settings: Settings, limit: int, before: str | None = None) -> str:
    """The latest `limit` runs; with `before` (a run id or prefix), the ones started before that run."""
    store = Store(settings.database)
    try:
        anchor = store.run(before) if before else None
        if before and anchor is None:
            raise InputError(f"no such run: {before}")
        rows = store.runs(limit, before=anchor)
    finally:
        store.close()
    lines = [f"{'run':<36}  {'batch':<28} {'shard':>5}  {'status':<10} {'screened':>8} {'errors':>6}  started"]
    for r in rows:
        s = r.summary or {}
        lines.append(
            f"{r.id}  {r.batch:<28} {r.shard_index}/{r.shard_count:<3}  {r.status:<10} "
            f"{s.get('screened', '-'):>8} {s.get('errors', '-'):>6}  {r.started_at:%Y-%m-%d %H:%M}"
        )
    return "\n".join(lines) + "\n"


def purge_runs(settings: Settings, days: int, now: datetime | None = None) -> str:
    """Delete the runs started more than `days` ago (and their results); say what went."""
    if days < 1:
        raise InputError("--older-than must be at least 1 day")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    store = Store(settings.database)
    try:
        gone = store.purge(cutoff)
    finally:
        store.close()
    return (
        f"trialmatch: purged {gone['runs']} runs started before {cutoff:%Y-%m-%d} "
        f"({gone['results']} patient results, {gone['batches']} candidate lists)"
    )


def show_diff(settings: Settings, ids: list[str], *, as_json: bool) -> str:
    store = Store(settings.database)
    try:
        if len(ids) == 2:
            earlier, latest = store.run(ids[0]), store.run(ids[1])
            if earlier is None or latest is None:
                raise InputError(f"no such run: {ids[0] if earlier is None else ids[1]}")
            before, after = store.batch_results(earlier.batch), store.batch_results(latest.batch)
            compared = f"{earlier.batch} (run {earlier.id[:8]})"
        elif not ids:
            latest = store.latest_run(RunStatus.COMPLETE)
            previous = store.previous_batch(latest) if latest else None
            if latest is None or previous is None:
                raise InputError("fewer than two complete nights are stored: nothing to compare")
            before, after = store.batch_results(previous), store.batch_results(latest.batch)
            compared = previous
        else:
            raise InputError("diff takes two runs, or none (the last two nights)")
        pending = store.batch_targets(latest.batch) - after.keys()
    finally:
        store.close()
    changes = diff(before, after, pending)
    now = f"{latest.batch} (run {latest.id[:8]})"
    if as_json:
        return (
            orjson.dumps({"before": compared, "after": now, **changes.as_json()}, option=orjson.OPT_INDENT_2).decode()
            + "\n"
        )
    return f"comparing {compared} with {now}\n" + render(changes)


def write_report(
    settings: Settings, run_ref: str | None, fmt: Format, lang: Lang, out: Path | None, *, deidentified: bool
) -> Path:
    """The coordinator report of a stored night written to `out` (default WORK_DIR/report/report.LANG.EXT)."""
    from matcher.report import render as render_report  # noqa: PLC0415
    from matcher.report.deidentify import deidentify  # noqa: PLC0415
    from matcher.report.load import find_run, report_data  # noqa: PLC0415

    if deidentified and not settings.report_secret:
        raise InputError("--deidentify needs a site secret: set TRIALMATCH_REPORT_SECRET")
    store = Store(settings.database)
    try:
        data = report_data(store, find_run(store, run_ref))
    finally:
        store.close()
    if deidentified and settings.report_secret:
        data = deidentify(data, settings.report_secret.encode("utf-8"))
    target = out or settings.work_dir / "report" / f"report.{lang}.{fmt}"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, render_report(data, fmt, lang))
    return target


def _night_reports(store: Store, night: NightResult) -> list[Path]:
    """The night's report page in each language, beside the other files; a failure here loses no result."""
    from matcher.report import render as render_report  # noqa: PLC0415
    from matcher.report.load import report_data  # noqa: PLC0415

    written: list[Path] = []
    try:
        data = report_data(store, night.run)
        for lang in LANGUAGES:
            target = night.report_dir / f"report.{lang}.html"
            write_atomically(target, render_report(data, "html", lang))
            written.append(target)
    except Exception as exc:  # the results are stored: `trialmatch report` can write the page again
        internal_error(log, "the coordinator report", exc)
    return written

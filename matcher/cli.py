"""The `trialmatch` command: match one Bundle, rank many patients, serve the API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import orjson
from pydantic import ValidationError

from matcher import __version__
from matcher.errors import ExitCode, InputError, TrialmatchError
from matcher.evaluate import as_of_problem
from matcher.outcome import MatchResult
from matcher.pipeline import checked_mappings, match_bundle, rank_paths
from matcher.serialize import result_json
from matcher.settings import Settings
from matcher.trial import TRIAL_ID

log = logging.getLogger("trialmatch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One clear line on stderr, not a usage dump."""
        self.exit(ExitCode.BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise argparse.ArgumentTypeError(f"not a shard K/N with 0 <= K < N: {text!r}")
    return int(index), int(count)


def _as_of(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    problem = as_of_problem(day)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return day


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trialmatch", description=f"Eligibility of FHIR patients for {TRIAL_ID}.")
    parser.add_argument("--version", action="version", version=f"trialmatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    match = commands.add_parser("match", help="evaluate one patient's Bundle; prints a MatchResult")
    match.add_argument("bundle", help="a FHIR Bundle holding one patient (- for standard input)")
    match.add_argument("--as-of", type=_as_of, default=None, help="the date of the question (default: today)")

    rank = commands.add_parser("rank", help="evaluate many patients; prints the ranked candidates")
    rank.add_argument("paths", nargs="+", type=Path, help="Bundle files, folders of them, FHIR NDJSON files")
    rank.add_argument("--as-of", type=_as_of, default=None, help="the date of the question (default: today)")
    rank.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="json (the contract's ranked list) or a table for people",
    )

    nightly = commands.add_parser(
        "nightly", help="match the whole hospital: find candidates, evaluate, store the run, write the report"
    )
    nightly.add_argument("--as-of", type=_as_of, default=None, help="the date of the question (default: today)")
    nightly.add_argument(
        "--out", type=Path, default=None, help="folder for the report files (default: WORK_DIR/report)"
    )
    nightly.add_argument("--group", default=None, help="only members of this FHIR Group")
    nightly.add_argument("--bulk", action="store_true", help="use Bulk Data $export instead of per-patient searches")
    nightly.add_argument(
        "--since",
        default=None,
        help="with --bulk: export only what changed since this instant, or 'auto' (the last export)",
    )
    nightly.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="K/N",
        help="this worker's share of the candidates, K in 0..N-1 (e.g. a Kubernetes Indexed Job)",
    )
    nightly.add_argument("--resume", action="store_true", help="continue the unfinished run of this night and shard")
    nightly.add_argument("--batch", default=None, help="name of the night's batch (default: AS_OF/MODE/GROUP)")

    runs = commands.add_parser("runs", help="list the stored runs")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--before", metavar="RUN", help="only runs started before this one (the next page)")

    purge = commands.add_parser("purge", help="delete stored runs older than the retention period, with their results")
    purge.add_argument("--older-than", type=int, metavar="DAYS", help="default TRIALMATCH_RETENTION_DAYS (180)")

    changes = commands.add_parser("diff", help="what changed between two runs (default: the last two nights)")
    changes.add_argument("runs", nargs="*", help="RUN_A RUN_B (ids or id prefixes)")
    changes.add_argument("--json", action="store_true", help="JSON instead of lines for people")

    report = commands.add_parser("report", help="the coordinator report of a stored night (HTML, CSV or PDF)")
    report.add_argument("run", nargs="?", help="run id or id prefix (default: the latest complete night)")
    report.add_argument("--format", choices=("html", "csv", "pdf"), default="html")
    report.add_argument("--lang", choices=("en", "zh"), default="en", help="English or Simplified Chinese")
    report.add_argument("--out", type=Path, help="file to write (default: WORK_DIR/report/report.LANG.FORMAT)")
    report.add_argument(
        "--deidentify",
        action="store_true",
        help="stable pseudonyms instead of names, MRNs and ids, for the sponsor (needs TRIALMATCH_REPORT_SECRET)",
    )

    serve = commands.add_parser("serve", help="start the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, help="worker processes (default TRIALMATCH_API_WORKERS, else one per core)"
    )
    return parser


def table(ranked: list[MatchResult], as_of: date) -> str:
    """The ranked candidates for a person: one line each, with what rules them out or is still open."""
    lines = [f"{TRIAL_ID} candidates as of {as_of.isoformat()} ({len(ranked)} patients)", ""]
    lines.append(f"{'#':>3}  {'verdict':<17} {'cohort':<9} {'score':>5}  {'patient':<44} fails / unknown / chart")
    for i, r in enumerate(ranked, 1):
        groups = (
            [c.id for c in r.criteria if c.status == "fail"],
            [c.id for c in r.criteria if c.status == "unknown"],
            [c.id for c in r.criteria if c.chart_review],
        )
        open_items = " / ".join(", ".join(ids) or "-" for ids in groups)
        lines.append(f"{i:>3}  {r.verdict:<17} {r.cohort or '-':<9} {r.score:>5.2f}  {r.patient:<44} {open_items}")
    return "\n".join(lines) + "\n"


def _dump(payload: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def _match(args: argparse.Namespace, settings: Settings) -> int:
    mappings = checked_mappings(settings)
    source = "stdin" if args.bundle == "-" else args.bundle
    if args.bundle == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.bundle).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    result = match_bundle(data, args.as_of or date.today(), mappings, source)
    _dump(result_json(result))
    return ExitCode.OK


def _rank(args: argparse.Namespace, settings: Settings) -> int:
    mappings = checked_mappings(settings)
    as_of = args.as_of or date.today()
    ranked, skipped = rank_paths(args.paths, as_of, mappings)
    for item in skipped:
        print(f"trialmatch: skipped {item.source}: {item.error}", file=sys.stderr)
    if args.format == "table":
        sys.stdout.write(table(ranked, as_of))
        return ExitCode.BAD_INPUT if skipped else ExitCode.OK
    _dump(
        {
            "trial": TRIAL_ID,
            "as_of": as_of.isoformat(),
            "candidates": [result_json(r) for r in ranked],
            "skipped": [{"source": s.source, "patient": s.patient, "error": s.error} for s in skipped],
        }
    )
    return ExitCode.BAD_INPUT if skipped else ExitCode.OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # imported here: `match` and `rank` should not pay for loading the web stack
    import uvicorn  # noqa: PLC0415

    from matcher.api.app import create_app  # noqa: PLC0415

    checked_mappings(settings)
    workers = args.workers or settings.api_workers or os.cpu_count() or 1
    if workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    else:  # each worker process builds the app from the same settings (the environment and .env)
        uvicorn.run(
            "matcher.api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level="info",
        )
    return ExitCode.OK


def _nightly(args: argparse.Namespace, settings: Settings) -> int:
    # the job's modules load only for the job (SQLAlchemy, alembic)
    from matcher.jobs.run import run_nightly  # noqa: PLC0415

    return run_nightly(args, settings, checked_mappings(settings), _dump)


def _runs(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.jobs.run import list_runs  # noqa: PLC0415

    sys.stdout.write(list_runs(settings, args.limit, args.before))
    return ExitCode.OK


def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.jobs.run import show_diff  # noqa: PLC0415

    sys.stdout.write(show_diff(settings, args.runs, as_json=args.json))
    return ExitCode.OK


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.jobs.run import purge_runs  # noqa: PLC0415

    days = settings.retention_days if args.older_than is None else args.older_than
    print(purge_runs(settings, days), file=sys.stderr)
    return ExitCode.OK


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from matcher.jobs.run import write_report  # noqa: PLC0415

    path = write_report(settings, args.run, args.format, args.lang, args.out, deidentified=args.deidentify)
    print(f"trialmatch: report written to {path}", file=sys.stderr)
    return ExitCode.OK


COMMANDS = {
    "match": _match,
    "rank": _rank,
    "serve": _serve,
    "nightly": _nightly,
    "runs": _runs,
    "diff": _diff,
    "report": _report,
    "purge": _purge,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for chatty in ("alembic", "httpx", "httpcore"):  # a line per request or migration step is noise here
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"trialmatch: setting TRIALMATCH_{str(err['loc'][0]).upper()}: {err['msg']}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if settings.debug:  # tracebacks of internal errors are logged at DEBUG
        logging.getLogger("trialmatch").setLevel(logging.DEBUG)
    try:
        return COMMANDS[args.command](args, settings)
    except TrialmatchError as exc:
        print(f"trialmatch: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.FAILURE
    except Exception as exc:  # a bug: say so in one line; TRIALMATCH_DEBUG=1 shows the traceback
        if settings.debug:
            raise
        print(f"trialmatch: internal error ({type(exc).__name__}); set TRIALMATCH_DEBUG=1 for details", file=sys.stderr)
        return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())

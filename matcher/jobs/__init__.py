"""The nightly matching job: candidate funnel or Bulk Data export, persistent runs, run-to-run diff.

The exported names are resolved on first use (PEP 562), so that importing one module of the package (the
funnel, the progress bar) does not load SQLAlchemy, alembic and the whole run loop with it.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from matcher.jobs.bulk_run import BulkScreening
    from matcher.jobs.database import open_database
    from matcher.jobs.diff import Diff
    from matcher.jobs.funnel_run import FunnelScreening
    from matcher.jobs.models import RunStatus
    from matcher.jobs.nightly import Nightly, NightlyOptions, NightResult, Screening
    from matcher.jobs.run import list_runs, run_nightly, show_diff
    from matcher.jobs.store import Store
    from matcher.jobs.wiring import JobParts, open_job

#: each exported name and the module that defines it, imported when the name is first asked for (ruff checks
#: that __all__ and the imports above agree, tests/test_public_api.py that this table does too)
_HOMES = {
    "BulkScreening": "matcher.jobs.bulk_run",
    "Diff": "matcher.jobs.diff",
    "FunnelScreening": "matcher.jobs.funnel_run",
    "JobParts": "matcher.jobs.wiring",
    "NightResult": "matcher.jobs.nightly",
    "Nightly": "matcher.jobs.nightly",
    "NightlyOptions": "matcher.jobs.nightly",
    "RunStatus": "matcher.jobs.models",
    "Screening": "matcher.jobs.nightly",
    "Store": "matcher.jobs.store",
    "list_runs": "matcher.jobs.run",
    "open_database": "matcher.jobs.database",
    "open_job": "matcher.jobs.wiring",
    "run_nightly": "matcher.jobs.run",
    "show_diff": "matcher.jobs.run",
}

__all__ = [
    "BulkScreening",
    "Diff",
    "FunnelScreening",
    "JobParts",
    "NightResult",
    "Nightly",
    "NightlyOptions",
    "RunStatus",
    "Screening",
    "Store",
    "list_runs",
    "open_database",
    "open_job",
    "run_nightly",
    "show_diff",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # asked for once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

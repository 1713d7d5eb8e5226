"""Progress of a run: a bar on a terminal (rich), plain periodic log lines otherwise (cron, Kubernetes)."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

log = logging.getLogger("trialmatch.jobs")


class RunProgress:
    """Counts patients done; on a TTY draws a bar, otherwise logs a line every `every` seconds."""

    def __init__(self, total: int, *, stream: IO[str] | None = None, every: float = 10.0) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self.stream = stream or sys.stderr
        self.every = every
        self._last = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self.stream.isatty():
            self._bar = Progress(
                TextColumn("matching"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[errors]} errors"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )

    def __enter__(self) -> RunProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("matching", total=self.total, errors=0)
        else:
            log.info("matching %d patients", self.total)
        return self

    def advance(self, *, error: bool = False) -> None:
        self.done += 1
        self.errors += int(error)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, errors=self.errors)
        elif time.monotonic() - self._last >= self.every or self.done == self.total:
            self._last = time.monotonic()
            log.info("matched %d of %d patients (%d errors)", self.done, self.total, self.errors)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

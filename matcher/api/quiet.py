"""What the web server may log: no traceback and no exception message unless TRIALMATCH_DEBUG is on.

uvicorn logs an exception that escapes the application ("Exception in ASGI application") and a
client that went away with the full traceback, whose message can quote a record's values. The
application answers every error itself (api/errors.py); what reaches uvicorn's logger is cut to one
line with the exception's type.
"""

from __future__ import annotations

import logging

#: the loggers of the web server that may carry an exception
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "starlette", "fastapi")


class NoTracebacks(logging.Filter):
    """Keeps the record, drops its traceback and message arguments: the type of the exception remains."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc_type = record.exc_info[0]
            record.msg = f"{record.getMessage().splitlines()[0][:200]} ({exc_type.__name__ if exc_type else 'error'})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


def quiet_server_logs(debug: bool) -> None:
    """Install the filter on the web server's loggers (once), unless debugging is switched on."""
    if debug:
        return
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoTracebacks) for f in logger.filters):
            logger.addFilter(NoTracebacks())

"""Query parameters several routes share, read as strictly as the OpenAPI document states them."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic's lax dates would read `as_of=0` as 1970-01-01 (a Unix time)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


#: the date of the question; today when not given
AsOf = Annotated[
    date | None,
    BeforeValidator(_iso_date),
    Query(description="date of the question, YYYY-MM-DD (default today)", examples=["2026-06-30"]),
]

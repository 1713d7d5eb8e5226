"""Shared by the FHIR client tests: a sleep that records its pauses instead of waiting."""

from __future__ import annotations

import pytest


class Sleeps:
    """A fake sleep that records the pauses instead of waiting."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()

"""Qualitative results: whether a coded or written answer means positive, negative or indeterminate."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from matcher.codes.model import Code

Polarity = Literal["positive", "negative", "indeterminate"]


class AnswerBook:
    """Answer codes and words from mappings/answers.toml."""

    def __init__(self, codes: dict[Code, Polarity], words: dict[str, Polarity]) -> None:
        self._codes = codes
        self._words = words

    def of_codes(self, codes: Iterable[Code]) -> Polarity | None:
        """The polarity the codes agree on; 'indeterminate' when they contradict each other."""
        found = {self._codes[c] for c in codes if c in self._codes}
        return _agree(found)

    def of_text(self, text: str | None) -> Polarity | None:
        if not text:
            return None
        return self._words.get(normal_words(text))


def normal_words(text: str) -> str:
    """Answer words as they are compared: lower case, with runs of white space as one space."""
    return " ".join(text.strip().lower().split())


def _agree(found: set[Polarity]) -> Polarity | None:
    if not found:
        return None
    if len(found) == 1:
        return next(iter(found))
    return "indeterminate"


def combine(*readings: Polarity | None) -> Polarity | None:
    """Several readings of one result (value, interpretation): contradictions are 'indeterminate'."""
    return _agree({r for r in readings if r is not None})

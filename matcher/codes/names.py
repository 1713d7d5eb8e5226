"""Drug names as data: which drugs a free text names, as whole words (case, accents, hyphens and spacing ignored).

The safety net under the codes: a medication whose codes are in no drug list, but whose text says
"Tisagenlecleucel (Kymriah) suspension for IV infusion", is still tisagenlecleucel. Built once per
Mappings; a scan costs a few dictionary look-ups per word, and repeated texts (the same drug names recur
across thousands of patients) are answered from a cache.

How a text is read:
- it is cut into words: runs of Latin letters and digits, after lower-casing and dropping accents
  (NFKD; full-width forms fold to ASCII); anything else separates words;
- a name matches a run of consecutive words whose letters, put together, are the name's letters put
  together ("axi-cel", "Axi cel" and "axicel" are one name), provided the words are joined only by
  spaces or hyphens; the match starts and ends on word boundaries, so "Kymriahx" is not "Kymriah";
- a name written in another script (Chinese: 阿基仑赛) has no word boundaries to rely on: it matches
  wherever its characters stand together, spaces and punctuation ignored;
- a drug's `name_exclusions` ("cream", "ophthalmic", 乳膏 ...) anywhere in the same text void its
  recognition by name: a topical or eye product is not the systemic drug the drug list means.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from matcher.errors import MappingError

#: words of the original text, in any script
_WORD = re.compile(r"[^\W_]+")
#: within a folded word: runs of ASCII letters and digits, and runs of anything else
_PART = re.compile(r"[a-z0-9]+|[^a-z0-9]+")
_ASCII_KEY = re.compile(r"[a-z0-9]+")
#: what may stand between two words of one name: spaces and hyphens (of any kind), nothing else
_JOIN = re.compile(r"[\s\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d_]*")
#: characters that are invisible in a name: soft hyphen, zero-width spaces and joiners, word joiner, BOM
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
#: the shortest name (letters and digits put together) a drug may be recognised by
MIN_NAME_LENGTH = 3
_CACHE_SIZE = 16384
_EXCLUDE = "!"


def fold(text: str) -> str:
    """Lower case, accents dropped, compatibility forms folded (full-width letters become ASCII)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_key(name: str) -> str:
    """A name's letters and digits put together, folded: what a text must show, word-aligned, to name it."""
    return "".join(_WORD.findall(fold(name)))


@dataclass(frozen=True, slots=True)
class NameHit:
    """The drugs a text names, and the words that named them, as written."""

    drugs: frozenset[str]
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Word:
    key: str
    start: int
    end: int
    joined: bool  # only spaces or hyphens separate it from the word before


class DrugNames:
    """Name -> drug ids, for every drug of the mappings; `find` tells which drugs a text names."""

    def __init__(self, names: Mapping[str, Iterable[str]], exclusions: Mapping[str, Iterable[str]]) -> None:
        #: ASCII keys (letters and digits put together) -> tags: drug ids, and "!id" for an exclusion
        self._keys: dict[str, set[str]] = {}
        self._prefixes: set[str] = set()
        #: keys in other scripts, matched as substrings of the text with its separators removed
        self._other: dict[str, set[str]] = {}
        self._max_words = 1
        for tag_prefix, table in (("", names), (_EXCLUDE, exclusions)):
            for drug, words in table.items():
                for word in words:
                    self._add(word, tag_prefix + drug, drug)
        other = sorted(self._other, key=len, reverse=True)
        self._other_re = re.compile("|".join(map(re.escape, other))) if other else None
        self._scan_cached = lru_cache(maxsize=_CACHE_SIZE)(self._scan)

    def _add(self, name: str, tag: str, drug: str) -> None:
        key = name_key(name)
        if _ASCII_KEY.fullmatch(key):
            if len(key) < MIN_NAME_LENGTH:
                raise MappingError(
                    f"drug {drug!r}: the name {name!r} is too short to recognise in text "
                    f"(at least {MIN_NAME_LENGTH} letters or digits)"
                )
            self._keys.setdefault(key, set()).add(tag)
            self._prefixes.update(key[:i] for i in range(1, len(key) + 1))
            self._max_words = max(self._max_words, len(key))  # spacing ignored: a word per letter at most
        elif key:
            self._other.setdefault(key, set()).add(tag)
        else:
            raise MappingError(f"drug {drug!r}: the name {name!r} has no letters or digits")

    def __len__(self) -> int:
        return len(self._keys) + len(self._other)

    def find(self, *texts: str | None) -> NameHit | None:
        """The drugs the texts name (all read as one text), or None when they name none."""
        joined = " | ".join(t for t in texts if t)
        return self._scan_cached(joined) if joined else None

    def _scan(self, text: str) -> NameHit | None:
        if not text.isascii():
            text = unicodedata.normalize("NFC", text.translate(_INVISIBLE))  # an accent mark joins its letter
        found: dict[str, list[str]] = {}  # tag -> the words that matched it
        words = _words(text)
        for i, first in enumerate(words):
            key = ""
            for j in range(i, min(len(words), i + self._max_words)):
                word = words[j]
                if j > i and not word.joined:
                    break
                key += word.key
                if key not in self._prefixes:
                    break
                for tag in self._keys.get(key, ()):
                    found.setdefault(tag, []).append(text[first.start : word.end])
        if self._other_re is not None and not text.isascii():
            compact = "".join(w.key for w in _all_words(text))
            for match in self._other_re.finditer(compact):
                for tag in self._other[match.group()]:
                    found.setdefault(tag, []).append(match.group())
        drugs = {tag for tag in found if not tag.startswith(_EXCLUDE)}
        drugs -= {tag[1:] for tag in found if tag.startswith(_EXCLUDE)}
        if not drugs:
            return None
        said = dict.fromkeys(w for d in sorted(drugs) for w in found[d])
        return NameHit(frozenset(drugs), tuple(said))


def _words(text: str) -> list[_Word]:
    """The ASCII letter-and-digit words of a text (after folding), with their place in the original."""
    out: list[_Word] = []
    last_end = 0
    broken = False  # a word in another script stands between the last ASCII word and the next
    for match in _WORD.finditer(text):
        raw = match.group()
        folded = fold(raw)
        exact = len(folded) == len(raw)  # offsets of the folded word are the original's
        for offset, part in enumerate(_PART.finditer(folded)):
            piece = part.group()
            if exact:
                start, end = match.start() + part.start(), match.start() + part.end()
            else:
                start, end = match.start(), match.end()
            if _ASCII_KEY.fullmatch(piece):
                joined = bool(out) and not broken and offset == 0 and _JOIN.fullmatch(text[last_end:start]) is not None
                out.append(_Word(piece, start, end, joined))
                last_end, broken = end, False
            else:
                broken = True
    return out


def _all_words(text: str) -> list[_Word]:
    """Every word of the text in any script, folded: for names matched as substrings."""
    return [_Word(fold(m.group()), m.start(), m.end(), False) for m in _WORD.finditer(text)]

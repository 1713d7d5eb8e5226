"""Ordering of candidates: eligible, then possibly eligible, then ineligible; higher score first within each."""

from __future__ import annotations

from collections.abc import Iterable

from matcher.outcome import MatchResult

VERDICT_ORDER = {"eligible": 0, "possibly_eligible": 1, "ineligible": 2}


def order_key(verdict: str, score: float, patient: str) -> tuple[int, float, str]:
    """The contract's order as a sort key, for MatchResults and for their JSON alike."""
    return VERDICT_ORDER[verdict], -score, patient


def rank_key(result: MatchResult) -> tuple[int, float, str]:
    return order_key(result.verdict, result.score, result.patient)


def rank(results: Iterable[MatchResult]) -> list[MatchResult]:
    """Candidates in the contract's order; ties are broken by patient reference so the order is stable."""
    return sorted(results, key=rank_key)

"""Inclusions that FHIR data never settles: consent, life expectancy, contraception; always a screening review."""

from __future__ import annotations

from matcher.criteria.context import Context
from matcher.criteria.criterion import reads
from matcher.outcome import CriterionResult, Outcome


@reads()
def consent(ctx: Context) -> CriterionResult:
    """Inclusion n.5 (every cohort): signed informed consent, agreement to the protocol and to follow-up."""
    return Outcome("consent", "inclusion").screening("judgement.consent").result()


@reads()
def life_expectancy(ctx: Context) -> CriterionResult:
    """Inclusion n.2 (every cohort): estimated life expectancy >= 3 months."""
    return Outcome("life_expectancy", "inclusion").screening("judgement.life_expectancy").result()


@reads()
def contraception(ctx: Context) -> CriterionResult:
    """Inclusion n.4 (every cohort): effective contraception (the pregnancy test is read by exclusion (2))."""
    return Outcome("contraception", "inclusion").screening("judgement.contraception").result()

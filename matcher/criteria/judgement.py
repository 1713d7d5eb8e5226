"""Inclusions that FHIR data never settles: consent, life expectancy, contraception; always `review`."""

from __future__ import annotations

from matcher.criteria.context import Context
from matcher.outcome import CriterionResult, Outcome


def consent(ctx: Context) -> CriterionResult:
    return Outcome("consent", "inclusion").say("review", "judgement.consent").result()


def life_expectancy(ctx: Context) -> CriterionResult:
    return Outcome("life_expectancy", "inclusion").say("review", "judgement.life_expectancy").result()


def contraception(ctx: Context) -> CriterionResult:
    return Outcome("contraception", "inclusion").say("review", "judgement.contraception").result()

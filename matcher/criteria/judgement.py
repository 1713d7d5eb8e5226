"""Inclusions that FHIR data never settles: consent, life expectancy, contraception; always a screening review."""

from __future__ import annotations

from matcher.criteria.context import Context
from matcher.outcome import CriterionResult, Outcome


def consent(ctx: Context) -> CriterionResult:
    return Outcome("consent", "inclusion").screening("judgement.consent").result()


def life_expectancy(ctx: Context) -> CriterionResult:
    return Outcome("life_expectancy", "inclusion").screening("judgement.life_expectancy").result()


def contraception(ctx: Context) -> CriterionResult:
    return Outcome("contraception", "inclusion").screening("judgement.contraception").result()

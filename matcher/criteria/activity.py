"""Inclusion on disease activity: each cohort's scores against the protocol's thresholds (SLEDAI, PDAI, PASI ...)."""

from __future__ import annotations

from typing import Any

from matcher.criteria.cohort import Cohort, Threshold
from matcher.criteria.common import code_label, explain_nothing_usable, note_passed_over, without_cohort
from matcher.criteria.context import Context
from matcher.criteria.criterion import reads_per_cohort
from matcher.criteria.measure import Pick, Usable, fmt, observation_evidence, pick, read_score
from matcher.criteria.reads import Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status


def _reads(cohort: Cohort) -> Reads:
    """The cohort's scores (thresholds, their substitutes, context, BILAG grades), over the activity window."""
    rule = cohort.activity
    scores = [
        *(t.score for t in rule.thresholds),
        *(t.substitute for t in rule.thresholds if t.substitute),
        *rule.context,
        *([rule.grades] if rule.grades else []),
    ]
    return Reads(scores=dict.fromkeys(scores, Window.disease_activity))


@reads_per_cohort(_reads)
def disease_activity(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    """Inclusions 1.9, 4.8, 5.8, 7.9 (and cohort 6's "moderate-to-severe"): disease-activity score thresholds."""
    if cohort is None:
        return without_cohort("disease_activity")
    out = Outcome("disease_activity", "inclusion")
    rule = cohort.activity
    if rule.mode == "none":
        out.say("pass", "activity.no_threshold", cohort=cohort.id)
        for score in rule.context:
            p = _scores(ctx, score)
            if p.chosen is not None:
                _show(out, p.item, p.chosen, None)
        return out.result(cohort_specific=True)

    readings = [(t, *_reading(ctx, t)) for t in rule.thresholds]
    recorded = [(t, p, p.chosen, sub) for t, p, sub in readings if p.chosen is not None]
    status: Status | None = None
    if rule.mode == "any" and recorded:
        # one recorded index is enough; the indices not recorded are not worth a word
        results = [_judge(out, t, p, chosen, sub) for t, p, chosen, sub in recorded]
        order: tuple[Status, ...] = ("pass", "review", "fail")
        status = next(s for s in order if s in results)
    elif rule.mode == "any":
        for t, p, _ in readings:
            explain_nothing_usable(out, p, t.score, ctx.m.scores[t.score].primary_code, need=False)
        codes = [ctx.m.scores[t.score].primary_code for t in rule.thresholds]
        names = ",".join(t.score for t in rule.thresholds)
        out.need(
            "need.any_score", *codes, scores=names, code=code_label(codes[0]), window=ctx.m.windows.disease_activity
        )
    else:
        for t, p, sub in readings:
            if p.chosen is not None:
                _judge(out, t, p, p.chosen, sub)
            else:
                explain_nothing_usable(out, p, t.score, ctx.m.scores[t.score].primary_code)
    if rule.grades:
        _grades(ctx, out, rule.grades)
    return out.result(status, cohort_specific=True)


def _scores(ctx: Context, score: str) -> Pick[Any]:
    return pick(ctx, score, ctx.m.windows.disease_activity, read_score(ctx, score))


def _reading(ctx: Context, threshold: Threshold) -> tuple[Pick[Any], bool]:
    """The protocol's instrument, else its accepted substitute (the flag says which)."""
    p = _scores(ctx, threshold.score)
    if p.chosen is None and threshold.substitute:
        sub = _scores(ctx, threshold.substitute)
        if sub.chosen is not None:
            return sub, True
    return p, False


def _judge(out: Outcome, threshold: Threshold, p: Pick[Any], chosen: Usable[Any], substitute: bool) -> Status:
    """The chosen score (p.chosen) against the threshold."""
    met = threshold.met(chosen.value)
    status: Status = ("review" if substitute else "pass") if met else "fail"
    _show(out, p.item, chosen, status, threshold)
    if substitute:
        out.say(None, "activity.substitute", item=p.item, instead=threshold.score)
    note_passed_over(out, p, p.item, "review" if status == "pass" else None)
    return "review" if status == "pass" and p.passed_over else status


def _show(
    out: Outcome, item: str, chosen: Usable[Any], status: Status | None, threshold: Threshold | None = None
) -> None:
    fact, value = chosen.fact, chosen.value
    out.say(
        status,
        "activity.score",
        item=item,
        value=fmt(value),
        date=str(fact.when),
        op=(">=" if threshold.inclusive else ">") if threshold else None,
        minimum=fmt(threshold.minimum) if threshold else None,
    )
    out.cite(observation_evidence(fact, value=value, limit_value=threshold.minimum if threshold else None))


def _grades(ctx: Context, out: Outcome, score: str) -> None:
    """BILAG-2004, when recorded: at least one organ system graded A, or two graded B."""
    p = _scores(ctx, score)
    if p.chosen is None and p.passed_over:  # recorded, but it cannot be read: not the same as not recorded
        explain_nothing_usable(out, p, score, ctx.m.scores[score].primary_code)
        return
    if p.chosen is None:
        out.say(None, "activity.grades_not_recorded", item=score)
        return
    grades = p.chosen.value
    a, b = grades.count("A"), grades.count("B")
    status: Status = "pass" if a >= 1 or b >= 2 else "fail"
    fact = p.chosen.fact
    out.say(status, "activity.grades", item=score, a=a, b=b, date=str(fact.when))
    out.cite(observation_evidence(fact))
    note_passed_over(out, p, score, "review" if status == "pass" else None)

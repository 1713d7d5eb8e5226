"""Inclusions about the person: age 18 to 70 on as_of, and alive."""

from __future__ import annotations

from matcher.criteria.context import Context
from matcher.criteria.criterion import reads
from matcher.outcome import CriterionResult, Evidence, Outcome, Status

MIN_AGE, MAX_AGE = 18, 70  # protocol: 18-70 years (a 70-year-old qualifies until the 71st birthday)


@reads()
def age(ctx: Context) -> CriterionResult:
    """Inclusion n.1 (every cohort): age 18-70 years."""
    out = Outcome("age", "inclusion")
    patient = ctx.record.patient
    ages = ctx.age_range()
    if ages is None:
        out.say("unknown", "age.no_birth_date").need("need.birth_date")
        return out.result()
    youngest, oldest = ages
    out.cite(
        Evidence(
            reference=patient.ref, value=f"born {patient.birth_date}", date=str(patient.birth_date), item="birthDate"
        )
    )
    if patient.birth_date is not None and patient.birth_date.lo > ctx.as_of:
        out.say("fail", "age.not_born", birth=str(patient.birth_date), as_of=ctx.as_of.isoformat())
        return out.result()
    status: Status
    if youngest >= MIN_AGE and oldest <= MAX_AGE:
        status = "pass"
    elif oldest < MIN_AGE or youngest > MAX_AGE:
        status = "fail"
    else:
        status = "review"  # a partial birth date straddles a limit
    shown = str(youngest) if youngest == oldest else f"{youngest}-{oldest}"
    out.say(
        status,
        "age.years",
        age=shown,
        low=MIN_AGE,
        high=MAX_AGE,
        birth=str(patient.birth_date),
        as_of=ctx.as_of.isoformat(),
    )
    return out.result()


@reads()
def alive(ctx: Context) -> CriterionResult:
    """Not a protocol clause (nor in the contract's table): a coordinator is never sent to a deceased patient."""
    out = Outcome("alive", "inclusion")
    patient = ctx.record.patient
    died = patient.deceased_date
    if patient.deceased and (died is None or died.lo <= ctx.as_of):
        out.say("fail", "alive.deceased", date=str(died or "date not recorded"))
        out.cite(Evidence(reference=patient.ref, value="deceased", date=str(died) if died else None, item="deceased"))
    else:
        out.say("pass", "alive.no_death")
    return out.result()

"""Exclusions on prior therapy: CD19-directed therapy (CAR-T, antibodies) and gene therapy, ever given or planned."""

from __future__ import annotations

from matcher.codes.model import Code
from matcher.criteria.context import PLANNED_PROCEDURE, Context, condition_evidence, procedure_evidence
from matcher.criteria.criterion import reads
from matcher.criteria.medication import PLANNED_INTENTS, SURELY_TAKEN, medication_evidence, planned, taken, word_list
from matcher.criteria.reads import Reads
from matcher.outcome import CriterionResult, Evidence, Outcome, Param, Status
from matcher.record import MedicationFact, ProcedureFact


def _given(ctx: Context, out: Outcome, drugset: str, status: Status) -> None:
    """Any record of a drug in `drugset` ever given (planned ones need a person's look)."""
    wanted = ctx.m.drugs_in(drugset)
    for fact in ctx.record.medications:
        drugs = sorted(fact.drugs & wanted)
        if not drugs or (fact.start is not None and fact.start.lo > ctx.as_of):
            continue
        when = str(fact.start or "undated")
        if fact.named:
            _named(out, fact, drugs[0], when, status)
        elif taken(fact):
            out.say(status, "exposure.given", item=drugs[0], label=fact.label, date=when, kind=fact.resource_type)
        elif planned(fact):
            out.say("review", "exposure.planned", item=drugs[0], label=fact.label, date=when)
        else:
            out.say(None, "exposure.not_given", item=drugs[0], label=fact.label, date=when, state=fact.status)
        out.cite(medication_evidence(fact, drugs[0]))


def _named(out: Outcome, fact: MedicationFact, item: str, when: str, status: Status) -> None:
    """A drug recognised by name only: given beyond doubt counts like a code; planned or unclear, a person reads
    the chart; not taken, refused or cancelled never counts (entered-in-error was dropped while reading)."""
    params: dict[str, Param] = {"item": item, "label": fact.label, "words": word_list(fact.words), "date": when}
    if taken(fact) and fact.status in SURELY_TAKEN:
        out.say(status, "exposure.named", kind=fact.resource_type, **params)
    elif taken(fact) or planned(fact):
        state = f"intent {fact.intent}" if fact.intent in PLANNED_INTENTS else fact.status or "no status"
        out.say("review", "exposure.named_unsure", kind=fact.resource_type, state=state, **params)
    else:
        out.say(None, "exposure.not_given", item=item, label=fact.label, date=when, state=fact.status)


def _product_code(ctx: Context, proc: ProcedureFact) -> Code | None:
    """The procedure's code that names its product (mappings/drugs.toml lists it among the drug's codes)."""
    return next((c for c in proc.codes if c in ctx.m.drug_codes), None)


def _products(ctx: Context, out: Outcome, drugset: str, status: Status, *, others_pass: bool = False) -> set[str]:
    """Procedures that name the product given, by a product-specific code (ICD-10-PCS XW033J7, HCPCS Q2042) or,
    for a CAR-T code that does not say which product, by their text: an exposure to that drug. With
    `others_pass`, a code naming a product outside `drugset` settles the procedure as a pass (an Abecma
    infusion is no CD19 therapy). Returns the procedures settled here."""
    wanted = ctx.m.drugs_in(drugset)
    settled: set[str] = set()
    for proc in ctx.record.procedures:
        if not proc.drugs or proc.status in PLANNED_PROCEDURE or not ctx.happened(proc.start):
            continue
        hit = sorted(proc.drugs & wanted)
        when = str(proc.start or "undated")
        code = _product_code(ctx, proc)
        if hit and proc.named:
            words = word_list(proc.words)
            out.say(status, "exposure.named", item=hit[0], label=proc.label, words=words, date=when, kind="Procedure")
        elif hit and code is not None:
            out.say(status, "exposure.product_code", item=hit[0], code=code.code, label=proc.label, date=when)
        elif others_pass and code is not None and not proc.named:
            other = sorted(proc.drugs)[0]
            out.say("pass", "exposure.product_other", item=other, code=code.code, label=proc.label, date=when)
        else:
            continue
        settled.add(proc.ref)
        out.cite(
            Evidence(
                reference=proc.ref,
                value=proc.label,
                date=str(proc.start) if proc.start else None,
                item=hit[0] if hit else sorted(proc.drugs)[0],
                code=str(code) if code is not None else None,
                display=proc.label,
                status=proc.status,
            )
        )
    return settled


def _coded(ctx: Context, out: Outcome, status: Status, message: str, settled: set[str]) -> None:
    """CAR-T recorded as a procedure or as a history condition whose code does not say which product (its
    target is not coded); procedures already `settled` by the product they name are left out."""
    for proc in ctx.procedures("car_t_therapy"):
        if proc.ref in settled:
            continue
        out.say(status, message, label=proc.label, date=str(proc.start or "undated"))
        out.cite(procedure_evidence(proc, item="car_t_therapy"))
    for cond in ctx.recorded("car_t_history"):
        out.say(status, message, label=cond.label, date=str(cond.first_known or "undated"))
        out.cite(condition_evidence(cond, item="car_t_history"))


def _planned(ctx: Context, out: Outcome, drugset: str, *valuesets: str) -> None:
    """A procedure still in preparation has not been given, but a person should know it is planned.

    A procedure in several of the value sets (CAR-T is a gene therapy too) is named once; one whose code names
    a product outside `drugset` (an Abecma infusion, for CD19 therapy) is not this criterion's business.
    """
    wanted = ctx.m.drugs_in(drugset)
    found = [(proc, valueset) for valueset in valuesets for proc in ctx.procedures(valueset, planned=True)]
    found += [(p, "") for p in ctx.record.procedures if p.drugs & wanted and p.status in PLANNED_PROCEDURE]
    seen: set[str] = set()
    for proc, valueset in found:
        if proc.ref in seen or (proc.drugs and not proc.named and not proc.drugs & wanted):
            continue
        seen.add(proc.ref)
        item = next(iter(sorted(proc.drugs & wanted)), valueset)
        out.say("review", "exposure.planned", item=item, label=proc.label, date=str(proc.start or "undated"))
        out.cite(procedure_evidence(proc, item=item))


def _unidentified(ctx: Context, out: Outcome) -> None:
    """A medication use whose drug cannot be identified might be the therapy in question: not a pass."""
    for ref in ctx.record.unidentified_medications:
        out.say("unknown", "exposure.unidentified", reference=ref)
        out.cite(Evidence(reference=ref, value="medication not identified"))
        out.need("need.medication", reference=ref)


@reads(Reads(drugsets=("cd19_therapy",), valuesets=("car_t_therapy", "car_t_history")))
def prior_cd19_therapy(ctx: Context) -> CriterionResult:
    """Exclusion (11): prior CD19 CAR-T cell therapy or CD19-targeted antibody drugs."""
    out = Outcome("prior_cd19_therapy", "exclusion")
    _given(ctx, out, "cd19_therapy", "fail")
    settled = _products(ctx, out, "cd19_therapy", "fail", others_pass=True)
    _coded(ctx, out, "review", "exposure.car_t_target_unknown", settled)
    _planned(ctx, out, "cd19_therapy", "car_t_therapy")
    _unidentified(ctx, out)
    if not any(f.status for f in out.findings):
        out.say("pass", "exposure.none", item="cd19_therapy")
    return out.result()


@reads(Reads(drugsets=("gene_therapy",), valuesets=("car_t_therapy", "car_t_history", "gene_therapy_procedure")))
def gene_therapy(ctx: Context) -> CriterionResult:
    """Exclusion (12): prior exposure to any gene therapy."""
    out = Outcome("gene_therapy", "exclusion")
    _given(ctx, out, "gene_therapy", "fail")
    settled = _products(ctx, out, "gene_therapy", "fail")
    _coded(ctx, out, "fail", "exposure.car_t_is_gene_therapy", settled)
    said = settled | {p.ref for p in ctx.procedures("car_t_therapy")}  # CAR-T codes are in both value sets
    for proc in ctx.procedures("gene_therapy_procedure"):
        if proc.ref not in said:
            out.say("fail", "exposure.procedure", label=proc.label, date=str(proc.start or "undated"))
            out.cite(procedure_evidence(proc, item="gene_therapy_procedure"))
    _planned(ctx, out, "gene_therapy", "car_t_therapy", "gene_therapy_procedure")
    _unidentified(ctx, out)
    if not any(f.status for f in out.findings):
        out.say("pass", "exposure.none", item="gene_therapy")
    return out.result()

"""English rendering of findings and worklist needs; the criteria only ever produce message ids and parameters.

Three tables of templates, keyed by message id: TEMPLATES (findings), NEEDS (worklist entries) and
REASONS (why a result could not be used, or why its own reference range was not: `unusable.*`,
`range.*`). A reason is not a finding of its own but a part of one: the finding carries it flattened
into its parameters, so that every parameter stays a scalar (findings[].params in the JSON):

    Finding("result.unusable", {"item": "alt", "date": "2026-06-28",
                                "why": "unusable.status", "why_status": "preliminary"})

`why` is the reason's id and `why_<name>` its parameter `name`; a reason without parameters is
`why` alone (`"why": "range.unclear"`). A `why` whose value is a REASONS id is rendered with that
template from the `why_` parameters, and the result takes its place in the finding's template
("ALT on 2026-06-28 cannot be used: its status is preliminary"); any other `why` (the reason a
therapy was stopped, in the record's own words) is shown as it is. Another language is another set
of these tables over the same ids and parameters: the criteria do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from matcher.outcome import CriterionResult, Finding, Need, Param

#: short names of analytes, scores, value sets, drug sets, therapies and cohorts, as a reader expects them
NAMES: dict[str, str] = {
    "alt": "ALT",
    "ast": "AST",
    "bilirubin_total": "total bilirubin",
    "creatinine": "creatinine",
    "creatinine_clearance": "creatinine clearance",
    "egfr": "eGFR",
    "body_weight": "body weight",
    "qtc": "QTc",
    "hcg": "hCG",
    "pregnancy_status": "pregnancy status",
    "lactation_status": "breastfeeding status",
    "hbsag": "HBsAg",
    "anti_hbc": "anti-HBc",
    "hbv_dna": "HBV DNA",
    "anti_hcv": "anti-HCV",
    "hcv_rna": "HCV RNA",
    "hiv_ab": "anti-HIV",
    "hiv_ag_ab": "HIV Ag/Ab",
    "treponema_ab": "Treponema pallidum antibody",
    "tb_igra": "interferon-gamma release assay",
    "ana": "ANA",
    "anti_dsdna": "anti-dsDNA",
    "c3": "C3",
    "c4": "C4",
    "rf": "rheumatoid factor",
    "anti_ccp": "anti-CCP",
    "esr": "ESR",
    "crp": "CRP",
    "mpo_anca": "MPO-ANCA",
    "pr3_anca": "PR3-ANCA",
    "anti_dsg1": "anti-desmoglein 1",
    "anti_dsg3": "anti-desmoglein 3",
    "anti_scl70": "anti-Scl-70",
    "anti_jo1": "anti-Jo-1",
    "myositis_antibodies": "myositis-specific antibodies",
    "selena-sledai": "SELENA-SLEDAI",
    "sledai-2k": "SLEDAI-2K",
    "sle-pga": "PGA",
    "bilag-2004": "BILAG-2004",
    "pdai": "PDAI",
    "pasi": "PASI",
    "psoriasis-bsa": "BSA",
    "spga": "sPGA",
    "das28-esr": "DAS28-ESR",
    "das28-crp": "DAS28-CRP",
    "cdai": "CDAI",
    "sdai": "SDAI",
    "bvas": "BVAS",
    "mrss": "mRSS",
    "mmt8": "MMT8",
    "imacs-mdga": "IMACS MDGA",
    "sle": "SLE",
    "iim": "idiopathic inflammatory myopathy",
    "ssc": "systemic sclerosis",
    "pemphigus": "pemphigus",
    "psoriasis": "plaque psoriasis",
    "ra": "rheumatoid arthritis",
    "aav": "ANCA-associated vasculitis",
    "ild": "interstitial lung disease",
    "pulmonary_hypertension": "pulmonary hypertension",
    "renal_vasculitis": "renal involvement",
    "renal_biopsy": "renal biopsy",
    "neurologic": "neurologic disorder",
    "cardiac": "cardiac disorder",
    "immunodeficiency": "immunodeficiency",
    "tuberculosis": "tuberculosis",
    "infection": "infection",
    "pregnancy": "pregnancy",
    "lactation": "lactation",
    "hbv_infection": "hepatitis B",
    "hcv_infection": "hepatitis C",
    "hiv_infection": "HIV infection",
    "syphilis": "syphilis",
    "cd19_therapy": "CD19-directed therapy",
    "gene_therapy": "gene therapy",
    "car_t_therapy": "CAR-T cell therapy",
    "gene_therapy_procedure": "gene therapy",
    "phototherapy": "phototherapy",
}

ULN_SOURCES = {"reference_range": "the result's own reference range", "default": "default ULN"}

TEMPLATES: dict[str, str] = {
    # results in general
    "result.none": "no {item} result on record",
    "result.stale": "the latest {item} ({value} on {date}) is older than the {window}-day window",
    "result.unusable": "{item} on {date} cannot be used: {why}",
    "result.newer_unusable": "{item} on {date} could not be used ({why}): check it before relying on another result",
    # labs
    "lab.vs_uln": "{item} {value} on {date} is {ratio_text} x ULN ({uln}, {uln_source}); limit is {factor:g} x ULN",
    "lab.range_ignored": "{item}: {why}, so the default ULN was used",
    "lab.range_unsure": "{item}: {why}; the strictest candidate ULN was used, the most lenient is {loosest} "
    "(a person should check which applies before {factor:g} x ULN is decided)",
    "crcl.measured": "creatinine clearance {value} on {date} (recorded); limit is {limit:g} mL/min",
    "crcl.cockcroft_gault": "creatinine clearance {value} estimated by Cockcroft-Gault (age {age}, {sex}, "
    "weight {weight} on {weight_date}, creatinine {creatinine}); limit is {limit:g} mL/min",
    "crcl.no_creatinine": "creatinine clearance cannot be estimated without a usable creatinine",
    "crcl.creatinine_bound": "creatinine clearance cannot be estimated from a creatinine reported as {value}",
    "crcl.no_age": "creatinine clearance cannot be estimated without the patient's birth date",
    "crcl.no_weight": "creatinine clearance is neither measured nor estimable: no usable body weight",
    "crcl.egfr_context": "eGFR {value} on {date} is on record, but an eGFR is not a creatinine clearance",
    "qtc.vs_limit": "QTc {value} on {date}; prolonged above {limit} ({sex})",
    # serology
    "serology.positive": "{item} {polarity} on {date}",
    "serology.latest": "{item} {polarity} on {date}",
    "serology.later_negative": "a later {item} test was negative: a person should reconcile the results",
    "serology.undated_positive": "{item} positive without a date: it cannot be placed in time, a person should look",
    "hcv.rna_older": "the HCV RNA result ({polarity}, {date}) is older than the positive antibody",
    "hbv.core_positive": "anti-HBc positive without HBsAg or detectable HBV DNA: "
    "HBV DNA should rule out occult infection",
    "hcv.antibody_needs_rna": "anti-HCV positive: only an HCV RNA result can tell active from cleared infection",
    "syphilis.judgement": "the investigator judges whether a positive treponemal result is clinically significant",
    # coded history
    "condition.recorded": "{item} recorded: {label} ({date})",
    "condition.resolved": "{item} recorded but not active: {label} ({date})",
    "history.recorded": "{item} recorded: {label} ({date})",
    "history.needs_review": "{label} ({date}) may count as {item}: a person should decide",
    "history.none": "no {item} recorded",
    "tb.active": "active tuberculosis recorded: {label} (since {date})",
    "tb.ended_recently": "active tuberculosis ({label}) ended {date}, inside the {years} years before screening "
    "(since {since}): excluded",
    "tb.ended_long_ago": "tuberculosis ({label}) ended {date}, more than {years} years before screening "
    "(before {since}): does not exclude",
    "tb.ended_maybe_recently": "tuberculosis ({label}) ended {date}: that date may fall inside the {years} years "
    "before screening (since {since}); a person should check",
    "tb.resolved_recent_onset": "tuberculosis {label} began {date}, within {years} years, and its end is not recorded",
    "tb.resolved_undated": "tuberculosis {label} ({date}) is resolved but its end date is not recorded: "
    "was it active within {years} years?",
    "tb.latent": "latent tuberculosis recorded: {label} ({date}); not active TB, but relevant before lymphodepletion",
    "tb.igra": "interferon-gamma release assay {polarity} on {date}, without a recorded diagnosis",
    "infection.active": "active infection recorded: {label} (since {date})",
    "infection.allowed": "{label} (since {date}) is an infection the protocol allows "
    "(uncomplicated UTI, bacterial pharyngitis)",
    "infection.long_open": "{label} is still recorded as active since {date}, more than {days} days: is it current?",
    "infection.none": "no active infection recorded",
    "infection.maybe_allowed": "{label} (since {date}) may be an infection the protocol allows "
    "(uncomplicated UTI, bacterial pharyngitis): a person should check",
    "infection.maybe_over": "{label} (since {date}) may or may not have ended by then ({ended}): a person should check",
    # pregnancy
    "pregnancy.male": "no hCG screening asked: the recorded gender is male",
    "pregnancy.state": "{item} recorded as current: {label} (since {date})",
    "pregnancy.stale_state": "{label} is still recorded as current since {date}, too long ago to be this pregnancy",
    "pregnancy.positive": "{item} positive on {date} (within {window} days)",
    "pregnancy.positive_male": "{item} positive on {date} (within {window} days), in a patient recorded as male: "
    "a pregnancy, or a tumour marker that a person should look at",
    "pregnancy.negative": "{item} negative on {date} (within {window} days)",
    "pregnancy.indeterminate": "{item} indeterminate on {date}: a person should check",
    "pregnancy.old_positive": "{item} positive on {date}, before the {window}-day window, with no later negative "
    "and no recorded end: is the patient still pregnant or breastfeeding?",
    "pregnancy.old_positive_ended": "{item} positive on {date}, before a recorded end of that pregnancy",
    "pregnancy.ended": "end of pregnancy recorded: {label} ({date})",
    "pregnancy.none": "no current pregnancy or lactation recorded",
    # judgement
    "therapy.response_at_screening": "whether the response was inadequate or the therapy not tolerated is "
    "confirmed at the screening visit",
    "judgement.consent": "informed consent is obtained at screening, not read from the record",
    "judgement.life_expectancy": "life expectancy of at least 3 months is the investigator's judgement",
    "judgement.contraception": "agreement to effective contraception is confirmed with the patient at screening",
    # demographics
    "age.years": "age {age} on {as_of} (born {birth}); must be {low} to {high}",
    "age.not_born": "not yet born on {as_of} (born {birth}): the date of the question is before the birth date",
    "age.no_birth_date": "no birth date on record",
    "alive.deceased": "the patient is recorded as deceased ({date})",
    "alive.no_death": "no death recorded",
    # diagnosis and cohort
    "diagnosis.none": "none of the seven diseases (SLE, IIM, SSc, pemphigus, psoriasis, RA, AAV) is recorded",
    "diagnosis.active": "{cohort} recorded: {label} (since {date})",
    "diagnosis.inactive": "{cohort} recorded as {clinical}: {label} ({date})",
    "diagnosis.maybe_over": "{label} ({date}) may have ended by then ({ended}): a person should check",
    "diagnosis.subtype": "{label} ({date}) does not say whether it is {cohort}: a person should confirm",
    "diagnosis.unconfirmed": "{label} ({date}) is {verification}, not confirmed",
    "diagnosis.coded_remission": "{label} ({date}) is coded as in remission (clinical status: {clinical}): "
    "a person should confirm the disease is active",
    "diagnosis.serology": "{item} {polarity} on {date}",
    "cohort.none": "no cohort: none of the seven diseases is recorded",
    "duration.since": "{cohort} documented since {date} ({source}); "
    "needs to be on or before {cutoff} ({months} months)",
    "duration.undated": "{cohort} is recorded without an onset or recorded date",
    "duration.unconfirmed_earlier": "an earlier entry, {label} ({date}), is {verification}, not confirmed: "
    "a person should check whether the disease was there then",
    "activity.no_threshold": "the protocol sets no disease-activity threshold for {cohort}",
    "activity.score": "{item} {value} on {date}{threshold_text}",
    "activity.substitute": "{item} was recorded instead of {instead}, which the protocol names",
    "activity.grades": "{item} on {date}: {a} organ system(s) graded A, {b} graded B; needs 1 A or 2 B",
    "activity.grades_not_recorded": "{item} not recorded (required only when recorded)",
    # organ involvement
    "organ.not_required": "{cohort} needs no particular organ involvement",
    "organ.condition": "{item} recorded: {label} ({date})",
    "organ.unconfirmed": "{item} recorded as {verification}, not confirmed: {label} ({date})",
    "organ.not_current": "{item} recorded as {clinical}: {label} ({date}); a person should check it still applies",
    "organ.antibody": "{item} {polarity} on {date}",
    "organ.procedure": "{label} on {date}: its result is not coded, a person should read it",
    "organ.not_documented": "the organ involvement {cohort} requires is not documented",
    # therapy
    "therapy.none": "no standard therapy for {cohort} is recorded",
    "therapy.long_enough": "{therapy} from {start}{until}: {weeks:g} weeks, at least {weeks_needed}",
    "therapy.too_short_ongoing": "{therapy} since {start}: {weeks:g} weeks so far; "
    "reaches {weeks_needed} weeks on {reaches}",
    "therapy.stopped_early": "{therapy} from {start} to {end}: {weeks:g} weeks, fewer than {weeks_needed}{why_text}",
    "therapy.end_unknown": "{therapy} from {start}, but the record does not say how long it was taken",
    "therapy.imprecise": "{therapy} from {start}{until}: at least {weeks:g} and at most {most:g} weeks "
    "(its dates are imprecise); {weeks_needed} weeks needed",
    "therapy.named": '{therapy}: {label} recognised by its name ("{words}"), not by a code; counted all the same',
    "exposure.given": "{item}: {label} ({kind}, {date})",
    "exposure.planned": "{item} planned, not given: {label} ({date})",
    "exposure.named": '{item}: {label} ({kind}, {date}), recognised by its name ("{words}"), not by a code',
    "exposure.named_unsure": "{item} named in a record that does not say it was given: {label} ({kind}, {date}, "
    '{state}), recognised by its name ("{words}"); a person should read the chart',
    "exposure.product_code": "{item}: {label} ({date}); procedure code {code} names this product",
    "exposure.product_other": "{label} ({date}): procedure code {code} names {item}, which is not CD19-directed",
    "exposure.not_given": "{item} recorded as {state}: {label} ({date}); not counted",
    "exposure.car_t_target_unknown": "CAR-T therapy recorded ({label}, {date}); its target is not coded, "
    "a person should check whether it was CD19-directed",
    "exposure.car_t_is_gene_therapy": "CAR-T therapy recorded ({label}, {date}): "
    "genetically modified cells are gene therapy",
    "exposure.procedure": "gene therapy procedure recorded: {label} ({date})",
    "exposure.none": "no {item} recorded",
    "exposure.unidentified": "{reference} names a Medication that could not be found: it could be this therapy",
}

#: why a result cannot decide, or why its own reference range was not used (nested in a finding as `why`)
REASONS: dict[str, str] = {
    "unusable.undated": "it has no date",
    "unusable.imprecise_date": "its date ({date}) is too imprecise to place inside the {window}-day window",
    "unusable.status": "its status is {status}",
    "unusable.no_status": "its status is missing",
    "unusable.absent": "it has no value ({reason})",
    "unusable.no_number": "it has no numeric value",
    "unusable.unknown_unit": "its unit {unit!r} is not a known UCUM unit",
    "unusable.no_unit": "it has no unit",
    "unusable.unit_not_convertible": "its unit {unit} cannot be converted to {canonical}",
    "unusable.not_exact": "it is not an exact value ({value})",
    "unusable.implausible": "{value:g} {unit} is not a plausible value (a data error?)",
    "unusable.no_grades": "it holds no BILAG grades (A-E)",
    "unusable.score_unit": "its unit {unit} is not a unit of {title}",
    "unusable.score_written_unit": "its unit {unit!r} is not a unit of {title}",
    "unusable.out_of_range": "{value:g} is outside the range of {title} ({range_text})",
    "unusable.unitless_number": "its numeric value has no unit and no reference range to read it against",
    "unusable.no_polarity": "it cannot be read as positive or negative",
    "range.unclear": "it is not clear whether its reference ranges are for this patient",
    "range.other_groups": "its reference ranges are for other groups of patients",
    "range.no_unit": "its reference range has no usable unit",
    "range.not_positive": "its reference range is not positive",
}

NEEDS: dict[str, str] = {
    "need.result": "{item} ({code}) result within {window} days",
    "need.birth_date": "the patient's birth date",
    "need.diagnosis": "a recorded diagnosis of one of the seven cohort diseases",
    "need.diagnosis_date": "the onset or recorded date of the {cohort} diagnosis",
    "need.any_score": "a disease-activity score ({scores}; e.g. {code}) within {window} days",
    "need.condition": "a coded {item} diagnosis, if present",
    "need.therapy": "the standard therapies for {cohort} given so far, with start and end dates ({weeks} weeks needed)",
    "need.hcg": "a negative hCG ({code}) at screening for a woman of child-bearing potential",
    "need.exact": "an exact {item} result ({code}): {value} does not settle it",
    "need.medication": "the Medication that {reference} refers to",
    "need.chart": "read the chart before calling the patient: {what}",
}


def _ratio(params: Mapping[str, Param]) -> str:
    """One decimal, unless rounding would make a ratio look equal to the limit it crosses."""
    ratio, factor = params.get("ratio"), params.get("factor")
    if not isinstance(ratio, int | float):
        return ""
    text = f"{ratio:.1f}"
    if isinstance(factor, int | float) and float(text) == factor and ratio != factor:
        text = f"{ratio:.2f}" if round(ratio, 2) != factor else f"{ratio:.3f}"
    return text


def _threshold(params: Mapping[str, Param]) -> str:
    return f"; needs {params['op']} {params['minimum']}" if params.get("op") else ""


def _until(params: Mapping[str, Param]) -> str:
    if params.get("ongoing"):
        return ", ongoing"
    return f" to {params['end']}" if params.get("end") else ""


def _why(params: Mapping[str, Param]) -> str:
    why = params.get("why")
    return (
        f" (stopped: {why}; stopping for intolerance still qualifies)"
        if why
        else ("; a person should check whether it was stopped for intolerance")
    )


def _range(params: Mapping[str, Param]) -> str:
    """'low-high' of an instrument's range; an open bound (None) is infinite."""
    low, high = params.get("low"), params.get("high")
    low = low if isinstance(low, int | float) else float("-inf")
    high = high if isinstance(high, int | float) else float("inf")
    return f"{low:g}-{high:g}"


#: parameters computed from others, for templates that read differently by case
DERIVED: dict[str, Callable[[Mapping[str, Param]], str]] = {
    "ratio_text": _ratio,
    "threshold_text": _threshold,
    "until": _until,
    "why_text": _why,
    "range_text": _range,
}

#: the prefix of a nested reason's parameters (see the module docstring)
_WHY = "why_"


def _params(params: Mapping[str, Param]) -> dict[str, Param]:
    out: dict[str, Param] = {}
    for key, value in params.items():
        if key == "why" and isinstance(value, str) and value in REASONS:
            out[key] = render_reason(value, {k[len(_WHY) :]: v for k, v in params.items() if k.startswith(_WHY)})
        elif key in ("item", "cohort", "therapy", "instead") and isinstance(value, str):
            out[key] = NAMES.get(value, value.replace("_", " "))  # drug ids read as their INN
        elif key == "scores" and isinstance(value, str):
            out[key] = ", ".join(NAMES.get(v, v) for v in value.split(","))
        elif key == "uln_source" and isinstance(value, str):
            out[key] = ULN_SOURCES.get(value, value)
            if value == "default" and params.get("sex") in ("male", "female"):
                out[key] = f"default ULN for a {params['sex']} patient"
        elif key == "sex":
            out[key] = value if value in ("male", "female") else "sex not recorded: the stricter limit"
        else:
            out[key] = "" if value is None else value
    for key, derive in DERIVED.items():
        out[key] = derive(params)
    return out


def render(finding: Finding) -> str:
    return TEMPLATES[finding.message].format(**_params(finding.params))


def render_need(need: Need) -> str:
    return NEEDS[need.message].format(**_params(need.params))


def render_reason(message: str, params: Mapping[str, Param]) -> str:
    """A reason (REASONS) with its own parameters, as it reads inside a finding."""
    return REASONS[message].format(**_params(params))


#: the order findings take in a reason: what decides first
_ORDER = {"fail": 0, "unknown": 1, "review": 2, "pass": 3, None: 4}


def reason(result: CriterionResult, texts: list[str] | None = None) -> str:
    """The criterion's reason: its findings, most severe first, joined into one line.

    `texts` are the findings already rendered (in their own order), to render each only once.
    """
    rendered = texts if texts is not None else [render(f) for f in result.findings]
    order = sorted(range(len(result.findings)), key=lambda i: _ORDER[result.findings[i].status])
    return "; ".join(rendered[i] for i in order)

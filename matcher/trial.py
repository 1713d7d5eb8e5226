"""NCT07161193: its seven cohorts, their protocol thresholds, and the criteria that apply to every patient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matcher.codes.loader import Mappings
from matcher.criteria import (
    activity,
    demographics,
    diagnosis,
    history,
    judgement,
    labs,
    organ,
    pregnancy,
    serology,
    therapy,
)
from matcher.criteria.cohort import ActivityRule, Cohort, OrganRule, Threshold
from matcher.criteria.context import Context
from matcher.outcome import CriterionResult

TRIAL_ID = "NCT07161193"

GeneralCheck = Callable[[Context], CriterionResult]
CohortCheck = Callable[[Context, Cohort | None], CriterionResult]

COHORTS: tuple[Cohort, ...] = (
    Cohort(
        id="sle",
        title="Systemic lupus erythematosus",
        valueset="sle",
        drugset="sle_standard",
        # 1.9: SELENA-SLEDAI >= 8; PGA >= 1; BILAG-2004 1A or 2B (read when recorded, CONTRACT.md)
        activity=ActivityRule(
            "all",
            (Threshold("selena-sledai", 8, substitute="sledai-2k"), Threshold("sle-pga", 1)),
            grades="bilag-2004",
        ),
        serology=("ana", "anti_dsdna", "c3", "c4"),
    ),
    Cohort(
        id="iim",
        title="Idiopathic inflammatory myopathy",
        valueset="iim",
        drugset="iim_standard",
        activity=ActivityRule("none", context=("mmt8", "imacs-mdga")),
        serology=("anti_jo1", "myositis_antibodies", "ana"),
    ),
    Cohort(
        id="ssc",
        title="Systemic sclerosis",
        valueset="ssc",
        drugset="ssc_standard",
        activity=ActivityRule("none", context=("mrss",)),
        # 3.7: clinical or radiographic evidence of pulmonary involvement
        organ=OrganRule(valuesets=("ild", "pulmonary_hypertension")),
        serology=("anti_scl70", "ana"),
    ),
    Cohort(
        id="pemphigus",
        title="Pemphigus",
        valueset="pemphigus",
        drugset="pemphigus_standard",
        activity=ActivityRule("all", (Threshold("pdai", 9),)),  # 4.8: PDAI >= 9
        serology=("anti_dsg1", "anti_dsg3"),
    ),
    Cohort(
        id="psoriasis",
        title="Moderate-to-severe plaque psoriasis",
        valueset="psoriasis",
        drugset="psoriasis_standard",
        # 5.8: BSA >= 10 %, PASI >= 10 and sPGA >= 3
        activity=ActivityRule("all", (Threshold("psoriasis-bsa", 10), Threshold("pasi", 10), Threshold("spga", 3))),
        therapy_procedures=("phototherapy",),
    ),
    Cohort(
        id="ra",
        title="Moderate-to-severe rheumatoid arthritis",
        valueset="ra",
        drugset="ra_standard",
        # cohort 6 is "moderate-to-severe": moderate activity or more on any validated index
        activity=ActivityRule(
            "any",
            (
                Threshold("das28-esr", 3.2, inclusive=False),
                Threshold("das28-crp", 3.2, inclusive=False),
                Threshold("cdai", 10, inclusive=False),
                Threshold("sdai", 11, inclusive=False),
            ),
        ),
        serology=("rf", "anti_ccp", "esr", "crp"),
    ),
    Cohort(
        id="aav",
        title="ANCA-associated vasculitis / nephritis",
        valueset="aav",
        drugset="aav_standard",
        # 7.9: persistent or newly emerging vasculitic manifestations: BVAS above 0
        activity=ActivityRule("all", (Threshold("bvas", 0, inclusive=False),)),
        # 7.8: renal involvement, or small-vessel vasculitis with positive MPO or PR3 antibodies
        organ=OrganRule(
            valuesets=("renal_vasculitis",), antibodies=("mpo_anca", "pr3_anca"), procedures=("renal_biopsy",)
        ),
    ),
)

#: criteria judged once per patient, in the order a coordinator reads them
GENERAL_INCLUSIONS: tuple[GeneralCheck, ...] = (
    demographics.age,
    demographics.alive,
    judgement.consent,
    judgement.life_expectancy,
    judgement.contraception,
)
#: criteria judged for the cohort under consideration
COHORT_INCLUSIONS: tuple[CohortCheck, ...] = (
    diagnosis.diagnosis,
    diagnosis.disease_duration,
    activity.disease_activity,
    organ.organ_involvement,
    therapy.refractory,
)
EXCLUSIONS: tuple[GeneralCheck, ...] = (
    pregnancy.pregnancy,
    history.tuberculosis,
    history.neurologic,
    history.cardiac,
    history.active_infection,
    serology.hepatitis_b,
    serology.hepatitis_c,
    serology.hiv,
    serology.syphilis,
    history.immunodeficiency,
    therapy.prior_cd19_therapy,
    therapy.gene_therapy,
    labs.liver_function,
    labs.bilirubin,
    labs.renal_function,
)


@dataclass(frozen=True)
class Trial:
    id: str
    cohorts: tuple[Cohort, ...]
    general: tuple[GeneralCheck, ...]
    per_cohort: tuple[CohortCheck, ...]
    exclusions: tuple[GeneralCheck, ...]

    def check_mappings(self, m: Mappings) -> None:
        """Every id the criteria read must be defined in mappings/: fail at start-up, not mid-run."""
        m.require("valueset", [c.valueset for c in self.cohorts])
        m.require(
            "valueset",
            [v for c in self.cohorts if c.organ for v in (*c.organ.valuesets, *c.organ.procedures)]
            + [v for c in self.cohorts for v in c.therapy_procedures]
            + [
                "pregnancy",
                "pregnancy_end",
                "lactation",
                "tuberculosis",
                "tuberculosis_latent",
                "neurologic",
                "cardiac",
                "infection",
                "infection_allowed",
                "hbv_infection",
                "hcv_infection",
                "hiv_infection",
                "syphilis",
                "immunodeficiency",
                "car_t_history",
                "car_t_therapy",
                "gene_therapy_procedure",
                "coded_remission",
            ],
        )
        m.require("drugset", [c.drugset for c in self.cohorts] + ["cd19_therapy", "gene_therapy"])
        m.require(
            "analyte",
            [a for c in self.cohorts for a in (*c.serology, *(c.organ.antibodies if c.organ else ()))]
            + [
                "creatinine",
                "creatinine_clearance",
                "egfr",
                "alt",
                "ast",
                "bilirubin_total",
                "body_weight",
                "qtc",
                "hcg",
                "pregnancy_status",
                "lactation_status",
                "hbsag",
                "anti_hbc",
                "hbv_dna",
                "anti_hcv",
                "hcv_rna",
                "hiv_ab",
                "hiv_ag_ab",
                "treponema_ab",
                "tb_igra",
            ],
        )
        m.require(
            "score",
            [t.score for c in self.cohorts for t in c.activity.thresholds]
            + [t.substitute for c in self.cohorts for t in c.activity.thresholds if t.substitute]
            + [s for c in self.cohorts for s in c.activity.context]
            + [c.activity.grades for c in self.cohorts if c.activity.grades],
        )
        m.require("uln", ["alt", "ast", "bilirubin_total", "creatinine"])
        m.require("threshold", ["qtc"])
        m.require_units(labs.COCKCROFT_GAULT_UNITS)


NCT07161193 = Trial(
    id=TRIAL_ID,
    cohorts=COHORTS,
    general=GENERAL_INCLUSIONS,
    per_cohort=COHORT_INCLUSIONS,
    exclusions=EXCLUSIONS,
)

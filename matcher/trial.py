"""NCT07161193: its seven cohorts, their protocol thresholds, and the criteria that apply to every patient."""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.codes.model import Mappings
from matcher.criteria import (
    activity,
    demographics,
    diagnosis,
    history,
    judgement,
    labs,
    organ,
    pregnancy,
    prior_therapy,
    refractory,
    serology,
)
from matcher.criteria.cohort import ActivityRule, Cohort, OrganRule, Threshold
from matcher.criteria.criterion import General, PerCohort
from matcher.criteria.reads import DeclaredMappings, Reads

TRIAL_ID = "NCT07161193"

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

#: inclusions judged once per patient that the protocol reads before the cohort's own: age opens every cohort
OPENING_INCLUSIONS: tuple[General, ...] = (demographics.age,)
#: criteria judged for the cohort under consideration
COHORT_INCLUSIONS: tuple[PerCohort, ...] = (
    diagnosis.diagnosis,
    diagnosis.disease_duration,
    activity.disease_activity,
    organ.organ_involvement,
    refractory.refractory,
)
#: the other inclusions judged once per patient, read after the cohort's own
GENERAL_INCLUSIONS: tuple[General, ...] = (
    demographics.alive,
    judgement.consent,
    judgement.life_expectancy,
    judgement.contraception,
)
EXCLUSIONS: tuple[General, ...] = (
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
    prior_therapy.prior_cd19_therapy,
    prior_therapy.gene_therapy,
    labs.liver_function,
    labs.bilirubin,
    labs.renal_function,
)


@dataclass(frozen=True)
class Trial:
    """A trial's cohorts and criteria; the result lists them in reading order: `opening`, the cohort's own
    (`per_cohort`), `general`, then `exclusions`."""

    id: str
    cohorts: tuple[Cohort, ...]
    opening: tuple[General, ...]
    per_cohort: tuple[PerCohort, ...]
    general: tuple[General, ...]
    exclusions: tuple[General, ...]
    #: mappings digest -> mappings/ as the trial itself reads them (the cohorts' disease value sets)
    _views: dict[str, DeclaredMappings] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def own_reads(self) -> Reads:
        """What the trial reads beside its criteria: the cohorts' diseases, to know which cohorts to consider."""
        return Reads(valuesets=[c.valueset for c in self.cohorts])

    def view(self, m: Mappings) -> DeclaredMappings:
        found = self._views.get(m.provenance.digest)
        if found is None:
            found = self._views[m.provenance.digest] = DeclaredMappings(m, self.own_reads, self.id)
        return found

    def reads(self) -> Reads:
        """Everything the trial and its criteria read, for every cohort: the union of their declarations."""
        total = self.own_reads
        for check in (*self.opening, *self.general, *self.exclusions):
            total |= check.reads
        for cohort in self.cohorts:
            for cohort_check in self.per_cohort:
                total |= cohort_check.reads_for(cohort)
        return total

    def check_mappings(self, m: Mappings) -> None:
        """Every id the criteria declare they read must be defined in mappings/: fail at start-up, not mid-run."""
        declared = self.reads()
        m.require("valueset", declared.valuesets)
        m.require("drugset", declared.drugsets)
        m.require("analyte", declared.analytes)
        m.require("score", declared.scores)
        m.require("uln", declared.uln)
        m.require("threshold", declared.thresholds)
        m.require_units(declared.units)


NCT07161193 = Trial(
    id=TRIAL_ID,
    cohorts=COHORTS,
    opening=OPENING_INCLUSIONS,
    per_cohort=COHORT_INCLUSIONS,
    general=GENERAL_INCLUSIONS,
    exclusions=EXCLUSIONS,
)

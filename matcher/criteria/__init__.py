"""The trial's criteria, one module per family, and what a trial is assembled from and evaluated with.

The package exports the vocabulary of a trial definition (cohorts and their rules, criteria bound to what they
read) and the context every criterion receives. The families themselves (`matcher.criteria.labs`, ...) are
used as modules. A criteria module declares its reads with the decorators of `matcher.criteria.criterion`
(`reads`, `reads_per_cohort`): they are not re-exported, since `reads` would hide the module of that name.
"""

from matcher.criteria.cohort import ActivityRule, Cohort, OrganRule, Threshold
from matcher.criteria.context import Context
from matcher.criteria.criterion import General, PerCohort
from matcher.criteria.reads import DeclaredMappings, Reads, Window

__all__ = [
    "ActivityRule",
    "Cohort",
    "Context",
    "DeclaredMappings",
    "General",
    "OrganRule",
    "PerCohort",
    "Reads",
    "Threshold",
    "Window",
]

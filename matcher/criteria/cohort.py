"""How a disease cohort is described to the criteria: its value set, therapies, activity rule and organ rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Threshold:
    """A disease-activity score that must reach `minimum` (or exceed it, when not inclusive)."""

    score: str
    minimum: float
    inclusive: bool = True
    #: a related instrument accepted in its place, for a person to confirm (e.g. SLEDAI-2K for SELENA-SLEDAI)
    substitute: str | None = None

    def met(self, value: float) -> bool:
        return value >= self.minimum if self.inclusive else value > self.minimum


@dataclass(frozen=True)
class ActivityRule:
    #: all: every threshold must be met; any: one is enough; none: the protocol sets no threshold
    mode: Literal["all", "any", "none"]
    thresholds: tuple[Threshold, ...] = ()
    #: BILAG-2004: at least one A or two B grades, when recorded
    grades: str | None = None
    #: scores shown for context when the protocol sets no threshold
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrganRule:
    #: value sets of conditions that show the required organ involvement
    valuesets: tuple[str, ...]
    #: antibodies that, positive, show it together with the diagnosis itself (AAV: MPO or PR3 ANCA)
    antibodies: tuple[str, ...] = ()
    #: procedures whose coded result would show it, flagged for review when only the procedure is recorded
    procedures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cohort:
    id: str
    title: str
    valueset: str
    drugset: str
    activity: ActivityRule
    organ: OrganRule | None = None
    #: non-drug standard therapies (value sets of procedures), e.g. phototherapy for psoriasis
    therapy_procedures: tuple[str, ...] = ()
    #: serology shown beside the diagnosis for the coordinator (does not change the status)
    serology: tuple[str, ...] = field(default=())

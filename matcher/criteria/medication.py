"""How a medication record reads: taken, planned or neither, the words that named its drug, and its evidence."""

from __future__ import annotations

from matcher.outcome import Evidence
from matcher.record import MedicationFact

#: statuses under which a medication was (or is being) taken
_TAKEN = {
    "MedicationStatement": frozenset({"active", "completed", "stopped", "on-hold", "unknown"}),
    "MedicationRequest": frozenset({"active", "completed", "stopped", "on-hold", "unknown"}),
    "MedicationAdministration": frozenset({"completed", "in-progress", "on-hold", "stopped", "unknown"}),
}
_PLANNED_STATUSES = frozenset({"intended", "draft"})
#: statuses that say, beyond doubt, that a medication was given or is being taken: a drug recognised by
#: name only counts as given under one of these; under "unknown" (or none) a person reads the chart
SURELY_TAKEN = frozenset({"active", "completed", "stopped", "on-hold", "in-progress"})
PLANNED_INTENTS = frozenset({"proposal", "plan", "option"})


def taken(fact: MedicationFact) -> bool:
    if fact.intent in PLANNED_INTENTS:
        return False
    return fact.status is None or fact.status in _TAKEN.get(fact.resource_type, frozenset())


def planned(fact: MedicationFact) -> bool:
    return fact.status in _PLANNED_STATUSES or fact.intent in PLANNED_INTENTS


def medication_evidence(fact: MedicationFact, drug: str | None = None) -> Evidence:
    return Evidence(
        reference=fact.ref,
        value=fact.label,
        date=str(fact.start) if fact.start else None,
        item=drug,
        code=str(fact.codes[0]) if fact.codes and not fact.named else None,  # a name, not a code, matched
        display=fact.label,
        status=fact.status,
    )


def word_list(found: tuple[str, ...]) -> str:
    """The words that named a drug (in a record whose codes do not say it), as a reason shows them."""
    return "; ".join(found)

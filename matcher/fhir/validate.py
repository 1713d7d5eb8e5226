"""Boundary validation with fhir.resources (R4B models, which accept R4 JSON) for the resources criteria read."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from matcher.errors import InvalidResourceError

#: the resource types trialmatch reads; everything else is never validated nor kept
READ_TYPES = (
    "Patient",
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Medication",
    "Procedure",
)


@cache
def _model(resource_type: str) -> type[BaseModel]:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    model: type[BaseModel] = getattr(module, resource_type)
    return model


def validate(resource: dict[str, Any], reference: str) -> None:
    """Raise InvalidResourceError naming the first offending element (never its value)."""
    try:
        _model(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in err["loc"]) or "(resource)"
        raise InvalidResourceError(f"{where}: {err['msg']}", reference=reference) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some malformed primitives
        raise InvalidResourceError(type(exc).__name__, reference=reference) from None

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


#: deeper than this, a resource is refused before validation: no resource the criteria read nests so deep,
#: and an Extension nested ~120 levels made the validator recurse until Python gave up (a 500)
MAX_DEPTH = 32


def nesting_depth(value: object, limit: int = MAX_DEPTH) -> int:
    """How deeply objects and arrays nest in `value` (counting stops just past `limit`); no recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def validate(resource: dict[str, Any], reference: str) -> None:
    """Raise InvalidResourceError naming the first offending element (never its value)."""
    if nesting_depth(resource) > MAX_DEPTH:
        raise InvalidResourceError(f"nested more than {MAX_DEPTH} levels deep", reference=reference)
    try:
        _model(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in err["loc"]) or "(resource)"
        raise InvalidResourceError(f"{where}: {err['msg']}", reference=reference) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some malformed primitives
        raise InvalidResourceError(type(exc).__name__, reference=reference) from None
    except RecursionError:  # a shape that recurses without nesting deep: refused all the same
        raise InvalidResourceError("nested too deeply to validate", reference=reference) from None

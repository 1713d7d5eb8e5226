"""Group resources: who is a current member, and when a Group must be refused rather than used."""

from __future__ import annotations

from datetime import date
from typing import Any

from matcher.errors import InputError
from matcher.fhir.refs import target_id
from matcher.record import PartialDate


def group_members(group: dict[str, Any], today: date) -> set[str]:
    """The Group's current Patient members: not inactive, and not with a membership that has ended."""
    out = set()
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        ended = PartialDate.parse((member.get("period") or {}).get("end"))
        if ended is not None and ended.hi < today:
            continue
        pid = target_id(member.get("entity"), "Patient")
        if pid:
            out.add(pid)
    return out


def current_members(group: dict[str, Any] | None, group_id: str, today: date) -> set[str] | None:
    """The current members of Group/`group_id` (None for a Group that gives only its quantity).

    A Group that is missing, has no members, or lists none that is current is refused: matching or
    exporting everyone instead would be the one thing a Group was given to prevent.
    """
    if group is None:
        raise InputError(f"Group/{group_id} not found on the FHIR server")
    if not group.get("member"):
        if group.get("quantity"):
            return None
        raise InputError(f"Group/{group_id} has no members: refusing to match everyone instead")
    members = group_members(group, today)
    if not members:
        raise InputError(f"Group/{group_id} lists no current Patient members: refusing to match everyone instead")
    return members

"""The CDS Hooks 2.0 logical models (HL7/cds-hooks input/resources/StructureDefinition-CDSHooks*.json) as checks.

Each check answers the problems found in one body: a required element (min 1) missing or empty, a code outside
its required binding, or a broken invariant (cds-r-1, cds-resp-1 .. 6, cds-fb-1 .. 3), named by its key.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

#: CDSHooksServices.services: min 1 elements
SERVICE_REQUIRED = ("hook", "description", "id")
#: CDSHooksRequest: min 1 elements; fhirAuthorization's
REQUEST_REQUIRED = ("hook", "hookInstance", "context")
AUTHORIZATION_REQUIRED = ("access_token", "token_type", "expires_in", "scope", "subject")
#: CDSHooksResponse.cards: min 1 elements, and source's, suggestions', links'
CARD_REQUIRED = ("summary", "indicator", "source")
SOURCE_REQUIRED = ("label",)
SUGGESTION_REQUIRED = ("label",)
LINK_REQUIRED = ("label", "url", "type")
#: CDSHooksFeedback.feedback: min 1 elements
FEEDBACK_REQUIRED = ("card", "outcome", "outcomeTimestamp")
#: required bindings
INDICATORS = ("info", "warning", "critical")
LINK_TYPES = ("absolute", "smart")
SELECTION_BEHAVIORS = ("at-most-one", "any")
OUTCOMES = ("accepted", "overridden")
#: one-sentence, <140-character summary
SUMMARY_LIMIT = 140
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _missing(where: str, body: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Required elements absent, null, or empty (2.0: required strings may not be empty or whitespace)."""
    out = []
    for name in names:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()) or value in ({}, []):
            out.append(f"{where}.{name} is required")
    return out


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value.removeprefix("urn:uuid:"))
    except ValueError:
        return False
    return True


def _nulls(where: str, value: object) -> list[str]:
    """2.0: JSON attributes SHALL NOT be null, and objects SHALL NOT be empty (prefetch values excepted)."""
    if value is None:
        return [f"{where} is null"]
    if isinstance(value, dict):
        if not value:
            return [f"{where} is an empty object"]
        return [p for k, v in value.items() for p in _nulls(f"{where}.{k}", v)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(f"{where}[{i}]", v)]
    return []


def services_problems(body: dict[str, Any]) -> list[str]:
    """CDSHooksServices: the discovery answer."""
    services = body.get("services")
    if not isinstance(services, list):
        return ["services must be present, as an array"]
    out = _nulls("discovery", body)
    for i, s in enumerate(services):
        where = f"services[{i}]"
        out += _missing(where, s, SERVICE_REQUIRED)
        prefetch = s.get("prefetch", {})
        if not isinstance(prefetch, dict) or not all(isinstance(v, str) and v for v in prefetch.values()):
            out.append(f"{where}.prefetch must map keys to FHIR query strings")
    return out


def request_problems(body: dict[str, Any]) -> list[str]:
    """CDSHooksRequest: a hook call."""
    out = _missing("request", body, REQUEST_REQUIRED)
    if "hookInstance" in body and not _is_uuid(body["hookInstance"]):
        out.append("request.hookInstance must be a uuid")
    auth = body.get("fhirAuthorization")
    if auth is not None:
        out += _missing("request.fhirAuthorization", auth, AUTHORIZATION_REQUIRED)
        if auth.get("token_type") != "Bearer":
            out.append("request.fhirAuthorization.token_type is fixed to Bearer")
        if not isinstance(auth.get("expires_in"), int):
            out.append("request.fhirAuthorization.expires_in must be an integer")
        if not body.get("fhirServer"):
            out.append("cds-r-1: fhirAuthorization without fhirServer")
    return out


def response_problems(body: dict[str, Any], *, uuid_on_each_card: bool = True) -> list[str]:
    """CDSHooksResponse: the cards (and trialmatch's own rule: a uuid on each card, for feedback)."""
    cards = body.get("cards")
    if not isinstance(cards, list):
        return ["cards must be present, as an array"]
    out = _nulls("response", body)
    for i, card in enumerate(cards):
        where = f"cards[{i}]"
        out += _missing(where, card, CARD_REQUIRED)
        if uuid_on_each_card and not _is_uuid(card.get("uuid")):
            out.append(f"{where}.uuid must be a uuid")
        summary = card.get("summary")
        if isinstance(summary, str) and len(summary) >= SUMMARY_LIMIT:
            out.append(f"{where}.summary has {len(summary)} characters (fewer than {SUMMARY_LIMIT})")
        if "indicator" in card and card["indicator"] not in INDICATORS:
            out.append(f"{where}.indicator {card['indicator']!r} is not one of {INDICATORS}")
        if isinstance(card.get("source"), dict):
            out += _missing(f"{where}.source", card["source"], SOURCE_REQUIRED)
        suggestions = card.get("suggestions") or []
        for j, s in enumerate(suggestions):
            out += _missing(f"{where}.suggestions[{j}]", s, SUGGESTION_REQUIRED)
            if "uuid" in s and not _is_uuid(s["uuid"]):
                out.append(f"{where}.suggestions[{j}].uuid must be a uuid")
            for action in s.get("actions") or []:
                if not action.get("description"):
                    out.append(f"cds-resp-5: {where}.suggestions[{j}] action without a description")
        behavior = card.get("selectionBehavior")
        if suggestions and behavior is None:
            out.append(f"cds-resp-6: {where} has suggestions but no selectionBehavior")
        if behavior is not None and behavior not in SELECTION_BEHAVIORS:
            out.append(f"{where}.selectionBehavior {behavior!r} is not one of {SELECTION_BEHAVIORS}")
        if behavior == "at-most-one" and sum(1 for s in suggestions if s.get("isRecommended")) > 1:
            out.append(f"cds-resp-1: {where} recommends more than one suggestion with at-most-one")
        for j, reason in enumerate(card.get("overrideReasons") or []):
            if not reason.get("display"):
                out.append(f"cds-resp-4: {where}.overrideReasons[{j}] has no display")
        for j, link in enumerate(card.get("links") or []):
            lw = f"{where}.links[{j}]"
            out += _missing(lw, link, LINK_REQUIRED)
            if "type" in link and link["type"] not in LINK_TYPES:
                out.append(f"{lw}.type {link['type']!r} is not one of {LINK_TYPES}")
            if link.get("type") != "smart" and "appContext" in link:
                out.append(f"cds-resp-3: {lw} has appContext but is not a smart link")
            if link.get("type") == "absolute":
                parts = urlsplit(str(link.get("url", "")))
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    out.append(f"{lw}.url is not an absolute URL")
    return out


def feedback_problems(body: dict[str, Any]) -> list[str]:
    """CDSHooksFeedback: what a CDS client sends to the feedback endpoint."""
    entries = body.get("feedback")
    if not isinstance(entries, list):
        return ["feedback must be present, as an array"]
    out = []
    for i, f in enumerate(entries):
        where = f"feedback[{i}]"
        out += _missing(where, f, FEEDBACK_REQUIRED)
        if "card" in f and not _is_uuid(f["card"]):
            out.append(f"{where}.card must be a uuid")
        if "outcome" in f and f["outcome"] not in OUTCOMES:
            out.append(f"cds-fb-1: {where}.outcome {f['outcome']!r} is not one of {OUTCOMES}")
        if f.get("outcome") == "accepted" and not f.get("acceptedSuggestions"):
            out.append(f"cds-fb-2: {where} is accepted without acceptedSuggestions")
        for j, s in enumerate(f.get("acceptedSuggestions") or []):
            if not _is_uuid(s.get("id")):
                out.append(f"{where}.acceptedSuggestions[{j}].id must be a uuid")
        reason = f.get("overrideReason")
        if reason is not None and not (reason.get("reason") or reason.get("userComment")):
            out.append(f"cds-fb-3: {where}.overrideReason has neither reason nor userComment")
        stamp = f.get("outcomeTimestamp")
        if isinstance(stamp, str) and not _INSTANT.match(stamp):
            out.append(f"{where}.outcomeTimestamp is not an instant")
        elif isinstance(stamp, str):
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return out

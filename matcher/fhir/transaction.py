"""A patient Bundle as a FHIR transaction of PUT Type/id, so a server keeps its ids (for loading test servers)."""

from __future__ import annotations

from typing import Any


def to_put_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """Every entry as `PUT Type/id`, with urn:uuid references rewritten to the Type/id they stand for."""
    entries = [e for e in bundle.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    targets = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in entries
        if isinstance(e.get("fullUrl"), str) and e["fullUrl"].startswith("urn:") and "id" in e["resource"]
    }
    out = []
    for entry in entries:
        resource = _rewrite(entry["resource"], targets)
        if "id" not in resource:
            raise ValueError(f"a {resource['resourceType']} without an id cannot be PUT")
        url = f"{resource['resourceType']}/{resource['id']}"
        out.append({"fullUrl": url, "resource": resource, "request": {"method": "PUT", "url": url}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def _rewrite(value: Any, targets: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: targets.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, targets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, targets) for v in value]
    return value

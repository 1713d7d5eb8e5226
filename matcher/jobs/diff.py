"""What changed between two runs: new candidates, changed verdicts (and the criteria that moved), drop-outs,
patients deleted or merged on the server, and candidates that could not be evaluated this time."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from matcher.jobs.models import Result

CANDIDATE = ("eligible", "possibly_eligible")


@dataclass
class Change:
    patient: str
    before: str | None  # verdict, or how the patient left (gone, merged, left, error)
    after: str | None
    cohort: str | None = None
    #: criterion id -> (status before, status after)
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "patient": f"Patient/{self.patient}",
            "before": self.before,
            "after": self.after,
            "cohort": self.cohort,
            "moved": {k: list(v) for k, v in self.moved.items()},
            "detail": self.detail,
        }


@dataclass
class Diff:
    new: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    dropped: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)  # deleted or merged on the server
    #: candidates of before that could not be evaluated this time (an error): neither dropped nor known
    not_evaluated: list[Change] = field(default_factory=list)
    unchanged: int = 0
    #: patients who were not candidates and that a stopped run did not reach: nothing is known of them
    not_reached: int = 0

    def sections(self) -> list[tuple[str, str, list[Change]]]:
        """(JSON key, title for people, changes) in the order a coordinator reads them."""
        return [
            ("new_candidates", "new", self.new),
            ("verdict_changed", "changed", self.changed),
            ("dropped_out", "dropped out", self.dropped),
            ("deleted_or_merged", "deleted or merged", self.removed),
            ("not_evaluated", "not evaluated", self.not_evaluated),
        ]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: [c.as_json() for c in items] for key, _, items in self.sections()}
        out["unchanged"] = self.unchanged
        out["not_reached"] = self.not_reached
        return out


def _statuses(result: Result | None) -> dict[str, str]:
    if result is None or not result.result:
        return {}
    return {c["id"]: c["status"] for c in result.result.get("criteria", [])}


def _state(result: Result | None) -> str | None:
    if result is None:
        return None
    return result.verdict if result.state == "evaluated" else result.state


def _candidate(result: Result | None) -> bool:
    return (
        result is not None and result.state == "evaluated" and result.verdict in CANDIDATE and result.cohort is not None
    )


def diff(before: Mapping[str, Result], after: Mapping[str, Result], pending: Set[str] = frozenset()) -> Diff:
    """The changes from `before` to `after`; `pending` are patients the later run set out to evaluate but
    has no result for yet (it stopped early): they have not changed, they are not known."""
    out = Diff()
    for pid in sorted(set(before) | set(after)):
        a, b = before.get(pid), after.get(pid)
        latest = b if b is not None else a
        change = Change(pid, _state(a), _state(b), cohort=latest.cohort if latest is not None else None)
        if b is None and pid in pending:
            if _candidate(a):
                change.detail = "not reached: the run stopped before this patient"
                out.not_evaluated.append(change)
            else:
                out.not_reached += 1
            continue
        if b is not None and b.state in ("gone", "merged"):
            if a is not None and a.state not in ("gone", "merged"):
                change.detail = b.detail
                out.removed.append(change)
            continue
        if b is not None and b.state == "error":
            if _candidate(a):
                change.detail = b.detail
                out.not_evaluated.append(change)
            continue
        change.moved = {cid: (sa, sb) for cid, sb in _statuses(b).items() if (sa := _statuses(a).get(cid)) and sa != sb}
        if _candidate(b) and not _candidate(a):
            out.new.append(change)
        elif _candidate(a) and not _candidate(b):
            change.detail = b.detail if b is not None else None
            out.dropped.append(change)
        elif (
            _candidate(a)
            and _candidate(b)
            and (a is not None and b is not None)
            and (a.verdict != b.verdict or change.moved)
        ):
            out.changed.append(change)
        else:
            out.unchanged += 1
    return out


def render(d: Diff) -> str:
    """The changes as lines for a person."""
    lines = [
        f"{len(d.new)} new candidates, {len(d.changed)} changed, {len(d.dropped)} dropped out, "
        f"{len(d.removed)} deleted or merged, {len(d.not_evaluated)} not evaluated, {d.unchanged} unchanged"
        + (f", {d.not_reached} others not reached" if d.not_reached else "")
    ]
    for _, title, items in d.sections():
        for c in items:
            moved = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in sorted(c.moved.items()))
            extra = f" ({c.detail})" if c.detail else ""
            lines.append(
                f"  {title:<17} Patient/{c.patient}: {c.before or '-'} -> {c.after or '-'}{extra}"
                + (f"  [{moved}]" if moved else "")
            )
    return "\n".join(lines) + "\n"

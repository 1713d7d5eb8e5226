"""Golden MatchResults: write those of the fixtures (and any other folders) at several dates, or compare with them.

A refactoring must not change behaviour: write the results before it, compare after it.

    python scripts/golden.py write var/golden.json fixtures ../shared/data/synthea-r4
    python scripts/golden.py compare var/golden.json fixtures ../shared/data/synthea-r4

`versions` (the mappings digest) is left out, so that a change of provenance alone does not count.
Exit status 1 when anything differs, with one line per patient that differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from matcher.pipeline import checked_mappings, rank_paths
from matcher.serialize import result_json
from matcher.settings import Settings

#: a date with the fixtures' labs fresh, one a year later with most of them stale, and one far back
DATES = (date(2026, 6, 30), date(2027, 6, 30), date(2021, 1, 1))


def results(paths: list[Path]) -> dict[str, Any]:
    mappings = checked_mappings(Settings())
    out: dict[str, Any] = {}
    for as_of in DATES:
        ranked, _ = rank_paths(paths, as_of, mappings)
        for r in ranked:
            data = result_json(r)
            data.pop("versions", None)
            out[f"{as_of.isoformat()} {r.patient}"] = data
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("write", "compare"))
    parser.add_argument("golden", type=Path)
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    now = results(args.paths)
    if args.action == "write":
        args.golden.parent.mkdir(parents=True, exist_ok=True)
        args.golden.write_text(json.dumps(now, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {len(now)} results to {args.golden}")
        return 0
    before = json.loads(args.golden.read_text(encoding="utf-8"))
    differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    for key in differ:
        print(f"differs: {key}")
    print(f"{len(now)} results, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

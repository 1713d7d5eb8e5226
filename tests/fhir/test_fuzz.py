"""Whatever a resource holds, reading it ends in a record or an InputError: never another exception."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.errors import InputError
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.serialize import result_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SEED = json.loads((FIXTURES / "sle_eligible.json").read_text())
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just([None]),
    st.just({"coding": None}),
    st.just([{"coding": [None]}]),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


PLACES = [p for p in paths(SEED) if len(p) >= 4 and p[0] == "entry"]


def put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PLACES), ODD), min_size=1, max_size=3))
def test_odd_values_anywhere_end_in_a_result_or_an_input_error(mappings, changes):
    bundle = copy.deepcopy(SEED)
    for path, value in changes:
        try:
            put(bundle, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    try:
        record = record_from_bundle(bundle, mappings)
    except InputError:
        return
    result_json(evaluate(record, date(2026, 6, 30), mappings))

"""Property tests: corrupted inputs never crash an importer, and kept + rejected = input rows.

    python -m pytest -q tests/io/test_properties.py

Rows start from a valid row of each format, then hypothesis corrupts them: fields dropped,
values swapped for other JSON types, empty strings, unknown roles, duplicated rows and ids,
raw malformed lines. The only exception allowed is DataError for a wholly unreadable file.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefdata.errors import DataError
from prefdata.io.dataset_dir import examples_frame
from prefdata.io.importer import read_source
from prefdata.records import DPOExample

H, A = "\n\nHuman: ", "\n\nAssistant: "
U = {"role": "user", "content": "Hi there"}
VALID = {
    "hh-rlhf": {"chosen": f"{H}Hi{A}Hello{H}Why?{A}Because.", "rejected": f"{H}Hi{A}Hello{H}Why?{A}No."},
    "trl": {"prompt": [U], "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}], "prompt_id": "p1", "chosen_score": 1.0},
    "trl-implicit": {"chosen": [U, {"role": "assistant", "content": "a"}], "rejected": [U, {"role": "assistant", "content": "b"}]},
    "llamafactory": {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}],
                     "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
    "ultrafeedback": {"instruction": "Q", "completions": [
        {"response": "a", "overall_score": 8, "model": "m1", "annotations": {"helpfulness": {"Rating": "5"}}},
        {"response": "b", "overall_score": 3, "model": "m2"}]},
}
READER = {"trl-implicit": "trl"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
    | st.sampled_from(["", " ", "robot", "gpt", "human", "Human:", "N/A", "\n\nHuman: x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["role", "content", "from", "value", "response", "overall_score"]), inner, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every (path) into a nested JSON value, so a corruption can hit any depth."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def corrupted_row(draw, base: dict):
    row = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(row) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = row
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "empty"]))
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = "" if action == "empty" else draw(json_values)
    return row


@st.composite
def corrupted_file(draw, fmt: str):
    base = VALID[fmt]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["valid", "corrupt", "corrupt", "duplicate", "garbage", "not_object"]))
        if kind == "valid" or (kind == "duplicate" and not lines):
            lines.append(json.dumps(base))
        elif kind == "duplicate":
            lines.append(draw(st.sampled_from(lines)))
        elif kind == "corrupt":
            lines.append(json.dumps(draw(corrupted_row(base))))
        elif kind == "garbage":
            lines.append(draw(st.sampled_from(['{"chosen": ', "]]", "nan", "{'single': 'quotes'}", "\x00x"])))
        else:
            lines.append(json.dumps(draw(json_values)))
    return lines


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_corrupted_inputs_never_crash_and_counts_balance(fmt):
    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lines=corrupted_file(fmt))
    def check(lines):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.jsonl"
            path.write_text("\n".join(lines) + "\n")
            non_blank = sum(1 for line in "\n".join(lines).splitlines() if line.strip())
            try:
                result = read_source(path, READER.get(fmt, fmt))
            except DataError:
                # Only a file with no parseable line at all may be refused as a whole.
                assert all(_bad_json(line) for line in "\n".join(lines).splitlines() if line.strip())
                return
            assert result.input_rows == non_blank
            assert len(result.examples) + len(result.rejects) == result.input_rows
            for row in result.rejects.rows:
                assert row["reason"] and row["message"] and row["row"] >= 1
            for example in result.examples:
                DPOExample.model_validate(example)
            examples_frame(result.examples)  # kept rows always form one well-typed frame

    check()


def _bad_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return False

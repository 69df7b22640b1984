"""`prefdata eval`: reading IFEval's file shape, refusing bad rows before any model loads,
per-prompt scores, paired comparison, and the whole command on tiny models and SmolLM2.

    python -m pytest -q tests/evaluate/test_eval.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")

from prefdata.errors import PrefdataError  # noqa: E402
from prefdata.evaluate.compare import compare, summarize  # noqa: E402
from prefdata.evaluate.prompts import read_eval_prompts  # noqa: E402

# IFEval's own rows (input_data.jsonl shape): key, prompt, instruction_id_list, kwargs
IFEVAL_ROWS = [
    {"key": 1000, "prompt": "Write a short note about mice in a kitchen. Do not use any commas.",
     "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 1001, "prompt": "Describe the sky in all lowercase letters, in fewer than 3 sentences.",
     "instruction_id_list": ["change_case:english_lowercase", "length_constraints:number_sentences"],
     "kwargs": [{}, {"num_sentences": 3, "relation": "less than"}]},
    {"key": 1002, "prompt": "Name a fruit. Wrap your entire response with double quotation marks.",
     "instruction_id_list": ["startend:quotation"], "kwargs": [{}]},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ifeval_files_are_read_unchanged_with_their_keys(tmp_path):
    table = read_eval_prompts(write_jsonl(tmp_path / "ifeval.jsonl", IFEVAL_ROWS))
    assert table.height == 3
    refs = [json.loads(r) for r in table["reference"]]
    assert refs[1]["instruction_id_list"][1] == "length_constraints:number_sentences"  # needs punkt: stand-in
    assert [json.loads(m)["id"] for m in table["metadata"]] == ["1000", "1001", "1002"]


@pytest.mark.parametrize("row, field, words", [
    ({"instruction_id_list": ["punctuation:no_commas"], "kwargs": [{}]}, "instruction_id_list",
     "unknown instruction id 'punctuation:no_commas'"),
    ({"instruction_id_list": ["keywords:existence"], "kwargs": [{"keyword": ["mice"]}]}, "kwargs",
     "keywords:existence"),
    ({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}, "kwargs", "list of 1 objects"),
])
def test_a_bad_row_is_one_line_naming_file_row_and_field(tmp_path, row, field, words):
    rows = [IFEVAL_ROWS[0], {"key": 7, "prompt": "Say hi.", **row}]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(PrefdataError) as e:
        read_eval_prompts(path)
    message = str(e.value)
    assert message.startswith(f"{path}: row 2, field {field}: ") and words in message and "\n" not in message


def _table(strict: list[float], relevance: list[float]) -> pl.DataFrame:
    n = len(strict)
    return pl.DataFrame({"prompt_id": [f"p{i}" for i in range(n)], "key": [None] * n, "instructions": [2] * n,
                         "stand_in": [False] * n, "answer_tokens": [10] * n, "truncated": [False] * n,
                         "prompt_strict": strict, "prompt_loose": strict, "instruction_strict": strict,
                         "instruction_loose": strict, "relevance": relevance, "answered": [True] * n})


def test_models_are_compared_with_the_baseline_prompt_by_prompt():
    base = _table([0.0] * 60 + [1.0] * 40, [0.5] * 100)
    better = _table([1.0] * 100, [0.5] * 100)
    same = _table([0.0] * 60 + [1.0] * 40, [0.5] * 100)
    compared = compare({"base": base, "better": better, "same": same}, "base")
    assert compared["better"]["prompt_strict"]["verdict"] == "holds"
    assert compared["better"]["prompt_strict"]["diff"] == pytest.approx(0.6)
    assert compared["same"]["prompt_strict"]["verdict"] == "does not hold"
    assert "base" not in compared
    summary = summarize({"base": base})["base"]
    assert summary["prompt_strict"] == pytest.approx(0.4) and summary["instruction_strict_micro"] == pytest.approx(0.4)
    assert summary["prompts"] == summary["answered"] == 100


def prefdata_eval(*args, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "eval", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eval_two_tiny_models_resumes_and_reports(tmp_path, tiny_model_dir):
    pytest.importorskip("vllm")
    from prefdata.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", seed=1)
    prompts = write_jsonl(tmp_path / "ifeval.jsonl", IFEVAL_ROWS)
    out = tmp_path / "eval"
    args = (tiny_model_dir, other, "--prompts", prompts, "--out", out, "--max-tokens", 16,
            "--set", "max_model_len=256")
    first = prefdata_eval(*args)
    results = json.loads((out / "results.json").read_text())
    assert results["baseline"] == str(tiny_model_dir) and results["prompts"] == {
        "file": str(prompts), "count": 3, "stand_in": 1}
    assert set(results["models"]) == {str(tiny_model_dir), str(other)}
    cmp = results["compared"][str(other)]["prompt_strict"]
    assert cmp["prompts"] == 3 and cmp["low"] <= cmp["diff"] <= cmp["high"]
    scores = pl.read_parquet(next((out / "models").glob("*other-model*/scores.parquet")))
    assert scores.height == 3 and scores["answered"].all() and (scores["answer_tokens"] <= 16).all()
    assert scores.filter(pl.col("stand_in"))["instructions"].to_list() == [2]
    assert "prefdata eval" in (out / "index.html").read_text() and "prefdata eval: 3 prompts" in first.stderr
    again = prefdata_eval(*args)  # every stage of both models reused: nothing sampled again
    assert again.stderr.count("reused") >= 4 and "running" not in again.stderr
    assert json.loads((out / "results.json").read_text())["models"] == results["models"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eval_on_smollm2(tmp_path, smollm2_dir):
    pytest.importorskip("vllm")
    prompts = write_jsonl(tmp_path / "ifeval.jsonl", IFEVAL_ROWS)
    prefdata_eval(smollm2_dir, "--prompts", prompts, "--out", tmp_path / "eval", "--max-tokens", 96)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    summary = results["models"][str(smollm2_dir)]
    assert summary["answered"] == 3 and 0.0 <= summary["prompt_strict"] <= 1.0
    assert summary["relevance"] is not None and summary["answer_tokens"] > 0

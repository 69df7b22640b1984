"""Report, `prefdata filter` and `prefdata inspect` on real imported data and on a built run.

    python -m pytest -q tests/test_report.py            # add -m "not slow" to skip the built run

Acceptance of issue 6: the card and plots are written and the funnel numbers add up.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from prefdata.cli import app
from prefdata.report import check_funnel, summarize

FILTERS = {"steps": [{"type": "quality"}, {"type": "length", "max_ratio": 3.0, "symmetric": True},
                     {"type": "dedup", "threshold": 0.8}]}


@pytest.fixture(scope="module")
def filters_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "filters.yaml"
    path.write_text(yaml.safe_dump(FILTERS))
    return path


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def check_filtered_dir(src: Path, out: Path, expected_input: int) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    funnel = stats["funnel"]
    check_funnel(funnel)
    assert funnel[0]["name"] == "import" and funnel[0]["rows_in"] == expected_input
    for before, after in zip(funnel, funnel[1:]):
        assert after["rows_in"] == before["rows_kept"], "a step's input is not the previous step's output"
    kept = sum(pl.read_parquet(p).height for p in out.glob("*.parquet") if p.name != "rejects.parquet")
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert kept == funnel[-1]["rows_kept"] == stats["kept"]
    assert kept + rejects.height == json.loads((src / "stats.json").read_text())["kept"]
    assert rejects["row"].is_not_null().all() and rejects["reason"].is_not_null().all()
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "## Funnel" in card
    for name in ("margin_hist", "length_gap_hist", "funnel"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
        assert f"plots/{name}.png" in card
    return stats


def test_hh_rlhf_import_filter_inspect(hh_rlhf_file, tmp_path, filters_yaml):
    src, out = tmp_path / "hh", tmp_path / "hh-filtered"
    cli("import", hh_rlhf_file, "--format", "hh-rlhf", "--out", src)
    cli("filter", src, "--config", filters_yaml, "--out", out)
    stats = check_filtered_dir(src, out, expected_input=2312)
    assert stats["before_filters"]["length_gap"]["mean"] is not None
    text = cli("inspect", out)
    assert "filter:quality" in text and "filter:dedup" in text and f"train={stats['splits']['train']}" in text


def test_filter_runs_the_stage_driver_in_slices_with_the_same_result(hh_rlhf_file, tmp_path, filters_yaml):
    src = tmp_path / "hh"
    cli("import", hh_rlhf_file, "--format", "hh-rlhf", "--out", src)
    cli("filter", src, "--config", filters_yaml, "--out", tmp_path / "whole")
    cli("filter", src, "--config", filters_yaml, "--out", tmp_path / "sliced", "--set", "partition_pairs=500")
    for name in ("train.parquet", "rejects.parquet"):
        assert pl.read_parquet(tmp_path / "sliced" / name).equals(pl.read_parquet(tmp_path / "whole" / name))
    funnel = [json.loads((tmp_path / d / "stats.json").read_text())["funnel"] for d in ("whole", "sliced")]
    assert [(s["rows_in"], s["rows_kept"]) for s in funnel[0]] == [(s["rows_in"], s["rows_kept"]) for s in funnel[1]]
    assert not list(tmp_path.glob(".sliced.filter-*"))  # the scratch space is gone


def test_llamafactory_import_filter_keeps_splits(llamafactory_dir, tmp_path, filters_yaml):
    src, out = tmp_path / "lf", tmp_path / "lf-filtered"
    cli("import", llamafactory_dir / "dpo_en_demo.json", "--format", "llamafactory", "--dataset-info",
        llamafactory_dir / "dataset_info.json", "--name", "dpo_en_demo", "--test-size", "0.1", "--out", src)
    cli("filter", src, "--config", filters_yaml, "--out", out)
    check_filtered_dir(src, out, expected_input=300)
    test_before = set(pl.read_parquet(src / "test.parquet")["prompt_id"])
    assert set(pl.read_parquet(out / "test.parquet")["prompt_id"]) <= test_before  # rows keep their split


def test_ultrafeedback_import_repair_and_filter(tmp_path):
    rows = [{"instruction": f"Question number {i} about topic {i * 7}?", "completions": [
        {"response": f"answer {j} " * (j + 2), "overall_score": score, "model": f"m{j}"}
        for j, score in enumerate(scores)]}
        for i, scores in enumerate([[1, 5, 9], [2, 2], [3, "N/A", 7], [4, 6, 8], [5]])]
    source = tmp_path / "uf.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = tmp_path / "repair.yaml"
    config.write_text(yaml.safe_dump({"pair": {"strategy": "all_pairs", "min_margin": 1.0},
                                      "steps": [{"type": "gap", "min_margin": 3.0}]}))
    src, out = tmp_path / "uf", tmp_path / "uf-repaired"
    cli("import", source, "--format", "ultrafeedback", "--out", src)
    cli("filter", src, "--config", config, "--out", out)
    stats = json.loads((out / "stats.json").read_text())
    check_funnel(stats["funnel"])
    pair_step, gap_step = stats["funnel"]
    assert (pair_step["rows_in"], pair_step["rows_kept"], pair_step["pairs"]) == (5, 3, 3 + 1 + 3)
    assert pair_step["dropped"] == {"tie": 1, "too_few_candidates": 1}
    kept = pl.read_parquet(out / "train.parquet")
    # margins: [1,5,9] -> 4, 8, 4; [3,N/A,7] -> 4; [4,6,8] -> 2, 4, 2 (the 2s fail the gap step)
    assert sorted(kept["margin"].to_list()) == [4.0, 4.0, 4.0, 4.0, 8.0] and gap_step["rows_kept"] == 5


def test_repair_without_candidates_is_a_clear_error(hh_rlhf_file, tmp_path):
    src = tmp_path / "hh"
    cli("import", hh_rlhf_file, "--format", "hh-rlhf", "--out", src)
    config = tmp_path / "repair.yaml"
    config.write_text("pair: {strategy: best_vs_worst}\nsteps: []\n")
    result = CliRunner().invoke(app, ["filter", str(src), "--config", str(config), "--out", str(tmp_path / "o")])
    assert "candidates.parquet" in str(result.exception) and "--format ultrafeedback" in str(result.exception)


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {type: length, max_ratio: 0.5}\n")
    result = CliRunner().invoke(app, ["filter", str(tmp_path), "--config", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "max_ratio" in str(result.exception)
    result = CliRunner().invoke(app, ["inspect", str(tmp_path)])
    assert "neither a build run directory" in str(result.exception)


@pytest.mark.slow
def test_built_run_funnel_card_and_inspect(tiny_model_dir, tiny_reward_model_dir, tmp_path):
    from prefdata.runner import build

    repo = Path(__file__).resolve().parents[1]
    recipe = {
        "name": "acceptance-6", "seed": 0,
        "prompts": {"path": str(repo / "pipelines" / "data" / "math_prompts.jsonl"), "prompt_column": "prompt",
                    "reference_column": "reference"},
        "sample": {"k": 4, "sampling": {"temperature": 1.0, "max_tokens": 12},
                   "models": [{"backend": "transformers", "model": str(tiny_model_dir), "max_model_len": 256}]},
        "label": {"judges": [{"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir),
                              "batch_size": 16, "device": "cpu", "dtype": "float32"}]},
        "pair": {"strategy": "best_vs_worst"},
        # the random tiny model nearly always runs to max_tokens: keep truncated answers here
        "filter": {"steps": [{"type": "gap", "min_quantile": 0.25}, {"type": "quality", "drop_truncated": False},
                              {"type": "dedup"}]},
        "export": {"test_size": 0.2},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    build(path, tmp_path / "run")
    summary = summarize(tmp_path / "run")
    funnel = summary["funnel"]
    check_funnel(funnel)
    names = [s["name"] for s in funnel]
    assert names == ["prompts", "sample", "label", "pair", "filter:gap", "filter:quality", "filter:dedup", "export"]
    pair_step = funnel[names.index("pair")]
    assert funnel[names.index("filter:gap")]["rows_in"] == pair_step["pairs"]
    dataset = tmp_path / "run" / "dataset"
    stats = json.loads((dataset / "stats.json").read_text())
    assert sum(stats["splits"].values()) == funnel[-1]["rows_kept"] == funnel[-2]["rows_kept"]
    assert (dataset / "plots" / "funnel.png").is_file() and "## Funnel" in (dataset / "README.md").read_text()
    text = cli("inspect", tmp_path / "run")
    assert "filter:gap" in text and "margin:" in text

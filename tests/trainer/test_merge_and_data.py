"""`prefdata merge`, bad dataset dirs (missing columns, severe rows, too-long prompts) and the CLI."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest
import torch

from prefdata.errors import DataError, PrefdataError
from prefdata.trainer.dpo import train
from prefdata.trainer.merge import merge_adapter


def test_merge_gives_the_same_logits_as_the_adapter(make_cfg, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = make_cfg(peft={"mode": "lora", "r": 4}, dpo={"max_steps": 2})
    train(cfg)
    merged_dir = merge_adapter(cfg.output_dir, base=tiny_model_dir, out=tmp_path / "merged")
    ids = AutoTokenizer.from_pretrained(merged_dir)("the answer is 4", return_tensors="pt")["input_ids"]
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), cfg.output_dir).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)
        assert not torch.allclose(merged(ids).logits, base(ids).logits, atol=1e-5)
    with pytest.raises(PrefdataError, match="no adapter_config.json"):
        merge_adapter(tiny_model_dir, base=tiny_model_dir, out=tmp_path / "x")


def test_missing_columns_name_the_columns_and_the_command(make_cfg, data_dirs, tmp_path):
    bad = data_dirs.rewrite(data_dirs.write(tmp_path / "bad"), "train", pl.DataFrame({"prompt": ["q"], "chosen": ["a"]}))
    with pytest.raises(DataError) as err:
        train(make_cfg(data={"dir": str(bad)}))
    text = str(err.value)
    assert "train.parquet: missing column(s) rejected, prompt_id, source" in text
    assert "prefdata import" in text and "prefdata build" in text


def test_severe_rows_stop_the_run_and_long_prompts_are_counted(make_cfg, dpo_dir, data_dirs, tmp_path):
    frame = pl.read_parquet(dpo_dir / "train.parquet")
    rows = frame.to_dicts()
    rows[2]["rejected"] = rows[2]["chosen"]
    rows[5]["chosen"] = [{"role": "assistant", "content": "  "}]
    broken = data_dirs.rewrite(data_dirs.write(tmp_path / "broken"), "train", pl.DataFrame(rows))
    with pytest.raises(DataError) as err:
        train(make_cfg(data={"dir": str(broken)}))
    assert "identical: 1 row(s), e.g. rows [3]" in str(err.value)
    assert "empty: 1 row(s), e.g. rows [6]" in str(err.value)

    rows = frame.to_dicts()
    rows[0]["prompt"] = [{"role": "user", "content": "plus minus times " * 60}]
    long = data_dirs.rewrite(data_dirs.write(tmp_path / "long"), "train", pl.DataFrame(rows))
    cfg = make_cfg(data={"dir": str(long)})
    result = train(cfg)
    assert result.rows["train_dropped_prompt_too_long"] == 1 and result.rows["train"] == 15
    rejects = pl.read_parquet(cfg.output_dir / "rejects_train.parquet")
    assert rejects["reason"].to_list() == ["prompt_too_long"] and rejects["row"].to_list() == [1]


@pytest.mark.slow
def test_cli_reports_user_errors_without_a_traceback(tiny_model_dir, dpo_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {tmp_path}/missing\ndpo:\n  loss_type: sigmoidd\n")
    out = subprocess.run([sys.executable, "-m", "prefdata.cli", "train", "--data", str(dpo_dir), "--config", str(cfg),
                          "--resume", "--resume-from", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "model.path" in out.stderr and "unknown loss type 'sigmoidd'" in out.stderr


def test_merge_rejects_an_unknown_dtype_before_loading(tmp_path):
    from prefdata.errors import PrefdataError
    from prefdata.trainer.merge import merge_adapter

    with pytest.raises(PrefdataError, match="--dtype 'fp16': choose one of auto, float32, bfloat16, float16"):
        merge_adapter(tmp_path, out=tmp_path / "m", dtype="fp16")


def test_cli_train_and_merge_in_process(tiny_model_dir, dpo_dir, tmp_path):
    from typer.testing import CliRunner

    from prefdata.cli import app

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {tiny_model_dir}\npeft:\n  mode: lora\n  r: 4\n"
                   "dpo:\n  max_steps: 2\n  per_device_train_batch_size: 2\n  report_to: none\n  max_length: 128\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(dpo_dir), "--config", str(cfg), "--out", str(out),
                                      "--set", "dpo.learning_rate=0.001", "--set", f"reference.cache_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert (out / "adapter_config.json").is_file() and (out / "metrics.jsonl").is_file()
    assert "learning_rate: 0.001" in (out / "train_config.yaml").read_text()
    result = CliRunner().invoke(app, ["merge", str(out), "--base", str(tiny_model_dir), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "model.safetensors").is_file() and (tmp_path / "m" / "tokenizer.json").is_file()


def test_num_processes_relaunch_drops_its_own_flags():
    from prefdata.cli.train import _drop_option

    argv = ["train", "--config", "c.yaml", "--num-processes", "4", "--accelerate=fsdp", "--set", "dpo.beta=0.2"]
    assert _drop_option(_drop_option(argv, "--num-processes"), "--accelerate") == [
        "train", "--config", "c.yaml", "--set", "dpo.beta=0.2"]

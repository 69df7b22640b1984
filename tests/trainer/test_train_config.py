"""TrainConfig: every error at once (incl. TRL's step-1 checks), shipped recipes validate, DPOConfig reused."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import pytest

from prefdata.errors import ConfigError
from prefdata.trainer.config import build_dpo_args, load_train_config, validate_train_config

CONFIGS = Path(str(resources.files("prefdata.trainer").joinpath("configs")))


def _raw(tiny_model_dir, dpo_dir, **sections):
    raw = {"model": {"path": str(tiny_model_dir)}, "data": {"dir": str(dpo_dir)}, "dpo": {"output_dir": "/tmp/x"}}
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def test_every_error_is_reported_at_once(tiny_model_dir, dpo_dir):
    raw = _raw(tiny_model_dir, dpo_dir,
               peft={"mode": "lora", "r": 0},
               reference={"strategy": "precomputed"},
               dpo={"loss_type": ["sigmoid", "sigmoidd", "exo_pair"], "loss_weights": [1.0, 2.0],
                    "sync_ref_model": True, "rpo_alpha": 0.5, "learnin_rate": 1e-4, "beta": "high",
                    "max_prompt_length": 64})
    raw["bogus_section"] = {}
    with pytest.raises(ConfigError) as err:
        validate_train_config(raw, "cfg.yaml")
    text = str(err.value)
    for expected in [
        "bogus_section: unknown key",
        "peft.r:",
        "dpo.learnin_rate: not a trl.DPOConfig key",
        "dpo.beta: expected float",
        "unknown loss type 'sigmoidd'",
        "got 2 weights for 3 loss types",
        "exo_pair needs label_smoothing > 0",
        "dpo.rpo_alpha: removed in TRL 1.x; RPO is dpo.loss_type: [sigmoid, sft]",
        "dpo.max_prompt_length: removed",
    ]:
        assert expected in text, f"missing {expected!r} in:\n{text}"


def test_cross_section_conflicts_and_paths(tiny_model_dir, dpo_dir, tmp_path):
    raw = _raw(tiny_model_dir, dpo_dir, model={"path": str(tmp_path / "nope")},
               data={"dir": str(tmp_path / "nodata")}, peft={"mode": "qlora"},
               reference={"strategy": "adapter"}, dpo={"sync_ref_model": True})
    with pytest.raises(ConfigError) as err:
        validate_train_config(raw, "cfg.yaml")
    text = str(err.value)
    assert "model.path:" in text and "does not exist" in text
    assert "data.dir:" in text and "prefdata import" in text
    assert "qlora loads 4-bit weights with bitsandbytes, which needs a CUDA GPU" in text
    assert "reference.adapter_path: strategy 'adapter' needs" in text
    assert "dpo.sync_ref_model: not supported with peft.mode='qlora'" in text

    raw = _raw(tiny_model_dir, dpo_dir, reference={"strategy": "adapter_disabled"},
               dpo={"sync_ref_model": True, "router_aux_loss_coef": 0.01})
    text = str(pytest.raises(ConfigError, validate_train_config, raw).value)
    assert "'adapter_disabled' needs peft.mode lora or qlora, got peft.mode='full'" in text
    assert "not a Mixture-of-Experts model" in text

    raw = _raw(tiny_model_dir, dpo_dir, reference={"strategy": "precomputed"}, dpo={"sync_ref_model": True})
    assert "conflicts with reference.strategy 'precomputed'" in str(pytest.raises(ConfigError, validate_train_config, raw).value)


def test_dpo_section_builds_a_real_dpoconfig(tiny_model_dir, dpo_dir):
    from trl import DPOConfig

    cfg = validate_train_config(_raw(tiny_model_dir, dpo_dir, reference={"strategy": "precomputed"},
                                     dpo={"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5], "ld_alpha": 0.3}))
    args = build_dpo_args(cfg)
    assert isinstance(args, DPOConfig)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5] and args.ld_alpha == 0.3
    assert args.precompute_ref_log_probs and args.bf16 is False and args.gradient_checkpointing is False
    # no field of DPOConfig is re-declared in TrainConfig: the dpo section is a plain pass-through
    assert {f.name for f in dataclasses.fields(DPOConfig)} >= set(cfg.dpo)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_recipes_validate_and_open_with_their_command(name, tiny_model_dir, dpo_dir, tmp_path):
    text = (CONFIGS / name).read_text()
    header = [line for line in text.splitlines()[:4] if line.startswith("#")]
    assert text.startswith("#") and any("prefdata train --data" in line for line in header)
    overrides = [f"model.path={tiny_model_dir}"]
    if "qlora" in name:
        pytest.skip("qlora_gpu.yaml needs a CUDA GPU (its CPU error is tested above)")
    if "adapter_path" in text:
        adapter = _save_adapter(tiny_model_dir, tmp_path / "sft")
        overrides.append(f"reference.adapter_path={adapter}")
    cfg = load_train_config(CONFIGS / name, overrides, data_dir=str(dpo_dir))
    build_dpo_args(cfg)


def test_accelerate_configs_are_shipped():
    import yaml

    for name in ("ddp", "fsdp", "zero3"):
        cfg = yaml.safe_load((CONFIGS / "accelerate" / f"{name}.yaml").read_text())
        assert cfg["distributed_type"] in {"MULTI_GPU", "FSDP", "DEEPSPEED"}


def _save_adapter(model_dir, out):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.save_pretrained(out)
    return out


def test_wpo_weighting_with_the_sft_loss_is_refused_before_training(tiny_model_dir, dpo_dir):
    # TRL 1.16 raises at step 1 (in-place multiply on the expanded sft loss); rpo_mpo_cpu.yaml once shipped it.
    raw = _raw(tiny_model_dir, dpo_dir, dpo={"loss_type": ["sigmoid", "sft"], "use_weighting": True})
    with pytest.raises(ConfigError, match="dpo.use_weighting: TRL crashes at the first step when WPO weighting meets the sft loss"):
        validate_train_config(raw, "cfg.yaml")
    validate_train_config(_raw(tiny_model_dir, dpo_dir, dpo={"loss_type": ["sigmoid", "bco_pair"], "use_weighting": True}),
                          "cfg.yaml")


def test_yes_no_reach_trl_as_strings_or_bools_by_field_type(tmp_path, tiny_model_dir):
    from prefdata.trainer.config import load_train_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"model: {{path: {tiny_model_dir}}}\ndata: {{eval_split: null}}\n"
                        "dpo:\n  eval_strategy: no\n  save_strategy: no\n  bf16: no\n  use_cpu: yes\n")
    cfg = load_train_config(cfg_file, ["dpo.logging_strategy=no"], data_dir=str(tmp_path))
    assert cfg.dpo["eval_strategy"] == "no" and cfg.dpo["save_strategy"] == "no"
    assert cfg.dpo["logging_strategy"] == "no" and cfg.dpo["bf16"] is False and cfg.dpo["use_cpu"] is True

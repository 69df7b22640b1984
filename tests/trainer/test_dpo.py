"""The harness trains for real: ln 2 at step 0, TRL's loss equals a hand-computed one, parameters move
(all of them with full FT, none of the base with LoRA), every loss type runs, resume works, outputs exist."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from prefdata.trainer.trl_compat import LOSS_TYPES
from prefdata.trainer.dpo import prepare, train
from prefdata.trainer.metrics import read_metrics

LN2 = math.log(2)


def _train_rows(out):
    return [r for r in read_metrics(out / "metrics.jsonl") if r["split"] == "train" and "loss" in r]


def test_step0_loss_is_ln2_and_outputs_exist(make_cfg, dpo_dir):
    cfg = make_cfg(data={"eval_split": "test"}, dpo={"max_steps": 3, "eval_steps": 3, "report_to": "tensorboard"})
    result = train(cfg)
    first = _train_rows(cfg.output_dir)[0]
    assert first["loss"] == pytest.approx(LN2, abs=1e-6)
    assert first["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    out = cfg.output_dir
    for name in ("loss", "rewards_chosen", "rewards_rejected", "rewards_margins", "rewards_accuracies"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    assert {r["split"] for r in read_metrics(out / "metrics.jsonl")} == {"train", "eval"}
    assert "eval_loss" in result.eval_metrics and math.isfinite(result.eval_metrics["eval_loss"])
    assert (out / "train_config.yaml").is_file() and (out / "DONE").is_file()
    assert list(out.rglob("events.out.tfevents.*"))  # tensorboard logs
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert result.rows["train"] == result.rows["train_input"] == 16 and result.rows["eval"] == 4


def _completion_logps(model, tokenizer, prompt, completion):
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)["input_ids"]
    ids = torch.tensor([full])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].float()
    logps = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
    return logps[len(prompt_ids) - 1:].sum().item()


def test_hand_computed_sigmoid_loss_equals_the_logged_one(make_cfg, dpo_dir, tmp_path):
    import polars as pl
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefdata.tiny import build_tiny_model

    ref_dir = build_tiny_model(tmp_path / "ref", seed=1)  # a reference that differs from the policy
    beta = 0.3
    cfg = make_cfg(reference={"strategy": "model", "model_path": str(ref_dir)},
                   dpo={"max_steps": 1, "per_device_train_batch_size": 16, "beta": beta})
    policy_dir = cfg.model.path
    train(cfg)
    logged = _train_rows(cfg.output_dir)[0]["loss"]

    tok = AutoTokenizer.from_pretrained(policy_dir)
    policy = AutoModelForCausalLM.from_pretrained(policy_dir).eval()
    ref = AutoModelForCausalLM.from_pretrained(ref_dir).eval()
    losses = []
    for row in pl.read_parquet(dpo_dir / "train.parquet").iter_rows(named=True):
        pc, pr = (_completion_logps(policy, tok, row["prompt"], row[k]) for k in ("chosen", "rejected"))
        rc, rr = (_completion_logps(ref, tok, row["prompt"], row[k]) for k in ("chosen", "rejected"))
        losses.append(-F.logsigmoid(torch.tensor(beta * ((pc - rc) - (pr - rr)))).item())
    assert logged == pytest.approx(sum(losses) / len(losses), abs=2e-5)
    assert abs(logged - LN2) > 1e-3  # the check is not the trivial ln 2 case


def test_full_finetuning_changes_every_trainable_parameter(make_cfg):
    cfg = make_cfg(dpo={"max_steps": 2})
    run = prepare(cfg)
    before = {n: p.detach().clone() for n, p in run.trainer.model.named_parameters() if p.requires_grad}
    run.trainer.train()
    after = dict(run.trainer.model.named_parameters())
    unchanged = [n for n, p in before.items() if torch.equal(p, after[n].detach())]
    assert before and not unchanged
    assert all(not p.requires_grad for p in run.trainer.ref_model.parameters())  # reference frozen


def test_lora_changes_adapters_and_leaves_base_weights(make_cfg):
    cfg = make_cfg(peft={"mode": "lora", "r": 4})
    run = prepare(cfg)
    params = dict(run.trainer.model.named_parameters())
    base = {n: p.detach().clone() for n, p in params.items() if "lora_" not in n}
    lora = {n: p.detach().clone() for n, p in params.items() if "lora_" in n and p.requires_grad}
    run.trainer.train()
    params = dict(run.trainer.model.named_parameters())
    assert all(torch.equal(p, params[n].detach()) for n, p in base.items())
    changed = [n for n, p in lora.items() if not torch.equal(p, params[n].detach())]
    assert len(changed) == len(lora) > 0


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_every_loss_type_runs_two_steps(loss_type, make_cfg):
    dpo = {"loss_type": loss_type, "max_steps": 2}
    if loss_type == "exo_pair":
        dpo["label_smoothing"] = 1e-3
    cfg = make_cfg(dpo=dpo)
    output = prepare(cfg).trainer.train()  # no save/plots: the loss path is what is tested here
    assert math.isfinite(output.metrics["train_loss"])
    assert len(_train_rows(cfg.output_dir)) == 2


@pytest.mark.parametrize("dpo", [
    {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]},  # MPO-style mix
    {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]},                    # RPO
    {"use_weighting": True},                                                          # WPO
    {"ld_alpha": 0.5},                                                                # LD-DPO
], ids=["mpo", "rpo", "wpo", "ld_dpo"])
def test_loss_variants_run(dpo, make_cfg):
    result = train(make_cfg(peft={"mode": "lora", "r": 4}, dpo=dpo))
    assert math.isfinite(result.train_metrics["train_loss"])


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(make_cfg):
    cfg = make_cfg(dpo={"max_steps": 2, "save_strategy": "steps", "save_steps": 2})
    train(cfg)
    assert (cfg.output_dir / "checkpoint-2").is_dir()
    longer = cfg.model_copy(update={"dpo": {**cfg.dpo, "max_steps": 4}})
    train(longer, resume=True)
    steps = [r["step"] for r in _train_rows(cfg.output_dir)]
    assert steps == [1, 2, 3, 4]  # resumed at 3, not restarted at 1
    state = json.loads((cfg.output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_fraction_is_a_seeded_subset(make_cfg):
    from prefdata.trainer import data

    frame = data.read_split(make_cfg().data.dir, "train")
    a, b = (data.take_fraction(frame, 0.5, seed=3) for _ in range(2))
    assert a.height == 8 and a["prompt_id"].to_list() == b["prompt_id"].to_list()
    assert data.take_fraction(frame, 0.5, seed=4)["prompt_id"].to_list() != a["prompt_id"].to_list()


def test_eval_strategy_without_an_eval_split_trains_without_eval(make_cfg):
    # full_cpu.yaml sets eval_strategy: steps; on a dataset imported without --test-size TRL would raise.
    cfg = make_cfg(data={"eval_split": "test_missing"}, dpo={"eval_strategy": "steps", "eval_steps": 1})
    run = prepare(cfg)
    assert not run.has_eval and run.trainer.args.eval_strategy == "no"

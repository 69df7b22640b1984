"""`--select implicit_margin`: the DPO implicit reward margin of the judges' pair, from the trainer's
log-prob code, checked against log-probs summed by hand with plain transformers.

    python -m pytest -q tests/argilla/test_implicit_margin.py
"""

from __future__ import annotations

import polars as pl
import pytest
import torch

from prefdata.selection.implicit_margin import implicit_margins, judge_pairs
from prefdata.selection.budget import select
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError
from prefdata.frames import frame
from prefdata.records import Candidate, Judgment, PromptRecord

QUESTIONS = {"p0": ("2+2=", ["4", "5", "22"]), "p1": ("hello?", ["hi there", "no", "hi"]),
             "p2": ("3+1=", ["4", "4", "7"])}
SCORES = {"p0": [1.0, 0.0, 0.5], "p1": [0.2, 0.9, 0.1], "p2": [1.0, 1.0, 1.0]}  # p2: all tie, no pair


def tables():
    prompts = frame([PromptRecord(prompt_id=p, prompt=[{"role": "user", "content": q}], source="t")
                     for p, (q, _) in QUESTIONS.items()], PromptRecord)
    cands = frame([Candidate(candidate_id=f"{p}:0:{j}", prompt_id=p, text=t, model="m", backend="imported")
                   for p, (_, texts) in QUESTIONS.items() for j, t in enumerate(texts)], Candidate)
    labels = frame([Judgment(judgment_id=f"rm:{p}:0:{j}", prompt_id=p, candidate_id=f"{p}:0:{j}", judge_id="rm",
                             judge_type="reward_model", score=s)
                    for p, scores in SCORES.items() for j, s in enumerate(scores)], Judgment)
    return prompts, cands, labels


@pytest.fixture(scope="module")
def policy(tiny_model_dir, tmp_path_factory):
    """The tiny model with every weight nudged: a policy that is not its reference."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    out = tmp_path_factory.mktemp("policy")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def by_hand(model_dir, prompt: str, answer: str) -> float:
    """log p(answer | prompt) summed over the answer's tokens, with the chat template."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    user = [{"role": "user", "content": prompt}]
    head = tok.apply_chat_template(user, tokenize=True, add_generation_prompt=True, return_dict=False)
    full = tok.apply_chat_template(user + [{"role": "assistant", "content": answer}], tokenize=True,
                                   return_dict=False)
    ids = torch.tensor([full])
    with torch.no_grad():
        logps = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    return float(sum(logps[i, targets[i]] for i in range(len(head) - 1, len(full) - 1)))


def test_the_judges_pair_is_best_vs_worst_and_a_tie_has_none():
    pairs = judge_pairs(*tables(), judge="rm")
    assert pairs.select("prompt_id", "chosen", "rejected").rows() == [("p0", "4", "5"), ("p1", "no", "hi")]


def test_margins_equal_log_probs_summed_by_hand(tiny_model_dir, policy, tmp_path):
    pairs = judge_pairs(*tables(), judge="rm")
    got = implicit_margins(pairs, policy=str(policy), reference=str(tiny_model_dir), work_dir=tmp_path, beta=0.5)
    assert got["prompt_id"].to_list() == ["p0", "p1"]
    for (pid, value), (prompt, chosen, rejected) in zip(got.iter_rows(), [("2+2=", "4", "5"), ("hello?", "no", "hi")]):
        ratio = [by_hand(policy, prompt, a) - by_hand(tiny_model_dir, prompt, a) for a in (chosen, rejected)]
        assert value == pytest.approx(0.5 * (ratio[0] - ratio[1]), abs=1e-3), pid
    assert any(abs(v) > 1e-3 for v in got["value"])  # the nudged policy is not its reference
    same = implicit_margins(pairs, policy=str(tiny_model_dir), reference=str(tiny_model_dir), work_dir=tmp_path)
    assert same["value"].abs().max() < 1e-5  # pi == pi_ref: no margin


def test_implicit_margin_ranks_smallest_first_and_needs_its_models(tmp_path):
    _, _, labels = tables()
    with pytest.raises(PrefdataError, match="argilla.policy and argilla.reference"):
        select(tmp_path, labels, ["p0", "p1", "p2"], "implicit_margin", budget=1)
    values = pl.DataFrame({"prompt_id": ["p0", "p1"], "value": [0.3, -0.2]})
    got = select(tmp_path, labels, ["p0", "p1", "p2"], "implicit_margin", budget=2, implicit=values)
    assert got.sort("rank")["prompt_id"].to_list() == ["p2", "p1", "p0"]  # no pair first, then the smallest
    with pytest.raises(ValueError, match="set argilla.policy and argilla.reference"):
        ArgillaConfig(budget=0.2, select="implicit_margin")
    with pytest.raises(ValueError, match="set argilla.reference"):
        ArgillaConfig(budget=0.2, select="implicit_margin", policy="a")

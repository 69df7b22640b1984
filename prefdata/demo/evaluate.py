"""Held-out evaluation: greedy exact-match accuracy, and reward accuracy on clean pairs.

    from prefdata.demo.evaluate import greedy_accuracy
    greedy_accuracy("runs/demo/sft", [("12+7=", "19"), ...])   # -> 0.43

Reward accuracy is DPO's implicit reward: a pair counts as right when
log pi(chosen)/ref(chosen) > log pi(rejected)/ref(rejected).
"""

from __future__ import annotations

from pathlib import Path


def _load(model_dir: str | Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    return tokenizer, model


def _prompt_text(tokenizer, prompt: str) -> str:
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def greedy_answers(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 6, batch_size: int = 100) -> list[str]:
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    answers = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            texts = [_prompt_text(tokenizer, p) for p in prompts[start : start + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            answers += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    tokenizer.padding_side = side
    model.train(was_training)
    return [a.strip() for a in answers]


def greedy_accuracy_of(model, tokenizer, problems: list[tuple[str, str]]) -> float:
    answers = greedy_answers(model, tokenizer, [p for p, _ in problems])
    return sum(a == ref for a, (_, ref) in zip(answers, problems)) / len(problems)


def greedy_accuracy(model_dir: str | Path, problems: list[tuple[str, str]]) -> float:
    tokenizer, model = _load(model_dir)
    return greedy_accuracy_of(model, tokenizer, problems)


def _sequence_logps(tokenizer, model, prompt: str, completion: str) -> float:
    import torch

    prefix = _prompt_text(tokenizer, prompt)
    prompt_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    ids = tokenizer(prefix + completion + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        logps = model(input_ids=input_ids).logits[0, :-1].log_softmax(-1)
    targets = input_ids[0, 1:]
    token_logps = logps.gather(-1, targets[:, None])[:, 0]
    return float(token_logps[len(prompt_ids) - 1 :].sum())


def reward_accuracy(policy_dir: str | Path, reference_dir: str | Path, pairs: list[tuple[str, str, str]]) -> float:
    """Share of (prompt, chosen, rejected) pairs the policy's implicit reward orders right."""
    pol_tok, policy = _load(policy_dir)
    ref_tok, reference = _load(reference_dir)
    right = 0
    for prompt, chosen, rejected in pairs:
        margin = (
            _sequence_logps(pol_tok, policy, prompt, chosen) - _sequence_logps(ref_tok, reference, prompt, chosen)
        ) - (
            _sequence_logps(pol_tok, policy, prompt, rejected) - _sequence_logps(ref_tok, reference, prompt, rejected)
        )
        right += margin > 0
    return right / len(pairs) if pairs else float("nan")

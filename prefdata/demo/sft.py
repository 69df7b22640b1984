"""A short supervised fine-tune of a tiny local model on (prompt, answer) chat pairs.

    from prefdata.demo.sft import supervised_finetune
    supervised_finetune(base_dir, [("12+7=", "19"), ...], out_dir, max_steps=1500,
                        validation=[("3+4=", "7"), ...], target_accuracy=0.5)

Loss on the answer tokens only (the prompt is rendered with the model's chat template, as
the DPO trainer will render it). Stopped early on purpose: the demo needs a policy that
is right only part of the time, so that preference data has something to teach. The
learning curve is steep and seed-dependent, so a fixed step count lands anywhere between
5% and 97%; instead training stops once greedy accuracy on a validation split (disjoint
from the demo's held-out prompts) reaches `target_accuracy`.
"""

from __future__ import annotations

import random
from pathlib import Path

from prefdata.demo.evaluate import greedy_accuracy_of


def _encode(tokenizer, prompt: str, answer: str) -> tuple[list[int], int]:
    messages = [{"role": "user", "content": prompt}]
    prefix = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = prefix + answer + tokenizer.eos_token + "\n"
    prompt_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    return tokenizer(full, add_special_tokens=False)["input_ids"], len(prompt_ids)


def _batch(tokenizer, encoded: list[tuple[list[int], int]]):
    import torch

    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    labels = torch.full((len(encoded), width), -100)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(encoded):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        mask[i, : len(ids)] = 1
    return input_ids, mask, labels


def supervised_finetune(
    base_dir: str | Path,
    examples: list[tuple[str, str]],
    out_dir: str | Path,
    *,
    max_steps: int,
    validation: list[tuple[str, str]],
    target_accuracy: float,
    check_every: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> tuple[Path, dict]:
    """Train until validation accuracy >= target_accuracy (or max_steps); returns (dir, stats)."""
    import torch
    from rich.progress import Progress
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    encoded = [_encode(tokenizer, p, a) for p, a in examples]
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    model.train()
    accuracy, step = 0.0, 0
    with Progress(transient=True) as progress:
        task = progress.add_task("SFT", total=max_steps)
        while step < max_steps and accuracy < target_accuracy:
            input_ids, mask, labels = _batch(tokenizer, rng.sample(encoded, min(batch_size, len(encoded))))
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if step % check_every == 0:
                accuracy = greedy_accuracy_of(model, tokenizer, validation)
            progress.update(task, advance=1, description=f"SFT loss {loss.item():.3f} val acc {accuracy:.0%}")
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir), {"steps": step, "validation_accuracy": accuracy}

"""Held-out evaluation: greedy answers of a model, and their exact-match accuracy.

    from prefdata.demo.evaluate import greedy_answers, load_model
    tokenizer, model = load_model("runs/demo/models/sft")
    greedy_answers(model, tokenizer, ["12+7=", "3+4="])         # -> ["19", "8"]
"""

from __future__ import annotations

from pathlib import Path


def load_model(model_dir: str | Path):
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


def greedy_eval(model, tokenizer, problems: list[tuple[str, str]]) -> dict:
    """Exact-match accuracy, mean answer length (characters) of greedy answers, and per problem
    whether it was right (1/0, in order: paired comparisons between models need it)."""
    answers = greedy_answers(model, tokenizer, [p for p, _ in problems])
    correct = [int(a == ref) for a, (_, ref) in zip(answers, problems)]
    return {"accuracy": sum(correct) / len(problems), "answer_length": sum(map(len, answers)) / len(answers),
            "correct": correct}


def greedy_accuracy_of(model, tokenizer, problems: list[tuple[str, str]]) -> float:
    return greedy_eval(model, tokenizer, problems)["accuracy"]

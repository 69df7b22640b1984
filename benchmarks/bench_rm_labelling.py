"""Reward-model labelling: prefdata's RM judge vs a transformers text-classification pipeline
with batch_size=1 (how RLHFlow's `get_rewards.py` scores), same model, same inputs.

    python benchmarks/bench_rm_labelling.py --candidates 2000 --hidden 384 --layers 4

A random Llama-shaped reward model (~10M parameters at the defaults) is built locally.
Both sides score the same chat-templated texts (prompt + candidate) in one process, each
timed after its model is loaded; prints candidates/s of each, the ratio, and the largest
score difference between them (they are the same function of the same inputs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]


def make_items(n: int, max_lines: int, seed: int = 0):
    from prefdata.judges.base import JudgeItem
    from prefdata.tiny import default_corpus

    rng = random.Random(seed)
    prompts = [json.loads(line)["prompt"] for line in (REPO / "pipelines" / "data" / "prompts.jsonl").read_text().splitlines()]
    lines = default_corpus(n_lines=600, seed=seed)
    items = []
    for i in range(n):
        response = " ".join(rng.choice(lines) for _ in range(rng.randint(1, max_lines)))
        items.append(JudgeItem(f"p{i % len(prompts)}", f"c{i}", [{"role": "user", "content": prompts[i % len(prompts)]}],
                               response))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-lines", type=int, default=6, help="Response length: 1 to N corpus lines (~10 tokens each).")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer, pipeline

    from prefdata.judges.reward_model import RewardModelJudge, RewardModelJudgeConfig
    from prefdata.tiny import build_tiny_reward_model

    torch.set_num_threads(args.threads)
    model_dir = build_tiny_reward_model(Path(tempfile.mkdtemp()) / "rm", hidden_size=args.hidden, num_layers=args.layers)
    items = make_items(args.candidates, args.max_lines)

    judge = RewardModelJudge(RewardModelJudgeConfig(id="rm", path=str(model_dir), batch_size=args.batch_size))
    n_params = sum(p.numel() for p in judge._model.parameters())
    t0 = time.perf_counter()
    ours = [r["score"] for r in judge.judge(items)]
    ours_s = time.perf_counter() - t0

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pipe = pipeline("text-classification", model=str(model_dir), tokenizer=tokenizer, device="cpu",
                    truncation=True, dtype=torch.float32)
    pipe.model.config.pad_token_id = tokenizer.pad_token_id
    texts = [tokenizer.apply_chat_template(list(it.prompt) + [{"role": "assistant", "content": it.response}],
                                           tokenize=False) for it in items]
    t0 = time.perf_counter()
    outputs = pipe(texts, batch_size=1, function_to_apply="none")
    theirs_s = time.perf_counter() - t0
    theirs = [o["score"] for o in outputs]

    diff = max(abs(a - b) for a, b in zip(ours, theirs))
    result = {
        "candidates": len(items), "model_parameters": n_params, "threads": args.threads,
        "mean_tokens": round(sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts) / len(texts), 1),
        "prefdata_rm_judge": {"seconds": round(ours_s, 2), "candidates_per_s": round(len(items) / ours_s, 1),
                              "batch_size": args.batch_size},
        "hf_pipeline_batch_1": {"seconds": round(theirs_s, 2), "candidates_per_s": round(len(items) / theirs_s, 1)},
        "ratio": round(theirs_s / ours_s, 2), "max_abs_score_difference": diff,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

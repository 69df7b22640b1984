"""Random labelled data with the awkward cases, for the partitioned-vs-in-memory tests.

    prompts, candidates, judgments = random_labels(seed=0, n_prompts=60)

Prompt ids of several lengths (p1, p10, p100: their string order differs from the order of
`prompt_id:` keys), rounded scores (ties), missing and NaN/inf scores, duplicate and
near-duplicate prompt texts, a prompt with no candidates, candidates of an unknown prompt,
judgments of unknown candidates, several annotators, and answers that trip the quality filter.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from prefdata.records import Candidate, Judgment, PromptRecord
from prefdata.frames import polars_schema

WORDS = np.array([f"w{i}" for i in range(300)])


def _text(rng, lo: int, hi: int) -> str:
    return " ".join(WORDS[rng.integers(0, len(WORDS), rng.integers(lo, hi))])


def _frame(rows: list[dict], model) -> pl.DataFrame:
    schema = polars_schema(model)
    df = pl.DataFrame(rows, infer_schema_length=None)
    df = df.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in df.columns])
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def random_labels(seed: int = 0, n_prompts: int = 60, k: int = 4, annotators: int = 1):
    rng = np.random.default_rng(seed)
    prompts, candidates, judgments = [], [], []
    texts: list[str] = []
    for i in rng.permutation(n_prompts) + 1:
        pid = f"p{i}"
        roll = rng.random()
        if texts and roll < 0.15:  # an exact duplicate after normalization
            text = texts[rng.integers(len(texts))].upper() + "!"
        elif texts and roll < 0.25:  # a near duplicate: one word changed
            words = texts[rng.integers(len(texts))].split()
            words[rng.integers(len(words))] = "changed"
            text = " ".join(words)
        else:
            text = _text(rng, 12, 30)
        texts.append(text)
        prompts.append({"prompt_id": pid, "prompt": [{"role": "user", "content": text}], "source": "t"})
    prompts.append({"prompt_id": "p-empty", "prompt": [{"role": "user", "content": "no answers"}], "source": "t"})
    pids = [p["prompt_id"] for p in prompts[:-1]] + ["ghost"]  # ghost: candidates of an unknown prompt
    for pid in pids:
        for j in range(k):
            cid = f"{pid}:0:{j}"
            roll = rng.random()
            text = "" if roll < 0.03 else ("again " * 40 if roll < 0.06 else _text(rng, 5, 60))
            candidates.append({"candidate_id": cid, "prompt_id": pid, "text": text, "model": "m",
                               "backend": "imported", "finish_reason": "length" if rng.random() < 0.05 else "stop",
                               "num_tokens": len(text.split()), "sample_index": j})
            for a in range(annotators):
                roll = rng.random()
                score = (None if roll < 0.05 else float("nan") if roll < 0.07 else float("inf") if roll < 0.08
                         else float(np.round(rng.normal(0, 1), 1)))
                judgments.append({"judgment_id": f"{cid}:{a}", "prompt_id": pid, "candidate_id": cid,
                                  "judge_id": "rm", "judge_type": "reward_model", "score": score,
                                  "annotator": f"a{a}" if annotators > 1 else None})
    judgments.append({"judgment_id": "orphan", "prompt_id": "p1", "candidate_id": "p1:9:9", "judge_id": "rm",
                      "judge_type": "reward_model", "score": 1.0})
    order = rng.permutation(len(candidates))  # files are not sorted by prompt
    return (_frame(prompts, PromptRecord), _frame(candidates, Candidate)[order.tolist()],
            _frame(judgments, Judgment))

"""Real user questions from the shared data, split into training and held-out prompt files.

    python benchmarks/real_prompts.py --shared ../shared/data --out runs/real-prompts --train 400 --heldout 150

The first user turn of every HH-RLHF harmless-base transcript and of every LLaMA-Factory
demo conversation (single questions people asked; HH-RLHF's are often harmful requests, as
in the dataset), 15 to 400 characters, exact duplicates removed, shuffled with the seed and
cut into disjoint `train` and `heldout` files (`{"prompt": ..., "source": ...}` per line).
Verifiable instructions are added by the recipe's `prompts.add_instructions`, not here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"


def questions(shared: Path) -> list[dict]:
    out, seen = [], set()

    def keep(text: str, source: str) -> None:
        text = text.strip()
        if 15 <= len(text) <= 400 and text.lower() not in seen:
            seen.add(text.lower())
            out.append({"prompt": text, "source": source})

    with gzip.open(shared / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as f:
        for line in f:
            transcript = json.loads(line)["chosen"]
            first = transcript.split(HUMAN, 1)[-1].split(ASSISTANT, 1)[0]
            keep(first, "hh-rlhf/harmless-base-test")
    for row in json.loads((shared / "llamafactory" / "dpo_en_demo.json").read_text()):
        turns = [t for t in row["conversations"] if t["from"] == "human"]
        if turns:
            keep(turns[0]["value"], "llamafactory/dpo_en_demo")
    return out


def write_split(shared: Path, out: Path, n_train: int, n_heldout: int, seed: int = 0) -> tuple[Path, Path]:
    """OUT/train.jsonl and OUT/heldout.jsonl: disjoint, seeded samples of the questions."""
    rows = questions(shared)
    if n_train + n_heldout > len(rows):
        raise SystemExit(f"asked for {n_train} + {n_heldout} prompts, the shared data has {len(rows)}")
    random.Random(seed).shuffle(rows)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("train", rows[:n_train]), ("heldout", rows[n_train:n_train + n_heldout])):
        path = out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in part))
        paths.append(path)
    return paths[0], paths[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("runs/real-prompts"))
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(*write_split(args.shared, args.out, args.train, args.heldout, args.seed))

"""The demo task: add two numbers. Answers are checkable, so labels can be clean or noisy.

    from prefdata.demo.task import AdditionTask
    task = AdditionTask(max_operand=49, seed=0)
    task.write_prompts(path, task.dpo_problems)   # {"prompt": "12+7=", "reference": "19"} lines

`noisy_exact_match` is a programmatic judge that flips a known share of verdicts
(deterministically per prompt/response/salt): two of them play two unreliable annotators.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from prefdata.judges.programmatic import exact_match


def question(a: int, b: int) -> str:
    return f"{a}+{b}="


@dataclass
class AdditionTask:
    max_operand: int = 49
    seed: int = 0
    n_eval: int = 200
    n_dpo: int = 400
    n_val: int = 100
    problems: list[tuple[int, int]] = field(init=False)

    def __post_init__(self):
        problems = [(a, b) for a in range(self.max_operand + 1) for b in range(self.max_operand + 1)]
        random.Random(self.seed).shuffle(problems)
        self.problems = problems

    @property
    def eval_problems(self) -> list[tuple[int, int]]:
        """Held out from SFT and DPO alike."""
        return self.problems[: self.n_eval]

    @property
    def dpo_problems(self) -> list[tuple[int, int]]:
        """The prompts the pipeline samples, labels and trains on (also unseen by SFT)."""
        return self.problems[self.n_eval : self.n_eval + self.n_dpo]

    @property
    def sft_validation_problems(self) -> list[tuple[int, int]]:
        """Decide when SFT stops (never the held-out eval prompts)."""
        start = self.n_eval + self.n_dpo
        return self.problems[start : start + self.n_val]

    @property
    def sft_problems(self) -> list[tuple[int, int]]:
        return self.problems[self.n_eval + self.n_dpo + self.n_val :]

    def corpus(self) -> list[str]:
        """Lines to train the tiny tokenizer on."""
        return [f"{question(a, b)}{a + b}" for a, b in self.problems[:500]]

    @staticmethod
    def examples(problems: list[tuple[int, int]]) -> list[tuple[str, str]]:
        """(prompt, answer) texts."""
        return [(question(a, b), str(a + b)) for a, b in problems]

    @staticmethod
    def write_prompts(path: Path, problems: list[tuple[int, int]]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            for a, b in problems:
                f.write(json.dumps({"prompt": question(a, b), "reference": str(a + b)}) + "\n")
        return path


def _coin(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return int(digest[:8], 16) / 16**8


def noisy_exact_match(prompt, response: str, reference: str | None, *, flip: float, salt: str) -> float:
    """`exact_match` with a share `flip` of its verdicts inverted (an unreliable annotator)."""
    correct = exact_match(prompt, response, reference) == 1.0
    flipped = _coin(salt, str(prompt), response) < flip
    return float(correct != flipped)

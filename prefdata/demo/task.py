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


# Judges that fail the way real ones do (the evidence benchmark's labels). Their noise is
# a deterministic function of (salt, prompt, answer), so a rerun labels alike. Sigma and the
# bias are fixed here, chosen before any result was seen. A length-biased judge is left out:
# the answers are bare numbers, so longer never means more worked-out or more polite, and a
# bias toward length would only be a bias toward larger numbers.
RM_SIGMA = 1.05  # right - wrong = 1 + N(0, 2 sigma^2): P(inverted) = Phi(-1 / (sigma sqrt 2)) = 0.25
UNCERTAIN_BELOW = 0.5  # the pairwise judge is unsure when its two utilities differ by less than this
FIRST_BIAS = 0.9  # ... and then answers "the first one shown" with this probability


def _gauss(sigma: float, *parts: str) -> float:
    seed = int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16], 16)
    return random.Random(seed).gauss(0.0, sigma)


def noisy_reward(prompt, response: str, reference: str | None, *, sigma: float = RM_SIGMA, salt: str = "rm") -> float:
    """A noisy reward model: correctness (0/1) + Gaussian noise N(0, sigma) per answer; about a
    quarter of right-vs-wrong comparisons come out inverted."""
    return exact_match(prompt, response, reference) + _gauss(sigma, salt, str(prompt), response)


def position_biased_preference(prompt, response_a: str, response_b: str, reference: str | None, *,
                               sigma: float = RM_SIGMA, uncertain_below: float = UNCERTAIN_BELOW,
                               first_bias: float = FIRST_BIAS, salt: str = "ab") -> str:
    """A pairwise judge with position bias: its verdict follows two noisy utilities (as
    `noisy_reward`), but when they differ by less than `uncertain_below` it answers "A" (the
    first shown) with probability `first_bias`, so the two orders of one pair can disagree."""
    if response_a == response_b:
        return "tie"
    utility_a = noisy_reward(prompt, response_a, reference, sigma=sigma, salt=salt)
    utility_b = noisy_reward(prompt, response_b, reference, sigma=sigma, salt=salt)
    if abs(utility_a - utility_b) < uncertain_below and _coin(salt, "first", str(prompt), response_a,
                                                             response_b) < first_bias:
        return "A"
    return "A" if utility_a > utility_b else "B"

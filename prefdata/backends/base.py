"""One interface for every text generator: the `sample` stage and LLM judges both use it.

    sampler = make_sampler(VLLMConfig(model="/tmp/tiny"))        # or OpenAIConfig, TransformersConfig
    params = SamplingParams(max_tokens=64, temperature=1.0)
    outs = sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=4, seed=7)], params)
    outs[0][0].text, outs[0][0].finish_reason                   # 4 Generations for request 0

A request carries its own seed so that a prompt's candidates do not depend on how prompts
were batched: a resumed run reproduces an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

from pydantic import Field

from prefdata.backends.sizing import EngineNeeds
from prefdata.config import StrictModel
from prefdata.progress import Quiet


class SamplingParams(StrictModel):
    temperature: float = Field(1.0, ge=0.0, description="0 = greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(-1, description="-1 = off.")
    max_tokens: int = Field(256, ge=1)
    stop: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]  # a conversation ending with a user turn
    n: int = 1
    seed: int | None = None
    prompt_tokens: int | None = None  # tokens after the chat template, when counted


@dataclass(frozen=True)
class Generation:
    text: str
    num_tokens: int | None
    finish_reason: str | None  # "stop" | "length"


class Sampler(ABC):
    backend: ClassVar[str]
    # Told of phases, answers done and engine steps; the sample stage and LLM judges set a
    # Heartbeat (prefdata/progress.py) so that long engine work is never silent.
    progress: Quiet = Quiet()

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @abstractmethod
    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        """One list of `request.n` generations per request, in request order."""

    def generate_shards(self, shards: Iterable[tuple[int, list[Request]]],
                        params: SamplingParams) -> Iterator[tuple[int, list[list[Generation]]]]:
        """(shard index, `generate` of its requests) per shard, as each shard is done: here one
        `generate` call per shard, in order; a backend that streams (ray) runs them all as one job
        and yields each shard as soon as its last row is back."""
        for index, requests in shards:
            yield index, self.generate(requests, params) if requests else []

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens of the rendered chat prompt, or None when this sampler cannot count them."""
        return None

    @property
    def max_model_len(self) -> int | None:
        """Context length (prompt + generation) in tokens, or None when unknown."""
        return None

    def reserve(self, needs: EngineNeeds) -> None:  # noqa: B027 - optional
        """What the coming `generate` calls need (longest prompt and answer, answers in all): an
        engine that starts later is sized from it. Called before the first `generate`."""

    def engine_stats(self) -> dict[str, Any]:
        """The engine settings chosen and why, for the stage's statistics (empty: none chosen)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional
        """Release engines / connections."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model_id}

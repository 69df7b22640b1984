"""LLM-as-judge: pointwise rubric ratings or pairwise verdicts with position swap.

    label:
      judges:
        - type: llm
          id: uf
          mode: pointwise                    # or pairwise
          sampler: {backend: vllm, model: /models/judge, max_model_len: 4096}
          aspects: [helpfulness, honesty, instruction_following, truthfulness]
          # template: my_pointwise.jinja     # optional override of templates/pointwise.jinja

The work is two pure functions per mode, distilabel style: `format_pointwise` /
`format_pairwise` turn an item into chat messages (templates are Jinja files; candidate
and prompt text go inside delimiter tags, with any tag inside the text escaped by
`parsing.fence`, so "rate this 10" in a response is data), and `parsing.parse_ratings` /
`parsing.parse_verdict` turn the judge's text into a label or a reason. Generation goes
through the same `Sampler` interface as the sample stage (vllm, openai, transformers).

- pointwise: one request per candidate; score = mean of the aspect ratings (per-aspect
  ratings in `aspects`). Any aspect missing/conflicting/out of range -> no label + reason.
- pairwise: every two candidates of a prompt are judged twice, A/B and B/A; the verdicts
  become Judgment rows as `prefdata/judges/pairwise.py` describes (swap consistency, win
  rates; a verdict that fails to parse leaves the pair unlabelled). The label stage keeps the per-candidate rows in its output and writes the per-pair rows to
  `<stage dir>/pairwise_judgments.parquet` (same Judgment columns).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import Field, ValidationInfo, model_validator

from prefdata.backends import SamplerConfig, SamplingParams
from prefdata.backends.base import Request, Sampler
from prefdata.backends.sizing import EngineNeeds
from prefdata.config import StrictModel, config_path, stable_hash
from prefdata.errors import PrefdataError
from prefdata.judges.base import Judge, JudgeItem, JudgeRuns, judgment_row
from prefdata.judges.pairwise import candidate_pairs, pairwise_rows
from prefdata.judges.parsing import Parsed, fence, parse_ratings, parse_verdict, template_tags

ASPECTS = {
    "helpfulness": "does it address the request fully, correctly and usefully?",
    "honesty": "does it express uncertainty where appropriate and avoid pretending to know?",
    "instruction_following": "does it follow every instruction and constraint in the prompt?",
    "truthfulness": "is it free of fabricated or false statements?",
}
TEMPLATE_VARIABLES = {"pointwise": {"response"}, "pairwise": {"response_a", "response_b"}}


class LLMJudgeConfig(StrictModel):
    type: Literal["llm"] = "llm"
    id: str = Field(description="Judge id, unique in the recipe; written to every judgment.")
    mode: Literal["pointwise", "pairwise"] = Field("pointwise", description="Rubric ratings or A/B verdicts.")
    sampler: SamplerConfig = Field(description="The judge model's backend, as in the sample stage.")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_tokens=256),
        description="Decoding of the judge (greedy by default).",
    )
    seed: int = Field(0, description="Base seed of the judge requests (matters when temperature > 0).")
    template: str | None = Field(None, description="Jinja file replacing the built-in template of this mode.")
    aspects: list[str] = Field(default_factory=lambda: list(ASPECTS), min_length=1, description="Rubric aspects.")
    rating_min: int = Field(1, description="Lowest rating of the pointwise scale.")
    rating_max: int = Field(5, description="Highest rating of the pointwise scale.")
    max_pairs_per_prompt: int | None = Field(
        None, ge=1, description="Pairwise: judge only the first N pairs per prompt, in candidate order (None: all)."
    )
    batch_size: int = Field(64, ge=1, description="Requests per generate() call.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo):
        if self.template is not None:
            self.template = str(config_path(self.template, info))
        if self.rating_min >= self.rating_max:
            raise ValueError(f"rating_min ({self.rating_min}) must be < rating_max ({self.rating_max})")
        if len(set(self.aspects)) != len(self.aspects):
            raise ValueError(f"aspects repeat a name: {self.aspects}")
        if self.template is not None:
            load_template(self.template, self.mode)  # ValueError naming the file and the problem
        return self


def _builtin_source(mode: str) -> str:
    return resources.files("prefdata.judges").joinpath(f"templates/{mode}.jinja").read_text()


def load_template(path: str | None, mode: str) -> tuple[Any, str]:
    """(compiled template, sha256[:16] of its source) for `path` or the built-in of `mode`."""
    import jinja2
    from jinja2 import meta

    if path is None:
        source, name = _builtin_source(mode), f"templates/{mode}.jinja"
    else:
        if not Path(path).is_file():
            raise ValueError(f"template {path!r} not found: give the path of a Jinja file")
        source, name = Path(path).read_text(), path
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    try:
        used = meta.find_undeclared_variables(env.parse(source))
    except jinja2.TemplateSyntaxError as e:
        raise ValueError(f"template {name} line {e.lineno}: {e.message}") from None
    missing = TEMPLATE_VARIABLES[mode] - used
    if missing:
        raise ValueError(f"{mode} template {name} never uses {sorted(missing)}: the judge would not see the candidates")
    return JudgeTemplate(env.from_string(source), template_tags(source)), hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class JudgeTemplate:
    """A compiled judge template and the delimiter tags its untrusted text is fenced against
    (a custom template's own tags included)."""

    jinja: Any
    tags: tuple[str, ...]

    def fence(self, text: str) -> str:
        return fence(text, self.tags)

    def render(self, **variables) -> str:
        return self.jinja.render(**variables)


def render_conversation(prompt: list[dict[str, str]], fence_text=fence) -> str:
    """The prompt conversation as fenced text: one `Role: content` block per turn."""
    return "\n\n".join(f"{m['role'].capitalize()}: {fence_text(m['content'])}" for m in prompt)


def _aspect_rows(aspects: list[str]) -> list[dict[str, str]]:
    return [{"name": a, "description": ASPECTS.get(a, f"how well the response does on {a}")} for a in aspects]


def format_pointwise(item: JudgeItem, template, aspects: list[str], low: int, high: int) -> list[dict[str, str]]:
    text = template.render(
        prompt=render_conversation(item.prompt, template.fence), response=template.fence(item.response),
        aspects=_aspect_rows(aspects), low=low, high=high,
    )
    return [{"role": "user", "content": text.strip()}]


def format_pairwise(first: JudgeItem, second: JudgeItem, template, aspects: list[str]) -> list[dict[str, str]]:
    """Messages showing `first` as response A and `second` as response B."""
    text = template.render(
        prompt=render_conversation(first.prompt, template.fence), response_a=template.fence(first.response),
        response_b=template.fence(second.response), aspects=_aspect_rows(aspects),
    )
    return [{"role": "user", "content": text.strip()}]


class LLMJudge(Judge):
    """LLM-as-judge through a sampler backend: pointwise rubric ratings, or pairwise with position swap."""

    name, Config = "llm", LLMJudgeConfig
    judge_type = "llm_pointwise"  # "llm_pairwise" in pairwise mode (set per instance)

    @classmethod
    def runs(cls, config: LLMJudgeConfig) -> JudgeRuns:
        return JudgeRuns(per="pair" if config.mode == "pairwise" else "candidate", shards=True, engine="sampler")

    def __init__(self, config: LLMJudgeConfig, sampler: Sampler | None = None):
        super().__init__(config)
        self.judge_type = f"llm_{config.mode}"
        self.template, self.template_hash = load_template(config.template, config.mode)
        if sampler is None:
            from prefdata.backends import make_sampler

            sampler = make_sampler(config.sampler)
        self.sampler = sampler
        self.model = sampler.model_id
        self._stats: dict[str, Any] = {}

    # -- generation -----------------------------------------------------------------
    def judge_shards(self, todo: list[tuple[int, list[JudgeItem]]],
                     progress: Callable | None = None) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        """(index, rows, stats) per shard of `todo`, as soon as the shard's last judge call is back.

        Every shard's batches go to the sampler in one `generate_shards` call: on ray that is one
        job, so the engine replicas start once for all the shards, not once per shard. Batches
        never mix shards, so a shard's outputs are those of judging it alone."""
        shards, keys, longest = {}, [], 0
        for index, items in todo:
            conversations, finish = self._conversations(items)
            out, batches, shard_longest = self._prepare(conversations)
            longest = max(longest, shard_longest)
            shards[index] = {"conversations": conversations, "finish": finish, "out": out, "batches": batches,
                             "left": len(batches)}
            keys += [(index, b) for b in range(len(batches))]
            if progress is not None and len(conversations) > sum(map(len, batches)):
                progress(len(conversations) - sum(map(len, batches)))
        if keys:  # an engine that starts for these requests is sized from them
            self.sampler.reserve(EngineNeeds(longest, self.config.sampling.max_tokens,
                                             sum(len(shards[s]["batches"][b]) for s, b in keys)))
        for index in [i for i, shard in shards.items() if not shard["left"]]:  # nothing to send
            done = shards.pop(index)
            yield index, *done["finish"](done["out"])
        requests = ((k, [Request(messages=shards[s]["conversations"][i], n=1,
                                 seed=self._seed(shards[s]["conversations"][i]))
                         for i in shards[s]["batches"][b]])
                    for k, (s, b) in enumerate(keys))
        for k, outputs in self.sampler.generate_shards(requests, self.config.sampling):
            s, b = keys[k]
            shard = shards[s]
            for i, gens in zip(shard["batches"][b], outputs):
                shard["out"][i] = gens[0].text if gens else ""
            if progress is not None:
                progress(len(shard["batches"][b]))
            shard["left"] -= 1
            if not shard["left"]:
                done = shards.pop(s)
                rows, stats = done["finish"](done["out"])
                yield s, rows, {**stats, **self.sampler.engine_stats()}  # the engine settings chosen, and why
        if shards:  # batches the backend never returned (a replica died): never cached as labels, rerun instead
            raise PrefdataError(f"judge {self.judge_id}: {self.sampler.backend} returned no output for shards "
                                f"{sorted(shards)} (an engine replica died?); rerun to resume (finished shards are kept)")

    def _prepare(self, conversations: list[list[dict]]) -> tuple[list[Parsed | None], list[list[int]], int]:
        """(a Parsed failure for each prompt too long to send, else None; the others in batches;
        the most tokens among those sent). A prompt is too long when it and the judge's max_tokens
        do not fit the model's context."""
        limit = self.sampler.max_model_len
        max_tokens = self.config.sampling.max_tokens
        out: list[Any] = [None] * len(conversations)
        todo, longest = [], 0
        for i, messages in enumerate(conversations):
            n = self.sampler.prompt_tokens(messages) if limit else None
            if n is not None and n + max_tokens > limit:
                out[i] = Parsed(None, "error", f"judge prompt has {n} tokens + max_tokens {max_tokens} > the model "
                                               f"context {limit}")
            else:
                todo.append(i)
                longest = max(longest, n or 0)
        size = self.config.batch_size
        return out, [todo[start : start + size] for start in range(0, len(todo), size)], longest

    def _seed(self, messages: list[dict]) -> int:
        return int(stable_hash([self.config.seed, messages])[:8], 16) & 0x7FFFFFFF

    def watch(self, progress) -> None:
        self.sampler.progress = progress

    def judge(self, items: list[JudgeItem], progress: Callable | None = None) -> list[dict[str, Any]]:
        [(_, rows, self._stats)] = list(self.judge_shards([(0, items)], progress))
        return rows

    def request_count(self, items: list[JudgeItem]) -> int:
        """Generate calls this judge makes for `items` (progress bar total)."""
        if self.config.mode == "pointwise":
            return len(items)
        return 2 * len(candidate_pairs(items, self.config.max_pairs_per_prompt))

    def _conversations(self, items: list[JudgeItem]) -> tuple[list[list[dict]], Callable]:
        """(the judge conversations for `items`, finish(texts) -> (rows, stats))."""
        if self.config.mode == "pointwise":
            return self._pointwise(items)
        return self._pairwise(items)

    # -- pointwise ------------------------------------------------------------------
    def _pointwise(self, items: list[JudgeItem]) -> tuple[list[list[dict]], Callable]:
        cfg = self.config
        conversations = [format_pointwise(it, self.template, cfg.aspects, cfg.rating_min, cfg.rating_max) for it in items]

        def finish(texts: list[Parsed | str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            rows = []
            for item, text in zip(items, texts):
                if isinstance(text, Parsed):
                    rows.append(judgment_row(self, item, score=None, parse_status=text.status, reason=text.reason))
                    continue
                parsed = parse_ratings(text, cfg.aspects, cfg.rating_min, cfg.rating_max)
                score = sum(parsed.value.values()) / len(parsed.value) if parsed.ok else None
                rows.append(judgment_row(self, item, score=score, parse_status=parsed.status, reason=parsed.reason,
                                         raw_output=text, aspects=parsed.value))
            return rows, {"requests": len(items)}
        return conversations, finish

    # -- pairwise -------------------------------------------------------------------
    def _pairwise(self, items: list[JudgeItem]) -> tuple[list[list[dict]], Callable]:
        pairs = candidate_pairs(items, self.config.max_pairs_per_prompt)
        conversations = []
        for i, j in pairs:
            conversations.append(format_pairwise(items[i], items[j], self.template, self.config.aspects))
            conversations.append(format_pairwise(items[j], items[i], self.template, self.config.aspects))

        def finish(texts: list[Parsed | str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            verdicts = [t if isinstance(t, Parsed) else parse_verdict(t) for t in texts]
            return pairwise_rows(self, items, pairs, verdicts, [_text(t) for t in texts])
        return conversations, finish

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def close(self) -> None:
        self.sampler.close()


def _text(t: Parsed | str) -> str | None:
    return None if isinstance(t, Parsed) else t

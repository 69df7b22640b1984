"""The judge interface and the items judges score.

    from prefdata.judges.base import build_judge, JudgeItem
    judge = build_judge(ProgrammaticJudgeConfig(id="math", name="numeric_match"))
    rows = judge.judge([JudgeItem("p1", "p1:0:0", [{"role": "user", "content": "2+2?"}], "4", "4")])
    rows[0]["score"], rows[0]["parse_status"]     # 1.0, 'ok'  (records.Judgment columns)
    judge.close()

A judge turns candidates into `records.Judgment` rows: one row per candidate (pairwise
judges add one row per judged pair, with `opponent_id`). A missing label is still a row,
with score None, a parse_status other than "ok" and a reason: judges never raise on bad
model output. Configs live beside each judge (`reward_model.py`, `llm.py`,
`programmatic.py`) and import nothing heavy, so a recipe validates before any model loads.
`prefdata.judges.JUDGES` lists the judge classes; a class is built for the config it names
as its `Config`.

How the label stage runs a judge is the judge's own declaration, `Judge.runs(config)` (a
`JudgeRuns`), as a filter declares its `scope()`: what one verdict reads, whether its labels
are kept per shard so a killed stage resumes, whether it holds a model (under
`label.executor: ray`, on a pool of Ray actors), needs a GPU, or drives a sampler (on Ray, as
engine replicas). The drivers (stages/label.py, labelling/runner.py, labelling/ray_pool.py,
partition/labels.py) read that and name no judge.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class JudgeItem:
    prompt_id: str
    candidate_id: str
    prompt: list[dict[str, str]]  # the conversation, ending with a user turn
    response: str
    reference: str | None = None


@dataclass(frozen=True)
class JudgeRuns:
    """How the label stage runs a judge (`Judge.runs(config)`)."""

    per: Literal["candidate", "prompt", "pair"] = "candidate"  # what one verdict reads; `pair`: two
    # answers of a prompt, judged in both orders (rows with opponent_id); shards never split a prompt
    shards: bool = False  # costly labels (a model): kept per finished shard, so a killed stage resumes
    model: bool = False  # loads a model into its own process: under executor ray an actor pool holds it
    gpu: bool = False  # each of those actors reserves one GPU
    engine: str | None = None  # the config field of the sampler it drives: on Ray, engine replicas
    model_fields: tuple[str, ...] = ()  # config fields naming a local model folder, checked before it runs
    packages: tuple[str, ...] = ()  # installed packages whose versions decide its labels (the stage key)


def judgment_row(
    judge: "Judge",
    item: JudgeItem,
    *,
    score: float | None,
    parse_status: str = "ok",
    reason: str | None = None,
    raw_output: str | None = None,
    aspects: dict | None = None,
    opponent_id: str | None = None,
    swap_consistent: bool | None = None,
    rank: int | None = None,
) -> dict[str, Any]:
    """A dict with records.Judgment's fields; the id is unique per judge, candidate, opponent."""
    suffix = f":vs:{opponent_id}" if opponent_id else ""
    return {
        "judgment_id": f"{judge.judge_id}:{item.candidate_id}{suffix}",
        "prompt_id": item.prompt_id,
        "candidate_id": item.candidate_id,
        "judge_id": judge.judge_id,
        "judge_type": judge.judge_type,
        "model": judge.model,
        "template_hash": judge.template_hash,
        "score": score if parse_status == "ok" else None,
        "rank": rank,
        "raw_output": raw_output,
        "parse_status": parse_status,
        "reason": reason,
        "annotator": None,
        "aspects": json.dumps(aspects, sort_keys=True) if aspects is not None else None,
        "opponent_id": opponent_id,
        "swap_consistent": swap_consistent,
    }


class Judge(ABC):
    """A judge type: `name` (the recipe's `type:`), `Config`, a docstring whose first line
    `prefdata judges` shows, and `judge`. One line in `prefdata.judges.JUDGES` registers it."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    judge_type: ClassVar[str]  # written to records.Judgment.judge_type
    _by_config: ClassVar[dict[type, type["Judge"]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # build_judge needs the class of a config without importing prefdata.judges (which
        # imports this module): each judge class files itself under its Config here.
        if "Config" in cls.__dict__:
            Judge._by_config[cls.Config] = cls

    def __init__(self, config: BaseModel):
        self.config = config
        self.judge_id: str = config.id
        self.model: str | None = None
        self.template_hash: str | None = None

    @classmethod
    def runs(cls, config: BaseModel) -> JudgeRuns:
        """How the label stage runs this judge for `config`. The default: a cheap check, every
        candidate at once, in the stage's process. A judge that loads a model says so
        (`JudgeRuns(shards=True, model=True)`): it is then sharded, resumed after a kill, and
        run on Ray actors under `label.executor: ray`."""
        return JudgeRuns()

    @classmethod
    def code_files(cls) -> list[Path]:
        """Source files whose content decides this judge type's scores (part of the label stage key)."""
        return [Path(inspect.getfile(cls))]

    @abstractmethod
    def judge(
        self, items: list[JudgeItem], progress: Callable[[int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Judgment rows for `items`; never raises on a bad model output (missing label + reason).

        `progress(n)` is called as items get done (a rich progress bar's advance).
        """

    def judge_shards(self, todo: list[tuple[int, list[JudgeItem]]]) -> Iterator[tuple[int, list[dict[str, Any]], dict]]:
        """(index, rows, stats) per shard of `todo`, each as soon as it is judged. Here one
        `judge` call per shard, in order; a judge whose backend streams (the LLM judge: one
        sampler call, on Ray one job) overrides it to send every shard at once."""
        for index, items in todo:
            rows = self.judge(items)
            yield index, rows, self.stats()

    def watch(self, progress) -> None:  # noqa: B027 - optional
        """Report engine phases and steps to `progress` (a prefdata.progress.Heartbeat): a judge
        that runs a model through a sampler hands it on, so a long judge call is never silent."""

    def stats(self) -> dict[str, Any]:
        """Judge-specific statistics for the stage report (e.g. swap consistency)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional
        """Free models / engines."""


def build_judge(config: BaseModel) -> Judge:
    """The judge whose `Config` the config is (its class is defined with the config), or the plugin's."""
    return judge_class(config)(getattr(config, "block_config", config))


def judge_class(config: BaseModel) -> type[Judge]:
    """The Judge class a judge config names (a plugin config carries its class)."""
    return getattr(config, "block_class", None) or Judge._by_config[type(config)]


def judge_runs(config: BaseModel) -> JudgeRuns:
    """What the judge a config names declares about how it runs."""
    return judge_class(config).runs(getattr(config, "block_config", config))


def shard_meta(judge: Judge, shard: list[JudgeItem], stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """A finished shard's statistics: the judge's own (requests, swap consistency; `stats`, else
    `judge.stats()` after judging it) and its identity."""
    meta = {**(judge.stats() if stats is None else stats),
            "judge_meta": {"model": judge.model, "template_hash": judge.template_hash}}
    meta.setdefault("requests", judge.request_count(shard) if hasattr(judge, "request_count") else len(shard))
    return meta

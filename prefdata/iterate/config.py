"""The iterate recipe: a build recipe plus `train:` and `iterate:` sections, checked at load.

    from prefdata.iterate.config import load_plan
    plan = load_plan("pipelines/iterate_demo.yaml", ["sample.k=8"], rounds=2)

    train: ../trainer/configs/demo_cpu.yaml   # a train config path (relative to this file) or inline
    iterate:
      rounds: 3
      prompts: split            # split: new prompts every round (RLHFlow); reuse: the same ones
      prompts_per_round: 200
      reference: initial        # initial: pi_0 every round (RLHFlow); previous: pi_{t-1}
      init: previous            # round t trains from pi_{t-1} (previous) or pi_0 (initial)
      eval: {holdout: 100, judges: [exact]}
      human: {budget: 0.2, schedule: front_loaded, select: implicit_margin}   # optional: Argilla each round

Every problem (rounds < 1, a train model that is not the sampled model, unknown or pairwise
eval judges, a LoRA round that would not be merged, ...) is reported at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from prefdata.config import ConfigPath, StrictModel, load_config, read_yaml
from prefdata.errors import ConfigError
from prefdata.model_dirs import LOCAL_BACKENDS, is_model_dir
from prefdata.recipe import RecipeBase, recipe_model
from prefdata.stages import STAGES




class EvalSection(StrictModel):
    prompts: ConfigPath | None = Field(
        None, description="Held-out prompt file (same columns as `prompts:`); default: `holdout` prompts of the pool.")
    holdout: int = Field(0, ge=0, description="Prompts taken out of the pool before any round sees it.")
    judges: list[str] | None = Field(
        None, description="Pointwise judge ids of `label.judges` that score the greedy answers (default: all "
        "pointwise ones).")
    pass_score: float = Field(1.0, description="A programmatic judge's answer passes at or above this score.")
    max_tokens: int | None = Field(None, ge=1, description="Greedy answer length (default: sample.sampling.max_tokens).")

    @model_validator(mode="after")
    def _some_prompts(self):
        if self.prompts is None and not self.holdout:
            raise ValueError("give held-out prompts: eval.prompts (a file) or eval.holdout (a number taken from "
                             "the pool)")
        if self.prompts is not None and self.holdout:
            raise ValueError("eval.prompts and eval.holdout both given: choose one source of held-out prompts")
        return self


class HumanSection(StrictModel):
    """A human budget spread over the rounds (prefdata/iterate/human.py)."""

    budget: float = Field(gt=0, description="Human labels over all rounds: prompts (>= 1) or a share of the rounds' "
                          "prompts (< 1).")
    schedule: Literal["even", "front_loaded"] | list[float] = Field(
        "front_loaded", description="Each round's share of the budget: even, front_loaded (round t of R gets "
        "R - t + 1 parts: more early, where labels help most), or a share per round summing to 1.")
    select: Literal["margin", "disagreement", "swap", "implicit_margin", "random"] = Field(
        "implicit_margin", description="Which prompts of a round get the round's labels (argilla.select); "
        "implicit_margin scores the judges' pairs with pi_{t-1} against the round's reference.")
    first_round_select: Literal["margin", "disagreement", "swap", "random"] = Field(
        "margin", description="Round 1's criterion when select is implicit_margin: its policy is its reference "
        "(pi_0), so every implicit margin is 0.")
    dataset: str = Field("iterate", description="Argilla datasets are named <dataset>-round-<t>.")

    @model_validator(mode="after")
    def _shares(self):
        if isinstance(self.schedule, list):
            if any(x < 0 for x in self.schedule) or abs(sum(self.schedule) - 1) > 1e-6:
                raise ValueError(f"schedule {self.schedule}: give one share per round, each >= 0, summing to 1")
        if self.budget >= 1 and self.budget != int(self.budget):
            raise ValueError(f"budget {self.budget}: a number of prompts is whole; a share is below 1")
        return self


class IterateSection(StrictModel):
    rounds: int = Field(3, ge=1, description="Rounds of sample -> label -> pair -> filter -> export -> train.")
    prompts: Literal["split", "reuse"] = Field(
        "split", description="split: disjoint prompts every round (new prompts, as RLHFlow); reuse: the same ones.")
    prompts_per_round: int | None = Field(
        None, ge=1, description="Prompts per round (default: the pool after the holdout, / rounds when split).")
    reference: Literal["initial", "previous"] = Field(
        "initial", description="The DPO reference: pi_0 every round (as RLHFlow) or the previous round's policy.")
    init: Literal["previous", "initial"] = Field("previous", description="Round t trains from pi_{t-1} or from pi_0.")
    merge: bool = Field(True, description="Merge a LoRA round's adapter into a full model (vLLM samples from it).")
    eval: EvalSection
    human: HumanSection | None = Field(
        None, description="Humans in the loop: each round pushes its share of this budget to Argilla (the prompts "
        "the current policy is least sure of), waits for the answers, and builds with label.source: mixed.")


class IterateBase(RecipeBase):
    train: ConfigPath | dict[str, Any] = Field(
        description="The DPO train config: a path (relative to the recipe) or the config inline.")
    iterate: IterateSection


IterateRecipe = recipe_model(STAGES, "IterateRecipe", base=IterateBase)


@dataclass(frozen=True)
class Plan:
    """A checked iterate recipe: what `prefdata.iterate.loop` runs."""

    recipe: IterateBase
    path: Path
    overrides: list[str]
    train: dict[str, Any]  # the raw train config; each round sets model, reference, data, output, seed
    policy0: str  # the sampled model = pi_0
    eval_judges: list[str]

    @property
    def rounds(self) -> int:
        return self.recipe.iterate.rounds

    @property
    def lora(self) -> bool:
        """Rounds train an adapter (then merged into a full model)."""
        return (self.train.get("peft") or {}).get("mode", "full") in ("lora", "qlora")


def load_plan(path: str | Path, overrides: list[str] = (), rounds: int | None = None) -> Plan:
    """Load and check an iterate recipe; `rounds` (--rounds) overrides iterate.rounds."""
    path = Path(path)
    overrides = [*overrides, *([f"iterate.rounds={rounds}"] if rounds is not None else [])]
    recipe = load_config(IterateRecipe, path, overrides)
    problems, train = [], _train_raw(recipe, path)
    samplers = recipe.sample.models if recipe.sample else []
    if len(samplers) != 1:
        problems.append(f"sample.models: iterate samples from the policy being trained, so exactly one model; "
                        f"got {len(samplers)}")
    policy0 = str(samplers[0].model) if samplers else ""
    if samplers and samplers[0].backend not in LOCAL_BACKENDS:
        problems.append(f"sample.models.0.backend: {samplers[0].backend}: every round samples from the model it "
                        f"just trained, a local directory; use {' or '.join(LOCAL_BACKENDS)}")
    elif policy0 and not is_model_dir(policy0):
        problems.append(f"sample.models.0.model: {policy0} is not a local model directory (no config.json); "
                        "iterate trains it and samples from the result, so download it first")
    sections = {name: _section(train, name, problems) for name in ("model", "data", "peft", "reference", "dpo")}
    model, peft, reference = (sections[name] or {} for name in ("model", "peft", "reference"))
    train_model = model.get("path")
    if policy0 and train_model and not _same(str(train_model), policy0):
        problems.append(f"train: model.path {train_model} is not the sampled model sample.models.0.model {policy0}; "
                        "round 1 trains the model it sampled from: make them the same path (or leave "
                        "model.path out of the train config)")
    missing = [s for s in ("label", "pair", "export") if getattr(recipe, s, None) is None]
    if missing:
        problems.append(f"iterate needs the sections {', '.join(missing)}: every round exports a dataset to train on")
    human = recipe.iterate.human
    if recipe.label is not None and recipe.label.source == "argilla":
        problems.append("label.source: argilla: iterate labels every round automatically; use judges (or mixed "
                        "with iterate.human)")
    if recipe.label is not None and (human is not None) != (recipe.label.source == "mixed"):
        problems.append("iterate.human and label.source: mixed go together: the rounds' human answers reach the "
                        "pairs through the mixed labels" if human is not None else
                        "label.source: mixed without iterate.human: no round would ask a human; add iterate.human")
    if human is not None and isinstance(human.schedule, list) and len(human.schedule) != recipe.iterate.rounds:
        problems.append(f"iterate.human.schedule: {len(human.schedule)} shares for {recipe.iterate.rounds} rounds")
    if human is not None and human.select == "implicit_margin" and recipe.iterate.reference == "previous":
        problems.append("iterate.human.select: implicit_margin with reference: previous scores each round's policy "
                        "against itself (every margin 0); use reference: initial or another criterion")
    mode = peft.get("mode", "full")
    if mode in ("lora", "qlora") and not recipe.iterate.merge:
        problems.append(f"iterate.merge: false with peft.mode {mode}: the next round samples with vLLM from a full "
                        "model, so each round's adapter must be merged; set iterate.merge: true")
    if mode in ("lora", "qlora") and peft.get("adapter_name_or_path"):
        problems.append("train: peft.adapter_name_or_path: an iterate round merges its adapter into the round's "
                        "start model, which has no place for a second (SFT) adapter; merge the SFT adapter first "
                        "(`prefdata merge`) and sample from the merged model")
    if reference.get("strategy") == "adapter":
        problems.append("train: reference.strategy: adapter cannot follow the rounds' models; use model (the "
                        "default for full) or precomputed")
    eval_judges = _eval_judges(recipe, problems)
    if policy0 and None not in sections.values():  # a section of the wrong type cannot be filled in
        problems += _train_problems(train, policy0, path)
    if problems:
        raise ConfigError(str(path), problems)
    return Plan(recipe, path, list(overrides), train, policy0, eval_judges)


def _section(train: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any] | None:
    """A section of the raw train config as a mapping; None (and a problem) when it is not one."""
    value = train.get(name) or {}
    if not isinstance(value, dict):
        problems.append(f"train: {name}: expected a mapping of keys, got {type(value).__name__} {value!r}")
        return None
    return value


def _train_raw(recipe: IterateBase, path: Path) -> dict[str, Any]:
    if isinstance(recipe.train, dict):
        return copy.deepcopy(recipe.train)
    train_path = Path(recipe.train)  # ConfigPath made it absolute when it lies beside the recipe
    if not train_path.is_file():
        raise ConfigError(str(path), [f"train: {recipe.train}: no such train config file (paths are relative to "
                                      "the recipe, else to the working directory)"])
    return read_yaml(train_path)


def _train_problems(train: dict[str, Any], policy0: str, path: Path) -> list[str]:
    """The train config as round 1 will run it (model = pi_0), checked now rather than after a round."""
    from prefdata.trainer.config import validate_train_config

    raw = round_train_config(train, model=policy0, reference=policy0, dataset=path.parent, output=path.parent / "round",
                             seed=0)
    try:
        validate_train_config(raw)
    except ConfigError as e:
        return [f"train: {p}" for p in e.problems]
    return []


def round_train_config(train: dict[str, Any], *, model: str, reference: str, dataset: Path, output: Path,
                       seed: int) -> dict[str, Any]:
    """The raw train config of one round: its start model, reference, dataset, output dir and seed.

    A reference other than the start model needs a copy of its own (strategy model):
    adapter_disabled and precomputed would use the start model."""
    raw = copy.deepcopy(train)
    raw.setdefault("model", {})["path"] = model
    raw.setdefault("data", {}).update({"dir": str(dataset), "seed": seed})
    raw.setdefault("dpo", {}).update({"output_dir": str(output), "seed": seed})
    ref = raw.setdefault("reference", {})
    ref.pop("model_path", None)  # the loop decides the reference of every round
    if reference != model:
        ref.update({"strategy": "model", "model_path": reference})
    return raw


def _same(a: str, b: str) -> bool:
    """Same local model directory (two names that do not exist on disk: the same string)."""
    pa, pb = Path(a), Path(b)
    if not pa.exists() or not pb.exists():
        return a == b
    return pa.resolve() == pb.resolve()


def _eval_judges(recipe: IterateBase, problems: list[str]) -> list[str]:
    if recipe.label is None:
        return []
    judges = {j.id: j for j in recipe.label.judges}
    pointwise = [i for i, j in judges.items() if getattr(j, "mode", "pointwise") != "pairwise"]
    wanted = recipe.iterate.eval.judges
    if wanted is None:
        if not pointwise:
            problems.append(f"iterate.eval.judges: the recipe's judges ({', '.join(judges)}) are all pairwise; "
                            "held-out answers are scored one by one: add a pointwise judge")
        return pointwise
    if not wanted:
        problems.append(f"iterate.eval.judges: empty; name pointwise judges of label.judges ({', '.join(pointwise)})")
    unknown = [i for i in wanted if i not in judges]
    if unknown:
        problems.append(f"iterate.eval.judges: {unknown} are not judges of this recipe; label.judges ids are "
                        f"{list(judges)}")
    pairwise = [i for i in wanted if i in judges and i not in pointwise]
    if pairwise:
        problems.append(f"iterate.eval.judges: {pairwise} are pairwise; held-out answers are scored one by one: "
                        f"use pointwise judges ({', '.join(pointwise) or 'none in this recipe'})")
    return list(wanted)

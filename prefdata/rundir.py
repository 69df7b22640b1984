"""The run directory of `prefdata build`: the one place that knows its layout.

    from prefdata.rundir import RunDir
    run = RunDir("runs/demo")
    run.stage("sample").data          # runs/demo/stages/sample/data.parquet
    run.dataset                       # runs/demo/dataset (the exported TRL dataset directory)

RUN_DIR/
    recipe.resolved.yaml            the validated recipe, defaults filled in
    manifest.json                   RunManifest: hashes, versions, rows in/out/dropped, timings
    stages/<name>/data.parquet      the stage's artifact
    stages/<name>/rejects.parquet   dropped rows with reason codes
    stages/<name>/stats.json        the stage's StageManifest (key, counts, unit, stats)
    stages/<name>/DONE              written last; holds the stage key
    stages/<name>/shards/           finished pieces of work of a resumable stage (sample, label)
    human/judgments.parquet         labels pulled from Argilla (`prefdata argilla pull`)
    dataset/                        the export stage's TRL dataset directory
    logs/<stage>.log                engine output of the stage (vLLM, transformers, Ray), not the console's
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from prefdata.errors import PrefdataError
from prefdata.fingerprint import content_digest
from prefdata.records import StageManifest
from prefdata.atomic import mark_done, read_done, write_parquet, write_text_atomic


class StageDir:
    """Files of one stage in the run directory."""

    def __init__(self, root: Path, name: str):
        self.name = name
        self.path = root / "stages" / name
        self.data, self.rejects = self.path / "data.parquet", self.path / "rejects.parquet"
        self.stats, self.done = self.path / "stats.json", self.path / "DONE"

    def finished_with(self, key: str) -> bool:
        return (read_done(self.done) or {}).get("key") == key and self.data.is_file()

    def is_finished(self) -> bool:
        return self.done.is_file() and self.stats.is_file()

    def manifest(self) -> StageManifest:
        return StageManifest(**json.loads(self.stats.read_text())["manifest"])

    def write(self, data, rejects, manifest: StageManifest) -> StageManifest:
        """Artifact, rejects, stats, then DONE last: DONE means every other file is complete."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.done.unlink(missing_ok=True)  # a crash below must not leave an old DONE behind
        if isinstance(data, Path):
            data.replace(self.data)  # streamed out by the stage into its own directory: same filesystem
        else:
            write_parquet(data, self.data)
        write_parquet(rejects, self.rejects)
        manifest.output_hash = content_digest(self.data)
        write_text_atomic(self.stats, json.dumps({"key": manifest.key, "manifest": manifest.model_dump()}, indent=2))
        mark_done(self.done, {"key": manifest.key})
        return manifest


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.resolved_recipe = self.root / "recipe.resolved.yaml"
        self.manifest = self.root / "manifest.json"
        self.human = self.root / "human"  # what `prefdata argilla push/pull` write
        self.human_judgments = self.human / "judgments.parquet"
        self.dataset = self.root / "dataset"
        self.logs = self.root / "logs"  # engine output per stage (vLLM, transformers, Ray)

    def stage(self, name: str) -> StageDir:
        return StageDir(self.root, name)

    def is_run(self) -> bool:
        return (self.root / "stages").is_dir()

    def finished_stages(self, names: list[str] | None = None) -> list[StageDir]:
        """Finished stages in run order: `names` (a recipe's stages), else the last manifest's
        order, else the order in which they finished."""
        if names is None and self.manifest.is_file():
            names = [s["name"] for s in json.loads(self.manifest.read_text())["stages"]]
        if names is None:
            found = [d for d in (self.root / "stages").glob("*/stats.json")]
            names = [p.parent.name for p in sorted(found, key=lambda p: p.stat().st_mtime_ns)]
        return [d for d in map(self.stage, names) if d.is_finished()]

    def final_pairs_file(self) -> Path | None:
        """The pairs a build ended with: after the filter stage when it ran, else the pair stage's."""
        for name in ("filter", "pair"):
            if self.stage(name).data.is_file():
                return self.stage(name).data
        return None

    def lock(self):
        """One build per run dir at a time; the OS drops the lock when a killed build dies."""
        return locked(self.root, "prefdata build")


@contextmanager
def locked(root: Path, command: str):
    """Hold an exclusive lock on directory `root` (made if missing) while one `command` runs in it."""
    import fcntl

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:  # "a": taking the lock leaves the file (and its mtime) alone
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PrefdataError(f"{root}: another `{command}` is running on this directory") from None
        yield

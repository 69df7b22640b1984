"""The output directory of one training run: refuse to mix runs, empty it, or resume in it.

    check_output_dir(out, resume=False, overwrite=False)   # read-only: raise if a run is there
    checkpoint = start_run(out, ranks, resume=..., overwrite=..., protect=[data_dir, model_dir])

A run's outputs (metrics.jsonl, checkpoints, plots, DONE) describe that run only:
- a fresh run into a directory that already holds one is refused (one line, exit 2) unless
  `--resume` (continue it) or `--overwrite` (empty it first) is given;
- `--overwrite` deletes only a directory that `prefdata train` wrote (it has train_config.yaml)
  and never one that holds the data or the model being trained;
- a stale DONE (and the stats and rejects written before training) is removed when any run
  starts, so they always belong to the current run; a directory holding only these (a run
  stopped by a data error before training) counts as empty;
- `--resume` picks the newest *complete* checkpoint (trainer_state.json is the last file
  transformers writes into it, not atomically: a kill -9 while saving leaves it missing,
  empty or cut), and the
  metrics file is cut back to that step by `MetricsJsonl` when training begins.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from prefdata.errors import PrefdataError
from prefdata.trainer.distributed import Ranks

CONFIG_FILE = "train_config.yaml"  # written first by every run: marks a prefdata train output dir
STATE_FILE = "trainer_state.json"  # written last into every checkpoint by transformers' Trainer
SETUP_FILES = (CONFIG_FILE, "train_stats.json")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
SHOW = 4


def check_output_dir(out: Path, *, resume: bool | str = False, overwrite: bool = False,
                     protect: tuple[str | Path | None, ...] = ()) -> None:
    """Raise a one-line PrefdataError when this run may not start in `out`; writes nothing."""
    out = Path(out)
    if resume and overwrite:
        raise PrefdataError("--resume continues the run in the output dir and --overwrite deletes it: choose one")
    if out.exists() and not out.is_dir():
        raise PrefdataError(f"{out}: the output dir is a file; pass another --out")
    entries = sorted(p.name for p in out.iterdir() if not (_setup_file(p) or _log_dir(p))) if out.is_dir() else []
    if not entries or resume:
        return
    if not overwrite:
        shown = ", ".join(entries[:SHOW]) + (", ..." if len(entries) > SHOW else "")
        raise PrefdataError(f"{out} already holds a previous run ({shown}): pass --resume to continue it, "
                            "--overwrite to replace it, or another --out")
    if not (out / CONFIG_FILE).is_file():
        raise PrefdataError(f"--overwrite: {out} is not a `prefdata train` output (no {CONFIG_FILE}); "
                            "refusing to delete it, pass another --out")
    for path in protect:
        if path and _inside(Path(path), out):
            raise PrefdataError(f"--overwrite: {out} contains {path}, which this run reads; pass another --out")


def start_run(out: Path, ranks: Ranks, *, resume: bool | str = False, overwrite: bool = False,
              protect: tuple[str | Path | None, ...] = ()) -> str | None:
    """Check, then (main process) empty or clean `out`; returns the checkpoint to resume from.

    Every rank looks at the directory before any rank changes it (first barrier), and none
    goes on before the main process has finished (second barrier), so all ranks decide alike.
    """
    out = Path(out)
    check_output_dir(out, resume=resume, overwrite=overwrite, protect=protect)
    checkpoint = resume_checkpoint(out, resume) if resume else None
    ranks.barrier()
    if ranks.is_main:
        if overwrite:
            empty_dir(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "logs").mkdir(exist_ok=True)  # engine output of every rank (one file each)
        for path in [out / "DONE", *filter(_setup_file, out.iterdir())]:
            path.unlink(missing_ok=True)  # this run writes its own; a stale one would describe another run
        if checkpoint:
            drop_incomplete_checkpoints(out, after=checkpoint_step(checkpoint))
    ranks.barrier()
    return checkpoint


def resume_checkpoint(out: Path, resume: bool | str) -> str:
    """The checkpoint dir `--resume` (newest complete one in `out`) or `--resume-from PATH` names."""
    if isinstance(resume, str) and resume not in ("true", "last"):
        path = Path(resume)
        if not path.is_dir():
            raise PrefdataError(f"--resume-from {resume}: no such checkpoint directory")
        if not is_complete(path):
            raise PrefdataError(f"--resume-from {resume}: incomplete checkpoint (no readable {STATE_FILE}: the "
                                "run was killed while saving it); pick an earlier one")
        return str(path)
    complete = [p for p in checkpoints(out) if is_complete(p)]
    if not complete:
        raise PrefdataError(f"--resume: no complete checkpoint-* folder in {out}; train without --resume first")
    return str(complete[-1])


def is_complete(checkpoint: Path) -> bool:
    """trainer_state.json is written last, but not atomically: a kill -9 can leave it empty or cut."""
    try:
        return "global_step" in json.loads((Path(checkpoint) / STATE_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return False


def checkpoints(out: Path) -> list[Path]:
    """checkpoint-N folders of `out`, oldest (smallest N) first."""
    found = [p for p in Path(out).glob("checkpoint-*") if p.is_dir() and _CHECKPOINT.match(p.name)]
    return sorted(found, key=checkpoint_step)


def checkpoint_step(path: str | Path) -> int:
    match = _CHECKPOINT.match(Path(path).name)
    return int(match.group(1)) if match else -1


def drop_incomplete_checkpoints(out: Path, after: int) -> list[Path]:
    """Delete half-written checkpoints newer than the resumed one (a kill -9 while saving).

    Otherwise the next `--resume` would pick one up (transformers takes the highest N)."""
    dropped = [p for p in checkpoints(out) if checkpoint_step(p) > after and not is_complete(p)]
    for path in dropped:
        shutil.rmtree(path)
    return dropped


def empty_dir(out: Path) -> None:
    """Delete everything in `out` (checked by `check_output_dir` to be a prefdata train output)."""
    if not out.is_dir():
        return
    for path in out.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _setup_file(path: Path) -> bool:
    """Files written before training starts: alone, they are a run stopped by a data or config
    error (nothing trained), which the next run may simply replace."""
    return path.is_file() and (path.name in SETUP_FILES or (path.name.startswith("rejects_")
                                                            and path.suffix == ".parquet"))


def _log_dir(path: Path) -> bool:
    """logs/ (engine output) alone is no run either: a stopped run's log is kept and appended to."""
    return path.is_dir() and path.name == "logs"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents

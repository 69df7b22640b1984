"""Real processes: kill -9 mid-run then --resume ends on the uninterrupted run's exact weights, and
`--num-processes 2` (accelerate DDP over gloo) equals one process with the same global batch while
only rank 0 writes the shared files (precomputed reference log-probs included). Each run is a real
`python -m prefdata.cli train` subprocess."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from prefdata.trainer.metrics import read_metrics

# Subprocesses: one thread each (2 cores, shared), offline, no tqdm noise in the logs.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}

# Imported by every Python process started with it on PYTHONPATH: logs each file a process opens
# for writing, renames or deletes under AUDIT_ROOT, with the process's rank (sys.addaudithook).
AUDIT_HOOK = '''
import os, sys
_root, _log = os.environ.get("AUDIT_ROOT"), os.environ.get("AUDIT_LOG")
if _root and _log:
    _rank, _busy = os.environ.get("RANK", "0"), [False]
    def _record(path):
        _busy[0] = True
        try:
            with open(f"{_log}.{_rank}", "a") as f:
                f.write(os.fspath(path) + "\\n")
        finally:
            _busy[0] = False
    def _hook(event, args):
        if _busy[0]:
            return
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            paths = [path] if writes else []
        elif event in ("os.rename", "os.replace"):
            paths = [args[1]]
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree"):
            paths = [args[0]]
        else:
            return
        for p in paths:
            if isinstance(p, (str, os.PathLike)) and os.path.abspath(os.fspath(p)).startswith(_root):
                _record(p)
    _record("#started")  # proves the hook ran in this process
    sys.addaudithook(_hook)
'''


def _config(path: Path, model_dir: Path, **dpo) -> Path:
    import yaml

    dpo = {"max_steps": 4, "per_device_train_batch_size": 2, "learning_rate": 1e-3, "report_to": "none",
           "save_strategy": "no", "logging_steps": 1, "max_length": 128, "seed": 0, "disable_tqdm": True, **dpo}
    path.write_text(yaml.safe_dump({"model": {"path": str(model_dir)}, "data": {"eval_split": None}, "dpo": dpo}))
    return path


def _train_cmd(data_dir, config, out, *extra) -> list[str]:
    return [sys.executable, "-m", "prefdata.cli", "train", "--data", str(data_dir), "--config", str(config),
            "--out", str(out), *extra]


def _run(cmd, env=ENV, timeout=600) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    done.wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "model.safetensors"))


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _loss_rows(out: Path) -> list[dict]:
    return [r for r in read_metrics(out / "metrics.jsonl") if r["split"] == "train" and "loss" in r]


def _complete_checkpoint(out: Path) -> Path | None:
    from prefdata.trainer.rundir import checkpoints, is_complete

    done = [p for p in checkpoints(out) if is_complete(p)] if out.is_dir() else []
    return done[-1] if done else None


KILL_CONFIG = dict(max_steps=40, save_strategy="steps", save_steps=3, save_total_limit=3)
# Three kill points, drawn once: the first complete checkpoint at or after these steps (of 40).
KILL_AFTER = sorted(random.Random(7).sample(range(3, 25, 3), 3))


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir, dpo_dir, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kill9")
    config = _config(root / "c.yaml", tiny_model_dir, **KILL_CONFIG)
    _run(_train_cmd(dpo_dir, config, root / "uninterrupted"))
    return config, root / "uninterrupted"


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", KILL_AFTER)
def test_kill9_then_resume_gives_the_uninterrupted_weights(kill_after, uninterrupted, dpo_dir, tmp_path):
    # 16 rows, batch 2: 8 steps an epoch, so kills land mid-epoch (data skip + RNG restore both matter)
    config, reference = uninterrupted
    out = tmp_path / "killed"
    victim = subprocess.Popen(_train_cmd(dpo_dir, config, out), env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while victim.poll() is None and time.monotonic() < deadline:
        latest = _complete_checkpoint(out)
        if latest is not None and int(latest.name.split("-")[1]) >= kill_after:
            break
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = _complete_checkpoint(out)
    assert killed_at is not None and not (out / "DONE").exists()
    logged = len(_loss_rows(out))
    print(f"\n[kill -9] killed with {sorted(p.name for p in out.glob('checkpoint-*'))} saved, {logged} steps logged")

    _run(_train_cmd(dpo_dir, config, out, "--resume"))
    steps = [r["step"] for r in _loss_rows(out)]
    assert steps == list(range(1, 41))  # each step once, in order, across the kill
    expected, got = _weights(reference), _weights(out)
    assert all(torch_equal(expected[k], got[k]) for k in expected), f"max |diff| {_max_diff(expected, got)}"
    # the logged losses match the uninterrupted run's step for step, before and after the kill
    assert [r["loss"] for r in _loss_rows(out)] == [r["loss"] for r in _loss_rows(reference)]
    assert (out / "DONE").is_file()


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two processes need two cores (more are refused)")
def test_two_processes_equal_one_with_the_same_global_batch(tiny_model_dir, dpo_dir, data_dirs, tmp_path):
    # 17 rows, one with a too-long prompt: rejects_train.parquet is written (the file two ranks once
    # raced on) and 16 rows are left, a multiple of the global batch of 4. With a remainder the runs
    # differ by design at the epoch's end: measured on 15 rows, the last one-process step trains on
    # 3 rows while accelerate (even_batches) fills rank 1's short batch with the epoch's first row,
    # so the two-process step trains on 4 (loss 0.5515 vs 0.6211 at step 4; steps 1-3 equal).
    data = data_dirs.write(tmp_path / "data", n_train=17)
    rows = pl.read_parquet(data / "train.parquet").to_dicts()
    rows[0]["prompt"] = [{"role": "user", "content": "plus minus times " * 60}]
    data = data_dirs.rewrite(data, "train", pl.DataFrame(rows))
    steps = 8  # two epochs: the reshuffle at the epoch boundary must agree too
    one = tmp_path / "one"
    one_run = _run(_train_cmd(data, _config(tmp_path / "one.yaml", tiny_model_dir, max_steps=steps,
                                            per_device_train_batch_size=4), one))

    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    two = tmp_path / "two"
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(hook_dir), ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "AUDIT_ROOT": str(two), "AUDIT_LOG": str(tmp_path / "writes")}
    two_run = _run(_train_cmd(data, _config(tmp_path / "two.yaml", tiny_model_dir, max_steps=steps,
                                            per_device_train_batch_size=2), two, "--num-processes", "2"), env=env)
    assert "FileNotFoundError" not in two_run.stderr and "Traceback" not in two_run.stderr

    # same global batch (2 x 2 = 4), same data order: same losses and weights up to float reassociation
    one_rows, two_rows = _loss_rows(one), _loss_rows(two)
    assert [r["step"] for r in two_rows] == list(range(1, steps + 1))  # logged once, by rank 0
    assert [r["epoch"] for r in two_rows] == [r["epoch"] for r in one_rows]  # 4 rows a step in both
    for a, b in zip(one_rows, two_rows):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)
        assert b["rewards/margins"] == pytest.approx(a["rewards/margins"], abs=1e-5)
    diff = _max_diff(_weights(one), _weights(two))
    assert diff <= 1e-5, f"two-process weights differ from one-process by {diff}"
    step_s = {name: json.loads((out / "train_metrics.json").read_text())["train_runtime"] / steps
              for name, out in (("one", one), ("two", two))}
    print(f"\n[ddp] max |w_2proc - w_1proc| after {steps} steps: {diff:.3g}; step time one "
          f"{step_s['one'] * 1000:.0f} ms, two {step_s['two'] * 1000:.0f} ms; wall one {one_run.wall:.1f}s, "
          f"two {two_run.wall:.1f}s")

    # only rank 0 wrote the shared files; rank 1 only its own RNG state in each checkpoint (none here)
    writes = {rank: (tmp_path / f"writes.{rank}").read_text().split() for rank in ("0", "1")}
    assert "#started" in writes["1"]  # the hook ran in rank 1 ...
    assert not [p for p in writes["1"] if p != "#started" and "rng_state_1" not in p
                and not p.endswith("logs/train.rank1.log")], writes["1"]  # ... only its own files
    names = {Path(p).name for p in writes["0"]}
    assert {"metrics.jsonl", "DONE", "train_stats.json", "train_config.yaml", "rejects_train.parquet"} <= names
    done = json.loads((two / "DONE").read_text())
    assert done["processes"] == 2 and done["rows"]["train_dropped_prompt_too_long"] == 1
    assert pl.read_parquet(two / "rejects_train.parquet")["reason"].to_list() == ["prompt_too_long"]
    assert not list(two.glob(".*.tmp")) and two_run.stdout.count("trained:") == 1


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two processes need two cores (more are refused)")
def test_two_processes_with_precomputed_reference_logps(tiny_model_dir, dpo_dir, tmp_path):
    # TRL's own pass wrote its results to a cache file under datasets' per-process temp dir, which
    # rank 1 then failed to open (FileNotFoundError); the store is written by rank 0 alone
    cache = tmp_path / "ref-cache"
    extra = ["--set", "reference.strategy=precomputed", "--set", f"reference.cache_dir={cache}"]
    one = tmp_path / "one"
    _run(_train_cmd(dpo_dir, _config(tmp_path / "one.yaml", tiny_model_dir, per_device_train_batch_size=4), one,
                    *extra))
    two = tmp_path / "two"
    shutil.rmtree(cache)
    run = _run(_train_cmd(dpo_dir, _config(tmp_path / "two.yaml", tiny_model_dir), two, "--num-processes", "2",
                          *extra))
    assert "Traceback" not in run.stderr and len(list(cache.glob("*/ref_logps.parquet"))) == 1
    for a, b in zip(_loss_rows(one), _loss_rows(two), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)

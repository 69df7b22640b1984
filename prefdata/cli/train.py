"""`prefdata train` and `prefdata merge`: thin commands over prefdata.trainer.

    prefdata train --data data/hh --config trainer/configs/lora_cpu.yaml --set dpo.max_steps=20
    prefdata train --data data/hh --config trainer/configs/full_cpu.yaml --resume
    prefdata train --data data/hh --config trainer/configs/full_cpu.yaml --overwrite   # replace the previous run
    prefdata train --data data/hh --config trainer/configs/qlora_gpu.yaml --num-processes 4 --accelerate fsdp
    prefdata merge runs/lora --base models/tiny --out runs/lora-merged
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app
from prefdata.errors import PrefdataError
from prefdata.trainer.distributed import launched_rank

ACCELERATE_CONFIGS = ("ddp", "fsdp", "zero3")


@app.command()
def train(
    config: Annotated[Path, typer.Option("--config", help="Train recipe (YAML), e.g. trainer/configs/lora_cpu.yaml.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Dataset dir from `prefdata import`/`build`.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output dir (overrides dpo.output_dir).")] = None,
    set_: SetOption = [],
    resume: Annotated[bool, typer.Option("--resume", help="Resume from the last checkpoint in the output dir.")] = False,
    resume_from: Annotated[Optional[Path], typer.Option("--resume-from", help="Resume from this checkpoint dir.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete the previous run in the output dir first.")] = False,
    num_processes: Annotated[int, typer.Option("--num-processes", help="> 1: relaunch through `accelerate launch`.")] = 1,
    accelerate: Annotated[str, typer.Option("--accelerate", help="ddp | fsdp | zero3 | path of an accelerate config.")] = "ddp",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the resolved config and the engine "
                                          "output (always in OUTPUT_DIR/logs/train.log).")] = False,
) -> None:
    """DPO-train a model on a dataset directory with TRL (config checked before any model loads)."""
    from prefdata.trainer.config import load_train_config

    cfg = load_train_config(config, set_, data_dir=str(data) if data else None, output_dir=str(out) if out else None)
    if resume and resume_from:
        raise PrefdataError("Can't provide both `--resume` and `--resume-from`. Choose one.")
    resume_arg = str(resume_from) if resume_from else resume
    if num_processes > 1 and "LOCAL_RANK" not in os.environ:  # not yet inside accelerate launch
        # Refuse here, once, with one line: an error inside the launched ranks prints once per rank.
        _check_num_processes(num_processes)
        _check_accelerate_on_cpu(accelerate)
        from prefdata.io.dataset_dir import require_complete
        from prefdata.trainer.rundir import check_output_dir, resume_checkpoint

        require_complete(cfg.data.dir)
        check_output_dir(cfg.output_dir, resume=resume_arg, overwrite=overwrite, protect=(cfg.data.dir, cfg.model.path))
        if resume_arg:
            resume_checkpoint(cfg.output_dir, resume_arg)
        sys.exit(_launch(num_processes, accelerate, _mixed_precision(cfg.dpo)))
    from prefdata.trainer.dpo import train as run_train

    result = run_train(cfg, resume=resume_arg, overwrite=overwrite, verbose=verbose)
    if launched_rank() == 0:  # one summary line, not one per rank
        final = {k: round(v, 4) for k, v in result.train_metrics.items() if k in ("train_loss", "train_runtime")}
        typer.echo(f"trained: {result.output_dir} {final}; alarms: {list(result.alarms) or 'none'} "
                   f"(metrics.jsonl, plots/, train_stats.json)")


@app.command()
def merge(
    adapter: Annotated[Path, typer.Argument(help="LoRA/QLoRA adapter dir (a `prefdata train` output).")],
    out: Annotated[Path, typer.Option("--out", help="Where the merged model + tokenizer go.")],
    base: Annotated[Optional[Path], typer.Option("--base", help="Base model dir (default: from adapter_config).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="auto | float32 | bfloat16 | float16")] = "auto",
) -> None:
    """Merge an adapter into its (unquantized) base model and save it with the tokenizer."""
    from prefdata.trainer.merge import merge_adapter

    typer.echo(f"merged model written to {merge_adapter(adapter, base=base, out=out, dtype=dtype)}")


def _check_num_processes(num_processes: int) -> None:
    """More processes than cores (or GPUs, on a GPU machine) only oversubscribes and slows down."""
    import torch

    cores = os.cpu_count() or 1
    if num_processes > cores:
        raise PrefdataError(f"--num-processes {num_processes}: this machine has {cores} CPU core(s); "
                            f"use at most {cores}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and num_processes > gpus:
        raise PrefdataError(f"--num-processes {num_processes}: this machine has {gpus} GPU(s); use at most {gpus}")


def _check_accelerate_on_cpu(accelerate: str) -> None:
    """FSDP and DeepSpeed need GPUs with accelerate 1.15: refuse them on a CPU-only machine.

    accelerate applies FSDP only on GPU-type process groups. On CPU the ranks become plain DDP
    over gloo (MULTI_CPU) and FSDP's rank-0-only weight loading (fsdp_cpu_ram_efficient_loading)
    still applies, so rank 1's frozen reference model is never filled in: measured, the step-1
    loss is 0.7132 instead of ln 2 = 0.6931. Better no run than that one."""
    import torch
    import yaml

    if torch.cuda.is_available():
        return
    path = Path(accelerate)
    kind = accelerate if accelerate in ACCELERATE_CONFIGS else (
        str((yaml.safe_load(path.read_text()) or {}).get("distributed_type", "")).lower() if path.is_file() else "")
    if kind in ("fsdp", "zero3", "deepspeed"):
        raise PrefdataError(f"--accelerate {accelerate}: FSDP/DeepSpeed need CUDA GPUs (accelerate runs them on GPUs "
                            "only; on CPU it would fall back to DDP with an unloaded reference model on the other "
                            "ranks); use --accelerate ddp on CPU")


def _mixed_precision(dpo: dict) -> str:
    """accelerate's --mixed_precision from the train config (the accelerate YAML's would override dpo.bf16:
    transformers reads ACCELERATE_MIXED_PRECISION when bf16/fp16 are off, and CPU bf16 autocast changes results)."""
    if dpo.get("bf16"):
        return "bf16"
    return "fp16" if dpo.get("fp16") else "no"


def _launch(num_processes: int, accelerate: str, mixed_precision: str = "no") -> int:
    """Re-run this exact command under `accelerate launch` with a shipped (or given) config.

    On a machine without CUDA the ranks are told to use the CPU (ACCELERATE_USE_CPU): with the
    shipped MULTI_GPU/FSDP configs accelerate would otherwise start N unconnected processes that
    each train alone on all the data (distributed_type NO), instead of DDP over gloo."""
    from importlib import resources

    import torch

    if accelerate in ACCELERATE_CONFIGS:
        config_file = str(resources.files("prefdata.trainer").joinpath(f"configs/accelerate/{accelerate}.yaml"))
    elif Path(accelerate).is_file():
        config_file = accelerate
    else:
        raise PrefdataError(f"--accelerate {accelerate}: choose {', '.join(ACCELERATE_CONFIGS)} or an existing file")
    argv = _drop_option(sys.argv[1:], "--num-processes")
    argv = _drop_option(argv, "--accelerate")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file,
           "--num_processes", str(num_processes), "--mixed_precision", mixed_precision,
           "-m", "prefdata.cli", *argv]
    env = dict(os.environ)
    if not torch.cuda.is_available():
        env["ACCELERATE_USE_CPU"] = "true"
    print("launching:", " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd, env=env)


def _drop_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = True
        elif not item.startswith(name + "="):
            out.append(item)
    return out

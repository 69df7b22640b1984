"""`prefdata train` and `prefdata merge`: thin commands over prefdata.trainer.

    prefdata train --data data/hh --config trainer/configs/lora_cpu.yaml --set dpo.max_steps=20
    prefdata train --data data/hh --config trainer/configs/full_cpu.yaml --resume
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

ACCELERATE_CONFIGS = ("ddp", "fsdp", "zero3")


@app.command()
def train(
    config: Annotated[Path, typer.Option("--config", help="Train recipe (YAML), e.g. trainer/configs/lora_cpu.yaml.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Dataset dir from `prefdata import`/`build`.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output dir (overrides dpo.output_dir).")] = None,
    set_: SetOption = [],
    resume: Annotated[bool, typer.Option("--resume", help="Resume from the last checkpoint in the output dir.")] = False,
    resume_from: Annotated[Optional[Path], typer.Option("--resume-from", help="Resume from this checkpoint dir.")] = None,
    num_processes: Annotated[int, typer.Option("--num-processes", help="> 1: relaunch through `accelerate launch`.")] = 1,
    accelerate: Annotated[str, typer.Option("--accelerate", help="ddp | fsdp | zero3 | path of an accelerate config.")] = "ddp",
) -> None:
    """DPO-train a model on a dataset directory with TRL (config checked before any model loads)."""
    from prefdata.trainer.config import load_train_config

    cfg = load_train_config(config, set_, data_dir=str(data) if data else None, output_dir=str(out) if out else None)
    if resume and resume_from:
        raise PrefdataError("Can't provide both `--resume` and `--resume-from`. Choose one.")
    if num_processes > 1 and "LOCAL_RANK" not in os.environ:  # not yet inside accelerate launch
        sys.exit(_launch(num_processes, accelerate))
    from prefdata.trainer.dpo import train as run_train

    result = run_train(cfg, resume=str(resume_from) if resume_from else resume)
    typer.echo(f"trained: {result.output_dir} (rows {result.rows}); alarms: {list(result.alarms) or 'none'}")


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


def _launch(num_processes: int, accelerate: str) -> int:
    """Re-run this exact command under `accelerate launch` with a shipped (or given) config."""
    from importlib import resources

    if accelerate in ACCELERATE_CONFIGS:
        config_file = str(resources.files("prefdata.trainer").joinpath(f"configs/accelerate/{accelerate}.yaml"))
    elif Path(accelerate).is_file():
        config_file = accelerate
    else:
        raise PrefdataError(f"--accelerate {accelerate}: choose {', '.join(ACCELERATE_CONFIGS)} or an existing file")
    argv = _drop_option(sys.argv[1:], "--num-processes")
    argv = _drop_option(argv, "--accelerate")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file,
           "--num_processes", str(num_processes), "-m", "prefdata.cli", *argv]
    print("launching:", " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


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

"""`prefdata demo`: the whole loop offline (prefdata/demo/run.py tells the story)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prefdata.cli._app import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output directory (models, runs, results, plots).")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the task split, the models and the pipeline.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller run (what CI uses): fewer prompts and epochs.")] = False,
) -> None:
    """SFT a tiny model on addition, build preference data the naive way and prefdata's way, DPO on each, compare.

    The same candidates and the same noisy judge scores become two training sets: the
    UltraFeedback-binarized rule (best vs a random other, ties kept) and prefdata's setting;
    each trains for the same number of steps. Runs offline on a CPU; results.json and PNG
    plots land in --out (benchmarks/bench_evidence.py: every variant, 3 seeds).
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)  # tiny models: a second thread costs more than it gives
    from prefdata.demo.run import run_demo
    from prefdata.logs import engine_output_until_exit, terminal_console

    console = terminal_console()
    run_demo(out, seed=seed, quick=quick, console=console)
    console.print(f"results: {out / 'results.json'}  plots: {out / 'accuracy.png'}, {out / 'training_curves.png'}")
    console.print(f"engine output: {out / 'logs'}/, each build's logs/ and each model's logs/")
    engine_output_until_exit(out / "logs" / "shutdown.log")  # vLLM's exit messages: not onto the console

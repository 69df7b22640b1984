"""`prefdata eval`: models' greedy answers scored by IFEval's checkers, compared with a baseline
(prefdata/evaluate/).

    prefdata eval models/base runs/dpo/merged --prompts ifeval.jsonl --baseline models/base --out runs/eval
    prefdata eval models/base --prompts heldout.parquet --out runs/eval --set backend=transformers
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app


@app.command("eval")
def eval_(
    models: Annotated[list[str], typer.Argument(help="Model folders to evaluate.")],
    prompts: Annotated[Path, typer.Option("--prompts", help="IFEval's file (key, prompt, instruction_id_list, "
                                                            "kwargs) or a prefdata prompt file with a reference spec.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder; rerunning into it resumes per model.")],
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="The model others are compared with "
                                                                       "(default: the first).")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Longest answer, in tokens.")] = 512,
    set_: SetOption = [],
) -> None:
    """Greedy answers, IFEval prompt- and instruction-level accuracy (strict, loose), relevance and length;
    every model against the baseline with paired 95% intervals. Writes results.json and index.html."""
    from prefdata.config import apply_overrides
    from prefdata.evaluate import evaluate
    from prefdata.evaluate.report import console_table
    from prefdata.logs import engine_output_until_exit, terminal_console

    console = terminal_console()
    sampler = apply_overrides({"backend": "vllm"}, set_)  # --set backend=transformers --set max_model_len=1024
    results = evaluate(models, prompts, out, baseline=baseline, sampler=sampler, max_tokens=max_tokens,
                       console=console)
    console.print(console_table(results))
    console.print(f"results: {out / 'results.json'}  page: {out / 'index.html'}  per prompt: {out}/models/*/scores.parquet")
    engine_output_until_exit(out / "logs" / "shutdown.log")  # vLLM's exit messages: not onto the console

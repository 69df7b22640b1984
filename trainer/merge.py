"""Merge a LoRA/QLoRA adapter into its base model: `prefdata merge ADAPTER --base MODEL --out DIR`.

    from prefdata.trainer.merge import merge_adapter
    merge_adapter("runs/lora", base="models/tiny", out="runs/lora-merged")

The base is always loaded unquantized (a QLoRA adapter was trained against 4-bit weights,
but merging into 4-bit weights would round the update away): it is loaded in the
checkpoint's dtype (or --dtype), never with a quantization_config, merged with
`merge_and_unload`, and saved with the tokenizer (from the adapter dir, else the base).
"""

from __future__ import annotations

import json
from pathlib import Path

from prefdata.errors import PrefdataError
from prefdata.model_dirs import is_model_dir


DTYPES = ("auto", "float32", "bfloat16", "float16")


def merge_adapter(adapter: str | Path, *, base: str | Path | None = None, out: str | Path,
                  dtype: str = "auto", trust_remote_code: bool = False) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter, out = Path(adapter), Path(out)
    if dtype not in DTYPES:
        raise PrefdataError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise PrefdataError(f"{adapter}: no adapter_config.json; pass the output dir of a LoRA/QLoRA run")
    base = base or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base or not is_model_dir(base):
        raise PrefdataError(f"--base {base}: not a model directory (no config.json); pass the base model the "
                            "adapter was trained on")
    kwargs = {"trust_remote_code": trust_remote_code}
    if dtype != "auto":
        kwargs["dtype"] = getattr(torch, dtype)
    # never quantization_config here: QLoRA adapters merge into full-precision weights
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tokenizer_dir = adapter if (adapter / "tokenizer_config.json").is_file() else base
    AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=trust_remote_code).save_pretrained(out)
    return out

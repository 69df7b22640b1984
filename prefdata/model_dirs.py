"""Model directories: what is one, and what can only be a hub id (the checks every loader shares).

    from prefdata.model_dirs import is_model_dir
    is_model_dir("models/smollm2")        # True once `from_pretrained` can load it
"""

from __future__ import annotations

import os
from pathlib import Path

# Backends that load a model from a directory on this machine (openai talks to a server instead)
LOCAL_BACKENDS = ("vllm", "transformers", "ray")


def is_model_dir(path: str | Path) -> bool:
    """A directory `from_pretrained` loads: written by save_pretrained (it has config.json)."""
    return (Path(path).expanduser() / "config.json").is_file()


def is_model_or_adapter_dir(path: str | Path) -> bool:
    """A model, adapter or tokenizer folder (not any directory a string happens to name, like `runs`)."""
    path = Path(path).expanduser()
    return any((path / f).is_file() for f in ("config.json", "adapter_config.json", "tokenizer_config.json"))


def may_be_hub_id(name: str, *, bare: bool = False) -> bool:
    """`name` can only mean a Hugging Face hub id (`org/model`; with `bare`, also a legacy `gpt2`): no
    such local path, not written as a path, and the hub is not switched off (HF_HUB_OFFLINE=1)."""
    slashes = name.count("/")
    return (not Path(name).expanduser().exists() and not name.startswith(("/", ".", "~"))
            and (slashes == 1 or (bare and slashes == 0)) and os.environ.get("HF_HUB_OFFLINE") != "1")

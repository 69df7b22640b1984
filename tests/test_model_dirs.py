"""What a model folder is, and what can only be a hub id.

    python -m pytest -q tests/test_model_dirs.py
"""

from __future__ import annotations

from prefdata.model_dirs import is_model_dir, is_model_or_adapter_dir, may_be_hub_id


def test_local_model_dirs_and_hub_ids(tmp_path, monkeypatch, tiny_model_dir):
    assert is_model_dir(tiny_model_dir) and not is_model_dir(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    assert is_model_or_adapter_dir(tmp_path) and not is_model_dir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert may_be_hub_id("HuggingFaceTB/SmolLM2-135M-Instruct") and may_be_hub_id("gpt2", bare=True)
    assert not may_be_hub_id("gpt2") and not may_be_hub_id("model")  # a typo'd folder is not a hub id
    assert not any(may_be_hub_id(p) for p in ("/models/x", "./x", "~/x", "runs/a/b", str(tmp_path)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not may_be_hub_id("HuggingFaceTB/SmolLM2-135M-Instruct")

"""Stage keys see what decides a stage's output: model directories (cheaply), code, engines."""

from __future__ import annotations

import os

from prefdata.fingerprint import LARGE_FILE, code_fingerprint, engine_versions, path_fingerprint
from prefdata.stages.base import GENERATION_ENGINES
from prefdata.stages.label import LabelConfig, LabelStage


def _model_dir(root):
    root.mkdir()
    (root / "config.json").write_text('{"hidden_size": 64}')
    (root / "tokenizer.json").write_text('{"vocab": {"a": 0}}')
    with open(root / "model.safetensors", "wb") as f:  # sparse: large by size, no disk used
        f.truncate(LARGE_FILE + 1)
    return root


def test_weights_are_identified_by_size_and_mtime_small_files_by_content(tmp_path):
    model = _model_dir(tmp_path / "m")
    first = path_fingerprint(model)
    assert first == path_fingerprint(model)  # unchanged -> same
    assert set(first["large"]) == {"model.safetensors"} and set(first["small"]) == {"config.json", "tokenizer.json"}

    weights = model / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # retrained in place
    assert path_fingerprint(model) != first

    second = path_fingerprint(model)
    (model / "tokenizer.json").write_text('{"vocab": {"b": 0}}')  # same size, new content
    assert path_fingerprint(model)["small"] != second["small"]


def test_hub_cache_snapshots_record_their_revision(tmp_path):
    snap = tmp_path / "models--org--tiny" / "snapshots" / "abc123"
    snap.parent.mkdir(parents=True)
    _model_dir(snap)
    assert path_fingerprint(snap)["revision"] == "abc123"


def test_code_and_engine_versions_enter_the_fingerprint(tmp_path):
    src = tmp_path / "mycheck.py"
    src.write_text("def score(text):\n    return 1.0\n")
    before = code_fingerprint([src])
    src.write_text("def score(text):\n    return 0.0\n")
    assert code_fingerprint([src]) != before and "prefdata" in before
    assert {"torch", "transformers"} <= set(engine_versions(GENERATION_ENGINES))


def test_a_module_function_judge_is_keyed_by_its_source(tmp_path, monkeypatch):
    module = tmp_path / "my_checks_for_key.py"
    module.write_text("def score(text):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = LabelConfig.model_validate(
        {"judges": [{"type": "programmatic", "id": "c", "function": "my_checks_for_key:score"}]})
    before = LabelStage(config).fingerprint()
    assert str(module) in [str(p) for p in LabelStage(config).code_files()]
    module.write_text("def score(text):\n    return 0.5  # changed\n")
    after = LabelStage(config).fingerprint()
    assert before["config"] == after["config"] and before["code"] != after["code"]
    assert after["engines"]["torch"]

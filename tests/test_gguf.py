"""GGUF -> Hugging Face model directories: the real SmolLM2 conversion, reruns, unreadable input.

    python -m pytest -q tests/test_gguf.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from prefdata.gguf import DONE, convert_gguf, converted_from


def convert_cli(source, out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "convert", str(source), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


def test_the_smollm2_directory_loads_as_a_plain_model(smollm2_dir):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm2_dir)
    assert config.model_type == "llama" and not hasattr(config, "quantization_config")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert "<|im_start|>user\nHi<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert len(converted_from(smollm2_dir)) == 64
    assert json.loads((smollm2_dir / DONE).read_text())["gguf"].endswith(".gguf")


def test_a_finished_conversion_is_not_redone(smollm2_dir):
    wheels = sorted((smollm2_dir.parent / "wheels").glob("*.whl"))
    assert wheels and convert_gguf(wheels[-1], smollm2_dir) == smollm2_dir  # returns at once: the marker matches


@pytest.mark.parametrize("name, content, message", [
    ("bad.gguf", b"GGUF\x03\x00\x00\x00 truncated", "bad.gguf: cannot be read as a GGUF model"),
    ("model.bin", b"not an archive", "neither a .gguf file nor a zip/wheel archive"),
])
def test_an_unreadable_source_is_one_line_and_exit_2(tmp_path, name, content, message):
    pytest.importorskip("gguf")
    source = tmp_path / name
    source.write_bytes(content)
    proc = convert_cli(source, tmp_path / "out")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))  # nothing half-written


def test_an_archive_without_one_gguf_and_a_missing_file_are_refused(tmp_path):
    archive = tmp_path / "empty.whl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pkg/__init__.py", "")
    proc = convert_cli(archive, tmp_path / "out")
    assert proc.returncode == 2 and "expected one .gguf file inside, found 0" in proc.stderr
    proc = convert_cli(tmp_path / "nope.gguf", tmp_path / "out")
    assert proc.returncode == 2 and "no such file" in proc.stderr

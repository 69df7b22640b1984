"""The Python API: its surface is pinned, and the README's Python example (build, then train)
runs as written, continued by docs/extending.md's notebook plugin example.

    python -m pytest -q tests/test_api.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import prefdata

REPO = Path(__file__).resolve().parents[1]

# Changing the public API is a decision: this list changes with it, in the same commit.
SURFACE = [
    "__version__", "build", "train", "evaluate", "Run", "Recipe", "load_recipe",
    "PromptRecord", "Candidate", "Judgment", "PairRecord",
    "Filter", "Rule", "split_by_reasons", "Judge", "JudgeItem", "Sampler", "Request", "Generation", "SamplingParams",
    "PairingStrategy", "Importer", "StrictModel", "register", "PrefdataError",
]


def test_the_api_is_what_all_says_and_every_name_imports():
    assert sorted(prefdata.__all__) == sorted(SURFACE)
    for name in prefdata.__all__:
        assert getattr(prefdata, name) is not None
    from prefdata.filters.base import Filter

    assert prefdata.Filter is Filter and prefdata.build.__module__ == "prefdata.api"


def test_import_prefdata_stays_light():
    code = "import sys, prefdata; print(sorted(m for m in ('torch', 'polars', 'vllm', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_registering_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown block kind 'filtre'"):
        prefdata.register("filtre", "x", object)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_readme_python_example_runs(tmp_path, tiny_model_dir):
    pytest.importorskip("vllm")
    code = python_block(REPO / "README.md", "From Python (a notebook, a script)")
    code += python_block(REPO / "docs" / "extending.md", "## In a notebook")
    code = code.replace('"/tmp/prefdata-tiny"', repr(str(tmp_path / "tiny")))  # not the shared /tmp path
    for folder in ("pipelines", "trainer"):  # the examples run from a checkout's root
        (tmp_path / folder).symlink_to(REPO / folder)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (tmp_path / "runs" / "python-dpo" / "train_stats.json").is_file()
    assert "filter:has_number" in proc.stdout and (tmp_path / "runs" / "python" / "dataset" / "DONE").is_file()
    run = prefdata.Run.open(tmp_path / "runs" / "python")
    assert {s.name: s.skipped for s in run.stages if s.name in ("sample", "label", "filter")} == {
        "sample": True, "label": True, "filter": False}  # the plugin build reused the first build's work
    funnel = run.funnel()
    assert {"step", "in", "kept", "dropped"} <= set(funnel.columns) and run.report().is_file()
    assert run.dataset()["train"].num_rows == run.data("filter").height


def python_block(page: Path, heading: str) -> str:
    """The first python block after `heading` on a documentation page."""
    section = page.read_text().split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)

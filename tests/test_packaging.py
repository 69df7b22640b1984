"""The install layout: trainer/ lives inside the prefdata namespace, never top-level."""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapped = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for folder in [REPO / top for top in mapped] + [p for top in mapped for p in (REPO / top).rglob("*")]:
        rel = folder.relative_to(REPO)
        top, *rest = rel.parts
        # every folder Python could import (package or data-only namespace) must be listed,
        # else setuptools warns and may leave it out of the wheel
        if folder.is_dir() and all(part.isidentifier() for part in rest) and "__pycache__" not in rest:
            found.add(".".join([mapped[top], *rest]))
    assert found == listed


def test_no_top_level_trainer_module_is_installed(tmp_path):
    # Run outside the repo so the checkout's own folders are not on sys.path.
    code = "import importlib.util, prefdata.trainer; print(importlib.util.find_spec('trainer'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


def test_cli_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "prefdata.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "prefdata" in out.stdout.lower()

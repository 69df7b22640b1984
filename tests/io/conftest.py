"""Fixtures for the io tests: the two real files imported through the CLI entry point (session scope)."""

from __future__ import annotations

import json

import pytest
from iohelpers import run_cli


def _cli_import(args: list, out) -> tuple:
    code, _, err = run_cli(["import", *args, "--out", out])
    assert code == 0, err
    return out, json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="session")
def hh_import(hh_rlhf_file, tmp_path_factory):
    return _cli_import([hh_rlhf_file, "--format", "hh-rlhf"], tmp_path_factory.mktemp("hh-import"))


@pytest.fixture(scope="session")
def lf_import(llamafactory_dir, tmp_path_factory):
    return _cli_import([llamafactory_dir / "dpo_en_demo.json", "--format", "llamafactory",
                        "--dataset-info", llamafactory_dir / "dataset_info.json", "--name", "dpo_en_demo"],
                       tmp_path_factory.mktemp("lf-import"))

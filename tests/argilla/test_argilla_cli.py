"""The CLI as a user runs it (subprocesses): push/pull via env vars, a wrong key exits 2 with one line,
--set keys a command does not use are reported on one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from conftest import annotator, make_run, ranking

pytestmark = pytest.mark.slow


def _prefdata(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "argilla", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_cli_push_pull_and_bad_key(argilla_server, client, tmp_path):
    run = make_run(tmp_path / "run", 2, 2)
    env = {"ARGILLA_API_URL": argilla_server.api_url, "ARGILLA_API_KEY": argilla_server.api_key}
    pushed = _prefdata("push", str(run), "--dataset", "cli", "--set", "argilla.rationale=false",
                       "--set", "pair.strategy=all_pairs", "--set", "label.source=argilla", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 2 records to 'cli'" in pushed.stdout
    (warning,) = [line for line in pushed.stderr.splitlines() if "--set" in line]
    assert warning.endswith("does not use these --set keys, ignored: pair.strategy, label.source"), warning

    dave = annotator(client, "dave")
    ds = client.find_dataset("cli", client.workspace_id("argilla"))
    for rec in client.iter_records(ds["id"]):
        ids = rec["metadata"]["candidate_ids"]
        dave.submit_response(rec["id"], {"ranking": ranking(ids, sorted(ids))})
    pulled = _prefdata("pull", str(run), "--dataset", "cli", "--set", "argilla.min_submitted=3",
                       "--set", "argilla.workspace=argilla", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "`prefdata argilla pull` does not use these --set keys, ignored: argilla.min_submitted" in pulled.stderr
    assert "2 of 2 records had submitted answers" in pulled.stdout
    judgments = pl.read_parquet(run / "human" / "judgments.parquet")
    assert judgments.height == 4 and set(judgments["annotator"]) == {"dave"}
    assert json.loads((run / "human" / "pull.json").read_text())["annotators"] == ["dave"]

    bad = _prefdata("push", str(run), "--dataset", "cli", env={**env, "ARGILLA_API_KEY": "wrong"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and argilla_server.api_url in lines[0] and "ARGILLA_API_KEY" in lines[0]

"""The local server itself: plugged-in SQLite engine, private credentials, worker jobs, one server per HOME."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from prefdata.argilla import server
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError

from conftest import make_run, ranking

pytestmark = pytest.mark.slow


def test_server_uses_sqlite_engine_and_keeps_the_key_private(argilla_server, client):
    home = Path(argilla_server.home)
    status = client.get("/api/v1/status")
    assert status["version"] == "2.8.0" and status["search_engine"]["version"]["distribution"] == "prefdata-sqlite"
    creds = home / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert json.loads(creds.read_text())["api_key"] == argilla_server.api_key
    for log in (home / "logs").glob("*.log"):
        assert argilla_server.api_key not in log.read_text(errors="replace"), f"API key leaked into {log}"
    state = json.loads((home / "state.json").read_text())
    assert set(state["pids"]) == {"redis", "server", "worker"} and state["ready_seconds"] > 0
    for pid in state["pids"].values():
        os.kill(pid, 0)  # all three alive


def test_second_serve_on_same_home_is_refused(argilla_server):
    with pytest.raises(PrefdataError, match="already running"):
        server.serve(port=1, home=argilla_server.home)


def test_worker_runs_dataset_status_jobs(argilla_server, client, tmp_path):
    """Raising min_submitted re-computes record statuses in an rq job that uses the search engine."""
    report = push(make_run(tmp_path, 2, 2), client, ArgillaConfig(dataset="jobs"), progress=False)
    ds = report["dataset_id"]
    record = next(client.iter_records(ds))
    ids = record["metadata"]["candidate_ids"]
    client.submit_response(record["id"], {"ranking": ranking(ids, ids)})
    assert client.progress(ds)["completed"] == 1
    client.request("PATCH", f"/api/v1/datasets/{ds}", json={"distribution": {"strategy": "overlap", "min_submitted": 2}})
    deadline = time.monotonic() + 60
    while client.progress(ds)["completed"] != 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert client.progress(ds) == {"total": 2, "completed": 0, "pending": 2, "users": [{"username": "argilla"}]}

"""kill -9 the server in the middle of a batched push, restart it, push again: no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from prefdata.argilla import server
from prefdata.argilla.client import ArgillaClient
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError

from conftest import make_run

pytestmark = pytest.mark.slow

N = 400


def _wait_for_partial(client: ArgillaClient, name: str, pushing: threading.Thread) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and pushing.is_alive():
        ds = client.find_dataset(name, client.workspace_id("argilla", create=True))
        if ds is not None and ds["status"] == "ready":
            count = client.count_records(ds["id"])
            if count >= 30:
                return count
        time.sleep(0.05)
    raise AssertionError("the push finished (or stalled) before the server could be killed mid-way")


def test_kill_server_mid_push_then_repush(argilla_server, tmp_path):
    home, url = Path(argilla_server.home), argilla_server.api_url
    port = int(url.rsplit(":", 1)[1])
    run = make_run(tmp_path / "run", N, 2)
    config = ArgillaConfig(dataset="crash", batch_size=10)
    errors: list[Exception] = []

    def pushing_job():
        with ArgillaClient(url, argilla_server.api_key) as c:
            try:
                push(run, c, config, progress=False)
            except PrefdataError as e:
                errors.append(e)

    job = threading.Thread(target=pushing_job)
    job.start()
    with ArgillaClient(url, argilla_server.api_key) as watcher:
        seen = _wait_for_partial(watcher, "crash", job)
    state = json.loads((home / "state.json").read_text())
    os.kill(state["pids"]["server"], signal.SIGKILL)
    job.join(timeout=120)
    assert len(errors) == 1, "the push should fail once the server is gone"
    message = str(errors[0])
    assert url in message and "ARGILLA_API_URL" in message and "re-run the same push" in message

    assert {"redis", "worker"} <= set(server.stop(home))
    for pid in state["pids"].values():  # stop leaves nothing behind
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    server.serve(port=port, home=home)  # same HOME: same database, users and key
    with ArgillaClient(url, argilla_server.api_key) as client:
        ds = client.find_dataset("crash", client.workspace_id("argilla"))
        partial = client.count_records(ds["id"])
        assert seen <= partial < N
        report = push(run, client, config, progress=False)
        assert report["records_in_dataset"] == N
        records = list(client.iter_records(ds["id"], include="responses"))
        ids = [r["external_id"] for r in records]
        assert len(ids) == N and set(ids) == {f"p{i}" for i in range(N)}
        for r in records:
            i = r["external_id"][1:]
            assert sorted(r["fields"][k] for k in ("response_1", "response_2")) == [
                f"Answer 0 to question {i}.", f"Answer 1 to question {i}."]
        # the search index (what the UI lists) agrees with the database
        found = client.post(f"/api/v1/me/datasets/{ds['id']}/records/search", {}, params={"limit": 1})
        assert found["total"] == N

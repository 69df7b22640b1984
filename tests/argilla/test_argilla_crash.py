"""kill -9 the server, or the `prefdata argilla push` process, in the middle of a batched push, then
push again: exactly the expected records, no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prefdata.argilla import server
from prefdata.argilla.client import ArgillaClient
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError

from conftest import FAKE_SECRET_ENV, make_run

pytestmark = pytest.mark.slow

N = 400
N_KILLED = 200  # records of the push-process kills: 20 requests of 10, killed after 5, 10 or 15


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


def _assert_complete(client: ArgillaClient, dataset_id: str, n: int = N) -> None:
    """Exactly p0..p{n-1}, each once with its own two candidates, and the search index agrees."""
    records = list(client.iter_records(dataset_id, include="responses"))
    ids = [r["external_id"] for r in records]
    assert len(ids) == n and set(ids) == {f"p{i}" for i in range(n)}
    for r in records:
        i = r["external_id"][1:]
        assert sorted(r["fields"][k] for k in ("response_1", "response_2")) == [
            f"Answer 0 to question {i}.", f"Answer 1 to question {i}."]
    # the search index (what the UI lists) agrees with the database
    found = client.post(f"/api/v1/me/datasets/{dataset_id}/records/search", {}, params={"limit": 1})
    assert found["total"] == n


def test_kill_server_mid_push_then_repush(argilla_server, tmp_path, monkeypatch):
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
    monkeypatch.setenv(*FAKE_SECRET_ENV)  # as the first serve had it (test_argilla_security checks it is not passed on)
    server.serve(port=port, home=home)  # same HOME: same database, users and key
    with ArgillaClient(url, argilla_server.api_key) as client:
        ds = client.find_dataset("crash", client.workspace_id("argilla"))
        partial = client.count_records(ds["id"])
        assert seen <= partial < N
        report = push(run, client, config, progress=False)
        assert report["records_in_dataset"] == N
        _assert_complete(client, ds["id"])


def _push_process(run: Path, dataset: str, info: server.ServerInfo) -> subprocess.Popen:
    """`prefdata argilla push` as a user runs it, 10 records per request."""
    env = {**os.environ, "ARGILLA_API_URL": info.api_url, "ARGILLA_API_KEY": info.api_key}
    return subprocess.Popen([sys.executable, "-m", "prefdata.cli", "argilla", "push", str(run), "--dataset", dataset,
                             "--set", "argilla.batch_size=10"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _count_when_reached(client: ArgillaClient, name: str, target: int, proc: subprocess.Popen) -> tuple[str, int]:
    """Poll the server until the dataset holds >= target records; (dataset id, count seen)."""
    deadline = time.monotonic() + 120
    workspace, ds = client.workspace_id("argilla", create=True), None
    while time.monotonic() < deadline and proc.poll() is None:
        if ds is None or ds["status"] != "ready":  # created as a draft, published once configured
            ds = client.find_dataset(name, workspace)
        if ds is not None and ds["status"] == "ready":
            count = client.count_records(ds["id"])
            if count >= target:
                return ds["id"], count
        time.sleep(0.02)
    out, err = proc.communicate(timeout=30) if proc.poll() is not None else ("", "")
    raise AssertionError(f"the push finished (or stalled) before {target} records were in: {out}{err}")


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_sigkill_push_process_then_rerun(argilla_server, client, tmp_path, fraction):
    """SIGKILL the push process once `fraction` of the records are in; the same command again completes it."""
    run = make_run(tmp_path / "run", N_KILLED, 2)
    name = f"killed-push-{int(fraction * 100)}"
    proc = _push_process(run, name, argilla_server)
    try:
        dataset_id, seen = _count_when_reached(client, name, int(N_KILLED * fraction), proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    partial = client.count_records(dataset_id)
    assert int(N_KILLED * fraction) <= seen <= partial < N_KILLED, "the kill should land before the push ends"
    rerun = _push_process(run, name, argilla_server)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"pushed {N_KILLED} records to {name!r}" in out and f"({N_KILLED} in the dataset;" in out
    _assert_complete(client, dataset_id, N_KILLED)

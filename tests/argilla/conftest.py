"""A real local Argilla server for the whole session, plus run directories built from records.

The server (argilla-server 2.8 in its own virtualenv, Redis, rq worker, SQLite search engine)
starts once per session from a fresh HOME on a free port and is stopped at the end. The
virtualenv is cached in ~/.cache/prefdata/argilla-venv (`./install.sh --dev` creates it);
without redis-server or the virtualenv the tests skip with the reason.

It is started with a fake secret (FAKE_SECRET_ENV) in the caller's environment, the way a
user's shell holds other API keys: test_argilla_security.py checks that it reaches neither
the server processes nor any file under the Argilla home.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from prefdata.records import Candidate, Judgment, PromptRecord
from prefdata.rundir import RunDir
from prefdata.atomic import write_parquet
from prefdata.frames import frame


FAKE_SECRET_ENV = ("OPENAI_API_KEY", "sk-test-FAKE123")


def write_stage(run_dir, stage: str, df) -> None:
    """A finished stage as the runner leaves it: data, then DONE (push/pull refuse unfinished ones)."""
    sdir = RunDir(run_dir).stage(stage)
    write_parquet(df, sdir.data)
    sdir.done.write_text("test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def argilla_server(tmp_path_factory):
    """ServerInfo of a running server; `home`/`port` let a test restart it in place."""
    from prefdata.argilla import server

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (apt-get install redis-server, or ./install.sh --dev as root)")
    try:
        server.ensure_venv(server.DEFAULT_VENV)
    except Exception as e:  # no PyPI access on this machine
        pytest.skip(f"cannot create the argilla-server virtualenv: {e}")
    home = tmp_path_factory.mktemp("argilla-home")
    name, value = FAKE_SECRET_ENV
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        info = server.serve(port=_free_port(), home=home)
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
    yield info
    server.stop(home)


@pytest.fixture()
def client(argilla_server):
    from prefdata.argilla.client import ArgillaClient

    with ArgillaClient(argilla_server.api_url, argilla_server.api_key) as c:
        yield c


def make_run(run_dir: Path, n_prompts: int, n_candidates: int | list[int], judge_scores: dict | None = None) -> Path:
    """RUN_DIR/stages/{prompts,sample}[/label]/data.parquet for prompts p0.. with candidates pX:0:j."""
    counts = n_candidates if isinstance(n_candidates, list) else [n_candidates] * n_prompts
    prompts = [PromptRecord(prompt_id=f"p{i}", prompt=[{"role": "user", "content": f"Question number {i}: why?"}],
                            source="test") for i in range(n_prompts)]
    candidates = [Candidate(candidate_id=f"p{i}:0:{j}", prompt_id=f"p{i}", text=f"Answer {j} to question {i}.",
                            num_tokens=5, finish_reason="stop", model=f"model-{j % 2}", backend="imported",
                            sample_index=j) for i in range(n_prompts) for j in range(counts[i])]
    write_stage(run_dir, "prompts", frame(prompts, PromptRecord))
    write_stage(run_dir, "sample", frame(candidates, Candidate))
    if judge_scores:
        labels = [Judgment(judgment_id=f"rm:{cid}", prompt_id=cid.split(":")[0], candidate_id=cid, judge_id="rm",
                           judge_type="reward_model", score=s) for cid, s in judge_scores.items()]
        write_stage(run_dir, "label", frame(labels, Judgment))
    return run_dir


def annotator(client, username: str):
    """An annotator user in the `argilla` workspace and a client that acts as them."""
    from prefdata.argilla.client import ArgillaClient

    users = {u["username"]: u for u in client.users()}
    user = users.get(username) or client.create_user(username, "annotator-password-1")
    client.add_to_workspace(client.workspace_id("argilla"), user["id"])
    key = client.get(f"/api/v1/users/{user['id']}")["api_key"]
    return ArgillaClient(client.api_url, key)


def ranking(candidate_ids: list[str], best_first: list[str]) -> list[dict]:
    """A ranking answer: response_i ranked by the position of its candidate in best_first."""
    return [{"value": f"response_{i}", "rank": best_first.index(cid) + 1} for i, cid in enumerate(candidate_ids, 1)]

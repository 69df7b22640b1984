"""Bad input against the real server: clear one-line errors, nothing pushed or overwritten."""

from __future__ import annotations

import socket

import pytest

from prefdata.argilla.client import connect
from prefdata.argilla.pull import pull
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError

from conftest import make_run

pytestmark = pytest.mark.slow


def test_wrong_api_key_names_url_and_env_var(argilla_server):
    with pytest.raises(PrefdataError) as e:
        connect(argilla_server.api_url, "not-the-key")
    message = str(e.value)
    assert argilla_server.api_url in message and "ARGILLA_API_KEY" in message and "\n" not in message


def test_unreachable_server_names_url_and_env_var():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(PrefdataError) as e:
        connect(url, "some-key")
    message = str(e.value)
    assert url in message and "ARGILLA_API_URL" in message and "\n" not in message


def test_name_clash_with_other_settings_changes_nothing(client, tmp_path):
    run = make_run(tmp_path, 3, 2)
    first = push(run, client, ArgillaConfig(dataset="clash"), progress=False)
    before = client.dataset_settings(first["dataset_id"])
    with pytest.raises(PrefdataError, match="already exists with other settings") as e:
        push(run, client, ArgillaConfig(dataset="clash", question="rating", min_submitted=3), progress=False)
    assert "min_submitted: recipe wants 3, dataset has 1" in str(e.value)
    after = client.dataset_settings(first["dataset_id"])
    assert [q["name"] for q in after["questions"]] == [q["name"] for q in before["questions"]] == ["ranking", "rationale"]
    assert after["distribution"] == before["distribution"]
    assert client.count_records(first["dataset_id"]) == 3


def test_more_candidates_than_fields_fails_before_pushing(client, tmp_path):
    small = push(make_run(tmp_path / "a", 2, 2), client, ArgillaConfig(dataset="two-fields"), progress=False)
    bigger = make_run(tmp_path / "b", 4, [2, 3, 2, 2])  # p1 has 3 candidates; p2, p3 are new prompts
    with pytest.raises(PrefdataError, match="has 2 response fields, but some prompts have 3 candidates"):
        push(bigger, client, ArgillaConfig(dataset="two-fields"), progress=False)
    assert client.count_records(small["dataset_id"]) == 2  # p2 and p3 were not pushed either
    with pytest.raises(PrefdataError, match="more than argilla.max_candidates=2"):
        push(bigger, client, ArgillaConfig(dataset="never-created", max_candidates=2), progress=False)
    assert client.find_dataset("never-created", client.workspace_id("argilla")) is None


def test_pull_of_unknown_dataset_and_missing_run(client, tmp_path):
    with pytest.raises(PrefdataError, match="no dataset 'nope'"):
        pull(tmp_path, client, "nope")
    with pytest.raises(PrefdataError, match="stages/prompts/data.parquet not found"):
        push(tmp_path / "empty", client, ArgillaConfig(dataset="x"), progress=False)

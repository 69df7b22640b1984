"""Secrets and permissions of the local server: private HOME, Redis password, minimal environment, safe stop."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from prefdata.argilla import server

from conftest import FAKE_SECRET_ENV

pytestmark = pytest.mark.slow

ALLOWED_ENV = set(server.PASSED_ENV) | {server.HOME_MARKER, "PYTHONPATH", "PYTHONUNBUFFERED",
                                        "HF_HUB_DISABLE_TELEMETRY", "PREFDATA_ARGILLA_SEARCH_DB"}


def _state(home: Path) -> dict:
    return json.loads((home / "state.json").read_text())


def _server_processes(home: Path) -> list[psutil.Process]:
    """Every process `serve` started from home (leaders and their children), as `stop` would find them."""
    procs = []
    for name, (pid, created) in server._state_processes(_state(home)).items():
        group = server._group(pid, created, home)
        assert any(p.pid == pid for p in group), f"{name} (pid {pid}) is not recognised as ours"
        procs += group
    return procs


def _redis_say(port: int, *commands: bytes) -> list[bytes]:
    """Send raw RESP inline commands, one reply line each."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        for command in commands:
            s.sendall(command + b"\r\n")
            replies.append(f.readline().strip())
    return replies


def test_home_and_files_are_private(argilla_server):
    home = Path(argilla_server.home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    must_exist = {"argilla.db", "credentials.json", "state.json", "search.sqlite", "logs/server.log",
                  "logs/redis.log", "logs/worker.log", "redis/password", "redis/redis.conf"}
    seen = set()
    for root, dirs, files in os.walk(home):
        for d in dirs:
            path = Path(root) / d
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, f"{path} is not 0700"
        for f in files:
            path = Path(root) / f
            seen.add(str(path.relative_to(home)))
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}, not 0600"
    assert must_exist <= seen, f"missing: {must_exist - seen}"


def test_redis_requires_the_homes_password(argilla_server):
    home = Path(argilla_server.home)
    port = _state(home)["redis_port"]
    password = (home / "redis" / "password").read_text().strip()
    assert len(password) >= 32
    (reply,) = _redis_say(port, b"PING")
    assert reply.startswith(b"-NOAUTH"), reply
    assert _redis_say(port, b"AUTH wrong-password")[0].startswith(b"-WRONGPASS")
    assert _redis_say(port, b"AUTH " + password.encode(), b"PING") == [b"+OK", b"+PONG"]


def test_no_secret_in_process_environments_command_lines_or_files(argilla_server):
    home = Path(argilla_server.home)
    name, fake = FAKE_SECRET_ENV
    redis_password = (home / "redis" / "password").read_text().strip()
    procs = _server_processes(home)
    assert len(procs) >= 3
    for proc in procs:
        raw_env = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert fake.encode() not in raw_env and name.encode() not in raw_env, f"{proc.cmdline()[:3]} got {name}"
        keys = {item.split(b"=", 1)[0].decode() for item in raw_env.split(b"\0") if item}
        assert keys <= ALLOWED_ENV | {k for k in keys if k.startswith("ARGILLA_")}, f"extra variables: {keys}"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        for secret in (argilla_server.api_key, argilla_server.password, redis_password):
            assert secret.encode() not in cmdline, f"a secret is on the command line of {proc.cmdline()[:3]}"
    # the server and the worker got the Redis password through their environment
    server_env = Path(f"/proc/{_state(home)['pids']['server']}/environ").read_bytes()
    assert f":{redis_password}@127.0.0.1".encode() in server_env
    for path in home.rglob("*"):
        if path.is_file():
            assert fake.encode() not in path.read_bytes(), f"{name} leaked into {path}"


def _stop_cli(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "argilla", "stop", "--home", str(home)],
                          capture_output=True, text=True, timeout=120)


def test_stale_pid_file_never_kills_an_unrelated_process(tmp_path):
    """state.json names a live `sleep` (its own process group, like our servers): stop leaves it alone."""
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        created = psutil.Process(sleeper.pid).create_time()
        homes = {
            "no start times (older state.json)": {"pids": {"server": sleeper.pid}},
            "another start time (pid reused)": {"pids": {"server": sleeper.pid}, "create_times": {"server": created - 50}},
            "right start time, not ours": {"pids": {"server": sleeper.pid}, "create_times": {"server": created}},
        }
        for case, state in homes.items():
            home = tmp_path / case.split(" ")[0]
            home.mkdir()
            (home / "state.json").write_text(json.dumps(state))
            stopped = _stop_cli(home)
            assert stopped.returncode == 0, stopped.stderr
            assert "nothing was running" in stopped.stdout, case
            assert f"pid {sleeper.pid}" in stopped.stderr and "left alone" in stopped.stderr, case
            time.sleep(0.2)
            assert sleeper.poll() is None, f"stop killed an unrelated process ({case})"
            assert not (home / "state.json").exists()  # the stale file is gone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_cli_has_no_api_key_option():
    """A key on the command line is visible to every user in `ps`: only the environment or credentials.json."""
    for command in ("push", "pull"):
        out = subprocess.run([sys.executable, "-m", "prefdata.cli", "argilla", command, "x", "--api-key", "k"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and "No such option: --api-key" in out.stderr, out.stderr

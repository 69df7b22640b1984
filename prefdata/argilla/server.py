"""A one-command local Argilla: argilla-server 2.8 + Redis + rq worker + an SQLite search engine.

    prefdata argilla serve --port 6900 --home ~/.cache/prefdata/argilla   # prints URL + credentials
    prefdata argilla stop --home ~/.cache/prefdata/argilla

    from prefdata.argilla.server import serve, stop
    info = serve(port=6900, home="/tmp/argilla")   # ServerInfo(api_url, username, password, api_key)
    stop("/tmp/argilla")

The server pins pydantic 2.9 / fastapi 0.115 and its CLI breaks with click >= 8.2, so it runs
from its own virtualenv (created once, then cached: `~/.cache/prefdata/argilla-venv`) as
separate processes; prefdata only talks HTTP to it. Elasticsearch cannot be had here, so
`search_engine.py` is copied next to the server as `prefdata_sqlite_search` and registered
in the server's own engine registry (ARGILLA_SEARCH_ENGINE=prefdata-sqlite).

Everything lives under HOME: argilla.db (SQLite), search.sqlite (the search index),
redis/, logs/, state.json (pids + ports) and credentials.json (mode 0600; the API key is
written only there and printed once by `serve`, never logged).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from prefdata.errors import PrefdataError

DEFAULT_HOME = Path("~/.cache/prefdata/argilla").expanduser()
DEFAULT_VENV = Path("~/.cache/prefdata/argilla-venv").expanduser()
SERVER_REQUIREMENTS = ("argilla-server==2.8.0", "click<8.2")
PLUGIN_MODULE = "prefdata_sqlite_search"
TEMPLATE_DB = "prefdata-argilla-template.db"
OWNER_USERNAME = "argilla"
WORKSPACE = "argilla"
_LAUNCH = f"import {PLUGIN_MODULE}; from argilla_server.cli import app; app()"
# The server process first runs setup commands read from stdin (creating the owner: one import
# of argilla_server instead of two, ~3 s of CPU saved), then its own CLI command.
_SERVER_LAUNCH = f"""
import asyncio, contextlib, io, json, sys, {PLUGIN_MODULE}
from argilla_server.cli import app
from argilla_server.database import async_engine
setup = json.loads(sys.stdin.readline() or "[]")
for args in setup:
    with contextlib.redirect_stdout(io.StringIO()):  # `users create` echoes the API key: keep it out of the log
        app(args, standalone_mode=False)
if setup:
    asyncio.run(async_engine.dispose())  # its pooled connections belong to the setup's event loop
app(sys.argv[1:])
"""


@dataclass
class ServerInfo:
    api_url: str
    username: str
    password: str
    api_key: str
    home: str
    workspace: str = WORKSPACE


# ------------------------------------------------------------------ the server's virtualenv


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = DEFAULT_VENV, log=print) -> Path:
    """Create the server virtualenv once (~1 min, needs PyPI); later calls return at once.

    It also holds a database migrated to the server's schema (TEMPLATE_DB), copied into every
    fresh HOME: migrating costs several seconds of imports, once here instead of per serve.
    """
    venv = Path(venv).expanduser()
    marker = venv / ".prefdata-ready"
    wanted = " ".join(SERVER_REQUIREMENTS)
    if marker.is_file() and marker.read_text().strip() == wanted and (venv / TEMPLATE_DB).is_file():
        return venv_python(venv)
    log(f"creating the Argilla server virtualenv in {venv} (first use only: {wanted}) ...")
    if not venv_python(venv).exists():
        base = shutil.which("python3") or sys.executable
        _run([base, "-m", "venv", str(venv)], "create the virtualenv")
    _run([str(venv_python(venv)), "-m", "pip", "install", "-q", *SERVER_REQUIREMENTS], "pip install the server")
    _migrate_template(venv)
    marker.write_text(wanted + "\n")
    return venv_python(venv)


def _migrate_template(venv: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env.update(ARGILLA_HOME_PATH=tmp, ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/template.db")
        _run([str(venv_python(venv)), "-m", "argilla_server", "database", "migrate"],
             "migrate the template database", env=env)
        shutil.copyfile(Path(tmp) / "template.db", venv / (TEMPLATE_DB + ".tmp"))
    (venv / (TEMPLATE_DB + ".tmp")).replace(venv / TEMPLATE_DB)


def _run(cmd: list[str], what: str, env: dict | None = None, timeout: float = 900, stdin: str | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, input=stdin)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise PrefdataError(f"could not {what} (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n{tail}")
    return proc.stdout


# ------------------------------------------------------------------ state under HOME


def _paths(home: Path) -> dict[str, Path]:
    return {
        "state": home / "state.json",
        "credentials": home / "credentials.json",
        "logs": home / "logs",
        "redis": home / "redis",
        "plugin": home / "plugin",
        "search": home / "search.sqlite",
        "server_home": home / "server",
    }


def read_credentials(home: Path | str = DEFAULT_HOME) -> ServerInfo | None:
    path = _paths(Path(home).expanduser())["credentials"]
    if not path.is_file():
        return None
    return ServerInfo(**json.loads(path.read_text()))


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def running_state(home: Path) -> dict | None:
    path = _paths(home)["state"]
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    return state if any(_alive(pid) for pid in state["pids"].values()) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


# ------------------------------------------------------------------ serve / stop


def server_env(home: Path, redis_port: int) -> dict[str, str]:
    p = _paths(home)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(
        ARGILLA_HOME_PATH=str(p["server_home"]),
        ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'argilla.db'}",
        ARGILLA_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        ARGILLA_SEARCH_ENGINE="prefdata-sqlite",
        HF_HUB_DISABLE_TELEMETRY="1",
        PREFDATA_ARGILLA_SEARCH_DB=str(p["search"]),
        PYTHONPATH=str(p["plugin"]),
        PYTHONUNBUFFERED="1",
    )
    return env


def _spawn(name: str, cmd: list[str], env: dict, logs: Path, stdin: str | None = None) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "ab")
    # Own session: `stop` signals the whole group (uvicorn, rq's forked workers) at once.
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    if stdin is not None:  # secrets travel by pipe, never on the command line
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    return proc


def _start_redis(home: Path, logs: Path) -> tuple[subprocess.Popen, int]:
    redis = shutil.which("redis-server")
    if redis is None:
        raise PrefdataError(
            "redis-server not found on PATH: Argilla needs Redis. Install it with "
            "`apt-get install redis-server` (or `./install.sh --dev` as root), then re-run serve."
        )
    port = _free_port()
    cmd = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(_paths(home)["redis"]), "--protected-mode", "yes"]
    return _spawn("redis", cmd, os.environ.copy(), logs), port


def serve(
    port: int = 6900,
    home: Path | str = DEFAULT_HOME,
    venv: Path | str = DEFAULT_VENV,
    host: str = "127.0.0.1",
    timeout: float = 60.0,
    log=print,
) -> ServerInfo:
    """Start redis, give a fresh HOME the migrated DB, start the server (owner created once), then the worker."""
    home = Path(home).expanduser().resolve()
    p = _paths(home)
    state = running_state(home)
    if state:
        raise PrefdataError(
            f"an Argilla server from {home} is already running at {state['api_url']}; "
            f"stop it first: prefdata argilla stop --home {home}"
        )
    if _port_in_use(host, port):
        raise PrefdataError(f"port {port} on {host} is already in use: pass another one with --port")
    python = ensure_venv(Path(venv), log=log)
    for key in ("logs", "redis", "plugin", "server_home"):
        p[key].mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("search_engine.py"), p["plugin"] / f"{PLUGIN_MODULE}.py")

    started = time.monotonic()
    redis_proc, redis_port = _start_redis(home, p["logs"])
    env = server_env(home, redis_port)
    pids = {"redis": redis_proc.pid}
    try:
        # The database must have its tables before the server starts (its startup reads users).
        # The rq worker (dataset status jobs, queued in redis meanwhile) starts once the server
        # answers: two imports at once would fight over two cores.
        _prepare_database(home, Path(venv), python, env)
        creds, setup = _owner_setup(home, f"http://{host}:{port}")
        _write_private(p["credentials"], asdict(creds))
        server = _spawn("server", [str(python), "-c", _SERVER_LAUNCH, "start", "--host", host, "--port", str(port),
                                   "--no-access-log"], env, p["logs"], stdin=json.dumps(setup) + "\n")
        pids["server"] = server.pid
        state = {"api_url": creds.api_url, "pids": pids, "redis_port": redis_port, "started_at": time.time()}
        p["state"].write_text(json.dumps(state, indent=2))
        _wait_ready(creds.api_url, {"server": server, "redis": redis_proc}, p["logs"], timeout)
        worker = _spawn("worker", [str(python), "-c", _LAUNCH, "worker", "--num-workers", "1"], env, p["logs"])
        pids["worker"] = worker.pid
    except BaseException:
        _terminate(pids)
        p["state"].unlink(missing_ok=True)
        raise
    state["ready_seconds"] = round(time.monotonic() - started, 2)
    p["state"].write_text(json.dumps(state, indent=2))
    return creds


def _prepare_database(home: Path, venv: Path, python: Path, env: dict) -> None:
    """A fresh HOME gets a copy of the migrated template; a database from another server version is migrated."""
    db, version = home / "argilla.db", home / "db-version.txt"
    if not db.is_file():
        shutil.copyfile(Path(venv).expanduser() / TEMPLATE_DB, db)
    elif not (version.is_file() and version.read_text().strip() == SERVER_REQUIREMENTS[0]):
        _run([str(python), "-c", _LAUNCH, "database", "migrate"], "migrate the Argilla database", env=env)
    version.write_text(SERVER_REQUIREMENTS[0] + "\n")


def _owner_setup(home: Path, api_url: str) -> tuple[ServerInfo, list[list[str]]]:
    """The credentials (random password + key on first serve) and the command creating the owner.

    The command always runs (it skips an existing username, costing one query inside the
    server process), so a first serve that died half-way cannot leave a credentials file
    whose owner was never created.
    """
    creds = read_credentials(home) or ServerInfo(
        api_url=api_url, username=OWNER_USERNAME, password=secrets.token_urlsafe(12),
        api_key=secrets.token_urlsafe(24), home=str(home))
    creds.api_url = api_url
    create = ["database", "users", "create", "--first-name", "Owner", "--username", creds.username,
              "--password", creds.password, "--role", "owner", "--api-key", creds.api_key, "--workspace", WORKSPACE]
    return creds, [create]


def _wait_ready(api_url: str, procs: dict[str, subprocess.Popen], logs: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = "\n".join((logs / f"{name}.log").read_text(errors="replace").splitlines()[-20:])
                raise PrefdataError(f"the Argilla {name} process exited with code {proc.returncode}:\n{tail}")
        try:
            if httpx.get(f"{api_url}/api/v1/version", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise PrefdataError(f"the Argilla server at {api_url} was not ready after {timeout:.0f} s; see {logs}/server.log")


def _terminate(pids: dict[str, int], grace: float = 10.0) -> list[str]:
    """SIGTERM each process group, then SIGKILL what is left after `grace` seconds."""
    stopped = []
    for name, pid in pids.items():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
                stopped.append(name)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return stopped


def stop(home: Path | str = DEFAULT_HOME) -> list[str]:
    """Stop server, worker and redis started from `home`; returns the names that were running."""
    home = Path(home).expanduser().resolve()
    path = _paths(home)["state"]
    if not path.is_file():
        return []
    state = json.loads(path.read_text())
    stopped = _terminate(state["pids"])
    path.unlink(missing_ok=True)
    return stopped

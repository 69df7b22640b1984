"""A one-command local Argilla: argilla-server 2.8 + Redis + rq worker + an SQLite search engine.

    prefdata argilla serve --port 6900 --home ~/.cache/prefdata/argilla   # prints URL + credentials
    prefdata argilla stop --home ~/.cache/prefdata/argilla

    from prefdata.argilla.server import serve, stop
    info = serve(port=6900, home="/tmp/argilla")   # ServerInfo(api_url, username, password, api_key)
    stop("/tmp/argilla")

The server pins pydantic 2.9 / fastapi 0.115 and its CLI breaks with click >= 8.2, so it runs
from its own virtualenv (created once, then cached: `~/.cache/prefdata/argilla-venv`) as
separate processes; prefdata only talks HTTP to it. Elasticsearch cannot be had here, so
`server-plugin/prefdata_sqlite_search.py` is copied next to the server as `prefdata_sqlite_search` and registered
in the server's own engine registry (ARGILLA_SEARCH_ENGINE=prefdata-sqlite).

Everything lives under HOME: argilla.db (SQLite), search.sqlite (the search index),
redis/, logs/, state.json (pids, their start times, ports) and credentials.json (the API key
is written only there and printed once by `serve`, never logged).

Secrets and permissions:
  - HOME and its folders are 0700, every file in it 0600 (the server processes run with
    umask 077, so the files they create are private too);
  - Redis asks for a password generated once per HOME (redis/password); it reaches
    redis-server through redis/redis.conf and the server/worker through their environment,
    never a command line (`ps` shows command lines to every user);
  - the server processes get a minimal environment built here, not the caller's (which may
    hold other API keys);
  - `stop` signals only processes it can prove it started (psutil): the pid's start time must
    match the one recorded in state.json and the process must carry this HOME in its
    environment (or work inside HOME), so a stale state.json whose pids were reused can never
    kill an unrelated process.
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
import psutil

from prefdata.errors import PrefdataError

DEFAULT_HOME = Path("~/.cache/prefdata/argilla").expanduser()
DEFAULT_VENV = Path("~/.cache/prefdata/argilla-venv").expanduser()
SERVER_REQUIREMENTS = ("argilla-server==2.8.0", "click<8.2")
PLUGIN_MODULE = "prefdata_sqlite_search"
# Runs inside the argilla-server virtualenv (pydantic 2.9, the server's own packages), never in
# prefdata's: it lives in a folder Python cannot import from here, shipped as package data.
PLUGIN_SOURCE = Path(__file__).with_name("server-plugin") / f"{PLUGIN_MODULE}.py"
TEMPLATE_DB = "prefdata-argilla-template.db"
OWNER_USERNAME = "argilla"
WORKSPACE = "argilla"
HOME_MARKER = "PREFDATA_ARGILLA_HOME"  # in every server process's environment: how `stop` recognises its own
# Variables of the caller's environment the server processes may see; nothing else is passed on.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
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
        env = _base_env(Path(tmp))
        env.update(ARGILLA_HOME_PATH=tmp, ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/template.db")
        _run([str(venv_python(venv)), "-m", "argilla_server", "database", "migrate"],
             "migrate the template database", env=env)
        shutil.copyfile(Path(tmp) / "template.db", venv / (TEMPLATE_DB + ".tmp"))
    (venv / (TEMPLATE_DB + ".tmp")).replace(venv / TEMPLATE_DB)


def _run(cmd: list[str], what: str, env: dict | None = None, timeout: float = 900, stdin: str | None = None,
         umask: int = -1) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, input=stdin, umask=umask)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise PrefdataError(f"could not {what} (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n{tail}")
    return proc.stdout


# ------------------------------------------------------------------ private files under HOME


def _paths(home: Path) -> dict[str, Path]:
    return {
        "state": home / "state.json",
        "credentials": home / "credentials.json",
        "db": home / "argilla.db",
        "db_version": home / "db-version.txt",
        "logs": home / "logs",
        "redis": home / "redis",
        "redis_password": home / "redis" / "password",
        "redis_conf": home / "redis" / "redis.conf",
        "plugin": home / "plugin",
        "search": home / "search.sqlite",
        "server_home": home / "server",
    }


def _private_dir(path: Path) -> None:
    """A folder only its owner can enter (mkdir's mode is masked by the umask and ignored if it exists)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _open_private(path: Path, flags: int) -> int:
    """os.open with mode 0600, also forcing it on a file that already existed with wider permissions."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _write_private_text(path: Path, text: str) -> None:
    """Write atomically (temp file + rename) with mode 0600: a crash never leaves a half file."""
    _private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as f:
        f.write(text)
    tmp.replace(path)


def _write_private(path: Path, data: dict) -> None:
    _write_private_text(path, json.dumps(data, indent=2))


def _copy_private(src: Path, dst: Path) -> None:
    """Copy src to dst (mode 0600) atomically: shutil.copyfile would give it the umask's default mode."""
    tmp = dst.with_name(dst.name + ".tmp")
    with open(src, "rb") as inp, os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as out:
        shutil.copyfileobj(inp, out)
    tmp.replace(dst)


def _make_private_home(home: Path) -> None:
    """HOME and its folders 0700, every file in it 0600: also tightens a HOME made by an older prefdata."""
    _private_dir(home)
    for root, dirs, files in os.walk(home):
        for d in dirs:
            os.chmod(Path(root) / d, 0o700)
        for f in files:
            path = Path(root) / f
            if not path.is_symlink():
                os.chmod(path, 0o600)


def read_credentials(home: Path | str = DEFAULT_HOME) -> ServerInfo | None:
    path = _paths(Path(home).expanduser())["credentials"]
    if not path.is_file():
        return None
    return ServerInfo(**json.loads(path.read_text()))


# ------------------------------------------------------------------ knowing our own processes


def _reap(pid: int) -> None:
    """Collect the exit status of a dead child of ours (a zombie still answers signals and pid checks)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its own parent reaps it
        pass


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _is_ours(proc: psutil.Process, home: Path | None) -> bool:
    """The process is a child of this one, or carries HOME's marker in its environment, or works in HOME.

    A child we have not reaped cannot have a recycled pid. The environment and working
    directory can be read only for our own user's processes; the working directory covers
    Redis, which overwrites its environment block with its process title (and chdirs to
    HOME/redis).
    """
    try:
        if proc.ppid() == os.getpid():
            return True
    except psutil.Error:
        return False
    if home is None:
        return False
    try:
        if proc.environ().get(HOME_MARKER) == str(home):
            return True
    except psutil.Error:
        pass
    try:
        return Path(proc.cwd()).is_relative_to(home)
    except (psutil.Error, OSError, ValueError):
        return False


def _owned(pid: int, created: float | None, home: Path | None) -> psutil.Process | None:
    """The live process `pid` if it is the one `serve` started, else None (dead, or the pid was reused).

    Both checks matter: the start time proves the pid was not recycled since state.json was
    written; _is_ours proves state.json itself points at one of ours (it could be copied
    from elsewhere or hand-edited).
    """
    _reap(pid)
    if created is None:  # a state.json without start times cannot prove anything
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) > 0.05 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc if _is_ours(proc, home) else None


def _group(pid: int, created: float | None, home: Path | None) -> list[psutil.Process]:
    """Our processes in the group `serve` started as `pid`: the leader, uvicorn/rq children, orphans.

    A member must have started no earlier than the leader and pass _is_ours, so an unrelated
    process that inherited the pid (or the group id) is never included.
    """
    if created is None:
        return []
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) != pid or proc.create_time() < created - 0.05:
                continue
        except (OSError, psutil.Error):
            continue
        _reap(proc.pid)
        if _is_ours(proc, home):
            members.append(proc)
    return members


def _child_create_time(pid: int) -> float | None:
    """The start time of `pid` if it is a child of this process (so certainly the one we started), else None."""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() if proc.ppid() == os.getpid() else None
    except psutil.Error:
        return None


def _state_processes(state: dict) -> dict[str, tuple[int, float | None]]:
    """name -> (pid, start time); a state.json written before start times were recorded has None."""
    created = state.get("create_times") or {}
    return {name: (pid, created.get(name)) for name, pid in state["pids"].items()}


def running_state(home: Path) -> dict | None:
    path = _paths(home)["state"]
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    alive = any(_owned(pid, created, home) for pid, created in _state_processes(state).values())
    return state if alive else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


# ------------------------------------------------------------------ environments and redis


def _base_env(home: Path) -> dict[str, str]:
    """The few variables of the caller a server process needs, plus the HOME marker; never API keys."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env[HOME_MARKER] = str(home)
    return env


def redis_url(redis_port: int, password: str) -> str:
    return f"redis://:{password}@127.0.0.1:{redis_port}/0"


def server_env(home: Path, redis_port: int, password: str | None = None) -> dict[str, str]:
    """Environment of the server and the worker: built from scratch, the Redis password included."""
    p = _paths(home)
    password = password or redis_password(home)
    env = _base_env(home)
    env.update(
        ARGILLA_HOME_PATH=str(p["server_home"]),
        ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{p['db']}",
        ARGILLA_REDIS_URL=redis_url(redis_port, password),
        ARGILLA_SEARCH_ENGINE="prefdata-sqlite",
        HF_HUB_DISABLE_TELEMETRY="1",
        PREFDATA_ARGILLA_SEARCH_DB=str(p["search"]),
        PYTHONPATH=str(p["plugin"]),
        PYTHONUNBUFFERED="1",
    )
    return env


def redis_password(home: Path) -> str:
    """The Redis password of this HOME: generated on first use, kept in redis/password (0600)."""
    path = _paths(home)["redis_password"]
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    password = secrets.token_hex(32)  # hex: no quoting needed in redis.conf or in a URL
    _write_private_text(path, password + "\n")
    return password


def _redis_conf(home: Path, port: int, password: str) -> Path:
    """redis.conf (0600): the password travels in it, not on redis-server's command line."""
    p = _paths(home)
    lines = [f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"requirepass {password}",
             'save ""', "appendonly no", f"dir {json.dumps(str(p['redis']), ensure_ascii=False)}"]
    _write_private_text(p["redis_conf"], "\n".join(lines) + "\n")
    return p["redis_conf"]


def _spawn(name: str, cmd: list[str], env: dict, logs: Path, stdin: str | None = None) -> subprocess.Popen:
    log = os.fdopen(_open_private(logs / f"{name}.log", os.O_WRONLY | os.O_APPEND), "ab")
    # Own session: the process and its children form a group that `stop` can find.
    # umask 077: the database journal, search index and anything else it creates is private.
    # cwd HOME: with the environment marker, how `stop` recognises the process as its own.
    with log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL, umask=0o077,
                                cwd=env[HOME_MARKER])
    if stdin is not None:  # secrets travel by pipe, never on the command line
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    return proc


def _start_redis(home: Path, logs: Path) -> tuple[subprocess.Popen, int]:
    """redis-server on a free port of 127.0.0.1, asking for the HOME's password (see redis_password)."""
    redis = shutil.which("redis-server")
    if redis is None:
        raise PrefdataError(
            "redis-server not found on PATH: Argilla needs Redis. Install it with "
            "`apt-get install redis-server` (or `./install.sh --dev` as root), then re-run serve."
        )
    port, password = _free_port(), redis_password(home)
    conf = _redis_conf(home, port, password)
    return _spawn("redis", [redis, str(conf)], _base_env(home), logs), port


# ------------------------------------------------------------------ serve / stop


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
    _make_private_home(home)
    for key in ("logs", "redis", "plugin", "server_home"):
        _private_dir(p[key])
    _copy_private(PLUGIN_SOURCE, p["plugin"] / f"{PLUGIN_MODULE}.py")

    started = time.monotonic()
    redis_proc, redis_port = _start_redis(home, p["logs"])
    env = server_env(home, redis_port)
    procs = {"redis": redis_proc}
    state = {"pids": {}, "create_times": {}, "redis_port": redis_port, "started_at": time.time()}
    try:
        _record(state, procs)
        # The database must have its tables before the server starts (its startup reads users).
        # The rq worker (dataset status jobs, queued in redis meanwhile) starts once the server
        # answers: two imports at once would fight over two cores.
        _prepare_database(home, Path(venv), python, env)
        creds, setup = _owner_setup(home, f"http://{host}:{port}")
        _write_private(p["credentials"], asdict(creds))
        procs["server"] = _spawn("server", [str(python), "-c", _SERVER_LAUNCH, "start", "--host", host, "--port",
                                            str(port), "--no-access-log"], env, p["logs"], stdin=json.dumps(setup) + "\n")
        state["api_url"] = creds.api_url
        _record(state, procs)
        _write_private(p["state"], state)
        _wait_ready(creds.api_url, procs, p["logs"], timeout)
        procs["worker"] = _spawn("worker", [str(python), "-c", _LAUNCH, "worker", "--num-workers", "1"], env, p["logs"])
        _record(state, procs)
    except BaseException:
        _terminate(_state_processes(state), home)
        p["state"].unlink(missing_ok=True)
        raise
    state["ready_seconds"] = round(time.monotonic() - started, 2)
    _write_private(p["state"], state)
    return creds


def _record(state: dict, procs: dict[str, subprocess.Popen]) -> None:
    """pid and start time of each process: `stop` signals a pid only if both still match."""
    for name, proc in procs.items():
        state["pids"][name] = proc.pid
        state["create_times"][name] = _create_time(proc.pid)


def _prepare_database(home: Path, venv: Path, python: Path, env: dict) -> None:
    """A fresh HOME gets a copy of the migrated template; a database from another server version is migrated."""
    p = _paths(home)
    if not p["db"].is_file():
        _copy_private(Path(venv).expanduser() / TEMPLATE_DB, p["db"])
    elif not (p["db_version"].is_file() and p["db_version"].read_text().strip() == SERVER_REQUIREMENTS[0]):
        _run([str(python), "-c", _LAUNCH, "database", "migrate"], "migrate the Argilla database", env=env,
             umask=0o077)  # the migration writes HOME/argilla.db: keep anything it creates private
    _write_private_text(p["db_version"], SERVER_REQUIREMENTS[0] + "\n")


def _owner_setup(home: Path, api_url: str) -> tuple[ServerInfo, list[list[str]]]:
    """The credentials (random password + key on first serve) and the command creating the owner.

    The command always runs (it skips an existing username, costing one query inside the
    server process), so a first serve that died half-way cannot leave a credentials file
    whose owner was never created. It is sent to the server process through a pipe: the
    password and key never appear on a command line.
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


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil re-checks the start time: a recycled pid raises instead
        except psutil.Error:
            pass


def _terminate(processes: dict[str, int | tuple[int, float | None]], home: Path | None = None, grace: float = 10.0,
               log=None) -> list[str]:
    """SIGTERM our processes (each group's leader and members), then SIGKILL what is left after `grace` s.

    processes: name -> (pid, start time), or a bare pid, which counts only when it is a child
    of this process. Returns the names whose leader was running. A pid that is not provably
    ours (stale state.json, reused pid) is reported through `log` and left alone.
    """
    processes = {name: entry if isinstance(entry, tuple) else (entry, _child_create_time(entry))
                 for name, entry in processes.items()}
    stopped, targets = [], []
    for name, (pid, created) in processes.items():
        leader = _owned(pid, created, home)
        if leader is not None:
            stopped.append(name)
        elif log is not None and psutil.pid_exists(pid):
            log(f"pid {pid} recorded for the {name} is not a process started from {home} "
                "(stale state.json, the pid was reused): left alone")
        targets += _group(pid, created, home)
    _signal_all(targets, signal.SIGTERM)
    _, left = psutil.wait_procs(targets, timeout=grace)
    # rq may have forked a job process meanwhile: look for group members again before SIGKILL.
    left = {p.pid: p for p in left}
    for pid, created in processes.values():
        left.update({p.pid: p for p in _group(pid, created, home)})
    _signal_all(list(left.values()), signal.SIGKILL)
    psutil.wait_procs(list(left.values()), timeout=5)
    for pid, _ in processes.values():
        _reap(pid)
    return stopped


def stop(home: Path | str = DEFAULT_HOME, log=None) -> list[str]:
    """Stop server, worker and redis started from `home`; returns the names that were running."""
    home = Path(home).expanduser().resolve()
    path = _paths(home)["state"]
    if not path.is_file():
        return []
    stopped = _terminate(_state_processes(json.loads(path.read_text())), home, log=log)
    path.unlink(missing_ok=True)
    return stopped

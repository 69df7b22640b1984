"""Start-to-ready time of `prefdata argilla serve` vs the stock sequence of server commands.

    python benchmarks/bench_argilla_serve.py

Baseline (what Argilla's docs describe, on the same machine, same virtualenv, same SQLite
engine plugin): `database migrate`, then `database users create`, then `start`, then `worker`,
each a separate process, ready when /api/v1/version answers. prefdata: the migrated template
database copied into the fresh HOME and the owner created inside the server process (one
import of argilla_server instead of three before the server answers). Measures a fresh HOME
and a warm restart of the same HOME, prints seconds and the ratio. Needs redis-server and
the server virtualenv (created on first use).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from prefdata.argilla import server


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/version", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def baseline(home: Path, port: int) -> float:
    """The stock sequence, with prefdata's redis/env/plugin so only the process layout differs."""
    python = server.ensure_venv()
    paths = {k: home / k for k in ("logs", "redis", "plugin", "server")}
    for p in paths.values():
        p.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(server.PLUGIN_SOURCE, paths["plugin"] / f"{server.PLUGIN_MODULE}.py")
    started = time.monotonic()
    redis, redis_port = server._start_redis(home, paths["logs"])
    env = server.server_env(home, redis_port)
    launch = ["-c", server._LAUNCH]
    procs = [redis]
    try:
        subprocess.run([str(python), *launch, "database", "migrate"], env=env, check=True, capture_output=True)
        subprocess.run([str(python), *launch, "database", "users", "create", "--first-name", "Owner", "--username",
                        "owner", "--password", "password-123", "--role", "owner", "--api-key", "benchmark-key-123"],
                       env=env, check=True, capture_output=True)
        proc = subprocess.Popen([str(python), *launch, "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        procs.append(subprocess.Popen([str(python), *launch, "worker", "--num-workers", "1"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        _wait(f"http://127.0.0.1:{port}", proc)
        return time.monotonic() - started
    finally:
        server._terminate({str(i): p.pid for i, p in enumerate(procs)})


def ours(home: Path, port: int) -> float:
    started = time.monotonic()
    server.serve(port=port, home=home)
    elapsed = time.monotonic() - started
    server.stop(home)
    return elapsed


def main() -> None:
    server.ensure_venv()
    port = server._free_port()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = baseline(tmp / "baseline", port)
        fresh = ours(tmp / "ours", port)
        warm = ours(tmp / "ours", port)
    result = {"baseline_fresh_s": round(base, 2), "prefdata_fresh_s": round(fresh, 2), "prefdata_warm_s": round(warm, 2),
              "ratio_fresh": round(base / fresh, 2)}
    print(json.dumps(result, indent=2))
    print(f"prefdata argilla serve: fresh HOME {fresh:.1f} s ({base / fresh:.2f}x faster than the stock sequence, "
          f"{base:.1f} s), warm restart {warm:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Connecting to Ray: an existing cluster, or a local one started on this machine.

    ray: {address: auto}                 # recipe key: RAY_ADDRESS or the local cluster `ray start` made
    ray: {address: "10.0.0.5:6379"}      # a head node (checked for reachability first: a clear error in seconds)
    ray: {address: "ray://head:10001"}   # Ray Client
    ray: {num_cpus: 2}                   # no address: start a local cluster with these CPUs

The runner hands the recipe's `ray:` section to `configure`; the first sampler or executor
that needs Ray calls `connect()`, which uses it (no section: a local cluster on 127.0.0.1).

    with loopback_cluster(nodes=2) as address:   # a real multi-node cluster on one machine (tests, benchmarks)
        connect(RayClusterConfig(address=address))
        ip = add_loopback_node(address)         # one more node joins (127.0.0.4) ...
        lose_node(ip)                            # ... and is lost: its raylet and workers killed (kill -9)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from pydantic import Field

from prefdata.config import StrictModel
from prefdata.errors import PrefdataError

CONNECT_TIMEOUT_S = 5.0


class RayClusterConfig(StrictModel):
    address: str | None = Field(None, description="auto | HOST:PORT | ray://HOST:PORT; none: a local cluster.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local cluster (default: all).")


def _reachable(address: str) -> None:
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise PrefdataError(f"ray.address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise PrefdataError(f"ray.address {address!r}: no Ray head answers there ({e}); start one with "
                            f"`ray start --head` or fix the address") from None


_configured: RayClusterConfig | None = None
_loopback: dict[str, list[str]] = {}  # a loopback cluster's address -> the `ray start` options of its nodes


def configure(config: RayClusterConfig | None) -> None:
    """The cluster later `connect()` calls use (the recipe's `ray:` section)."""
    global _configured
    _configured = config


def connect(config: RayClusterConfig | None = None) -> None:
    """ray.init once per process (a no-op when already connected)."""
    import ray

    if ray.is_initialized():
        return
    config = config or _configured or RayClusterConfig()
    address = config.address
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or "auto"
    if address and address != "auto":
        _reachable(address)
    kwargs = {"log_to_driver": False}
    if not address:
        # A local cluster stays on 127.0.0.1: without this Ray binds this machine's external
        # address, reachable from the network (Ray's own single-machine mode on Windows/macOS).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        kwargs.update(include_dashboard=False, num_cpus=config.num_cpus)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise PrefdataError(f"ray.address {config.address!r}: cannot connect ({e})") from None


def alive_nodes() -> int:
    """Nodes of the connected cluster that are up (Ray keeps dead ones in its table)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


@contextmanager
def loopback_cluster(nodes: int = 2, cpus_per_node: int = 1):
    """A real Ray cluster of `nodes` nodes on this machine (head 127.0.0.2, workers 127.0.0.3, ...),
    for exercising the multi-node paths without a second machine; yields the head's address.

    Ray turns 127.0.0.1 into the machine's external address, so each node gets its own loopback
    address; token auth is off (the nodes would need a shared token). Everything started here is
    stopped here, by pid, and the caller's ray.init (if any) is shut down first.
    """
    import shutil
    import tempfile

    import psutil
    import ray

    with socket.socket() as s:  # a free port on the head's address
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's unix sockets live under it
    address = f"127.0.0.2:{port}"
    _loopback[address] = common = [f"--num-cpus={cpus_per_node}", "--disable-usage-stats", f"--temp-dir={temp}"]
    try:
        _ray_start("--head", "--node-ip-address=127.0.0.2", f"--port={port}", "--include-dashboard=false", *common)
        for n in range(1, nodes):
            _ray_start(f"--address={address}", f"--node-ip-address=127.0.0.{2 + n}", *common)
        os.environ["RAY_AUTH_MODE"] = "disabled"
        yield address
    finally:
        _loopback.pop(address, None)
        if ray.is_initialized():
            ray.shutdown()
        ours = [p for p in psutil.process_iter(["cmdline"]) if any(temp in a for a in (p.info["cmdline"] or []))]
        for p in ours:
            p.terminate()
        _, alive = psutil.wait_procs(ours, timeout=15)
        for p in alive:
            p.kill()
        shutil.rmtree(temp, ignore_errors=True)


def _ray_start(*args: str) -> None:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([Path(sys.executable).with_name("ray"), "start", *args], env=env, check=True, capture_output=True,
                   timeout=120)


def _loopback_ips() -> set[str]:
    import psutil

    return {a.split("=", 1)[1] for p in psutil.process_iter(["cmdline"]) for a in (p.info["cmdline"] or [])
            if a.startswith("--node-ip-address=127.0.0.") or a.startswith("--node_ip_address=127.0.0.")}


def add_loopback_node(address: str) -> str:
    """One more node (the next free 127.0.0.x) joins the loopback cluster at `address`; its ip.
    It is stopped with the cluster."""
    used = _loopback_ips()
    ip = next(f"127.0.0.{n}" for n in range(2, 255) if f"127.0.0.{n}" not in used)
    _ray_start(f"--address={address}", f"--node-ip-address={ip}", *_loopback[address])
    return ip


def lose_node(ip: str) -> int:
    """Kill -9 every process of the node at `ip` (its raylet, its workers): the node is lost, as
    when a machine goes down. The number of processes killed."""
    import psutil

    node = [p for p in psutil.process_iter(["cmdline"])
            if any(a in (f"--node-ip-address={ip}", f"--node_ip_address={ip}") for a in (p.info["cmdline"] or []))]
    # workers are the raylet's children and rename themselves (ray::Actor): found by parent, not by name
    victims = {p.pid: p for p in node + [c for p in node for c in p.children(recursive=True)]}.values()
    for p in victims:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return len(victims)

"""Connecting to Ray: an existing cluster, or a local one started on this machine.

    ray: {address: auto}                 # recipe key: RAY_ADDRESS or the local cluster `ray start` made
    ray: {address: "10.0.0.5:6379"}      # a head node (checked for reachability first: a clear error in seconds)
    ray: {address: "ray://head:10001"}   # Ray Client
    ray: {num_cpus: 2}                   # no address: start a local cluster with these CPUs

The runner hands the recipe's `ray:` section to `configure`; the first sampler or executor
that needs Ray calls `connect()`, which uses it (no section: a local cluster on 127.0.0.1).
"""

from __future__ import annotations

import os
import socket

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

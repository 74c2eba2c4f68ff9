"""Where the CV loop's folds and tune's trials run: the ``executor:`` setting and its connection.

``local`` (the default) needs nothing; ``ray`` connects to a Ray cluster (``pip install
'medalist[ray]'``). :func:`resolve_executor` merges medalist.yaml's ``executor:`` with the command
line's ``--executor``; :func:`connect_ray` checks the address before Ray is asked (an unreachable
head is an error within seconds, naming the address, instead of Ray's long retry loop) and that the
cluster has the GPUs ``gpus_per_task`` asks for.

>>> resolve_executor(None, None).name
'local'
>>> cfg = resolve_executor(ExecutorConfig(name="local", cpus_per_task=2), "ray@127.0.0.1:6379")
>>> cfg.name, cfg.address, cfg.cpus_per_task
('ray', '127.0.0.1:6379', 2.0)
>>> resolve_executor(None, "dask")
Traceback (most recent call last):
...
medalist.core.errors.ConfigError: --executor: expected local, ray or ray@ADDRESS (ray@auto, ray@host:6379), found 'dask'
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medalist.core.errors import ConfigError
from medalist.core.optional import require

__all__ = ["ExecutorConfig", "resolve_executor", "connect_ray", "CONNECT_TIMEOUT_S"]

CONNECT_TIMEOUT_S = 5.0


class ExecutorConfig(BaseModel):
    """``executor:`` in medalist.yaml: where folds, seeds and tune trials run (docs/scale-out.md).

    ``local`` (the default) fits one fold after another in this process; ``ray`` submits each fold
    as a Ray task to the cluster at ``address`` (``auto``: the cluster ``ray start`` began on this
    machine, else a private one; ``ray://host:10001``: a remote cluster's client server; ``host:6379``:
    a head node's GCS). ``cpus_per_task``/``gpus_per_task`` are what each task reserves."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)  # as config.Strict (which imports this)

    name: Literal["local", "ray"] = "local"
    address: str = "auto"
    cpus_per_task: float = Field(default=1, gt=0)
    gpus_per_task: float = Field(default=0, ge=0)


def resolve_executor(config: ExecutorConfig | None, flag: str | None) -> ExecutorConfig:
    """medalist.yaml's ``executor:`` overridden by ``--executor`` (``local``, ``ray`` or ``ray@ADDRESS``)."""
    cfg = (config or ExecutorConfig()).model_copy()
    if flag is None:
        return cfg
    name, _, address = flag.partition("@")
    if name not in ("local", "ray") or (name == "local" and address):
        raise ConfigError("--executor", expected="local, ray or ray@ADDRESS (ray@auto, ray@host:6379)",
                          found=repr(flag))
    cfg.name = name
    if address:
        cfg.address = address
    return cfg


def _host_port(address: str) -> tuple[str, int] | None:
    """``ray://host:10001`` or ``host:6379`` -> (host, port); None for ``auto``/``local``."""
    if address in ("auto", "local"):
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"executor.address '{address}'", expected="auto, ray://host:10001 or host:6379", found="no host:port")
    return host, int(port)


def connect_ray(cfg: ExecutorConfig):
    """``ray`` connected to ``cfg.address`` (once per process); ConfigError when it cannot be reached
    within :data:`CONNECT_TIMEOUT_S` or lacks the GPUs ``gpus_per_task`` asks for."""
    hp = _host_port(cfg.address)
    if hp is not None:
        try:
            socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise ConfigError(f"executor.address '{cfg.address}'", expected="a reachable Ray cluster (ray start --head on that host)",
                              found=f"no answer from {hp[0]}:{hp[1]} within {CONNECT_TIMEOUT_S:.0f}s ({e.strerror or e})",
                              fix="start the cluster, fix the address, or use --executor local") from None
    ray = require("ray", extra="ray", purpose="executor: ray")
    if not ray.is_initialized():
        ray.init(address=cfg.address if hp is not None else None, ignore_reinit_error=True, log_to_driver=False)
    if cfg.gpus_per_task > 0:
        have = ray.cluster_resources().get("GPU", 0)
        if have < cfg.gpus_per_task:
            raise ConfigError("executor.gpus_per_task", expected=f"a cluster with at least {cfg.gpus_per_task:g} GPU(s) for each task",
                              found=f"{have:g} GPU(s) in the Ray cluster at {cfg.address}",
                              fix="set gpus_per_task: 0, or add GPU nodes to the cluster")
    return ray

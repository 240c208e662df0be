"""Where a cycle's dask work runs: threads in this process, or a dask cluster by address.

The models build dask graphs (an ensemble member per task, wind-field chunks) and never
choose a scheduler; the caller does, from the configuration's ``compute`` section::

    compute:
      scheduler: tcp://dask-scheduler.internal:8786   # default "threads"
      connect_timeout: 10 s
      on_unreachable: threads                         # or "fail"

``threads`` (the default, a laptop or one Airflow worker) and ``synchronous`` (debugging)
run in this process. An address connects to a running ``dask scheduler`` whose workers run
the same yujing release (the graphs call its functions). Airflow tasks connect by address:
a ``LocalCluster`` of processes started inside a task does not survive the task runner.

A warning must not wait for a cluster that is down: when the scheduler cannot be reached
within ``connect_timeout``, or has no worker by then (it would accept the graph and wait
for ever), the cycle runs on local threads (slower, never lost) and says
so in the log and in the description :func:`dask_compute` yields; ``on_unreachable: fail``
raises instead, for a deployment that would rather page than run small.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Literal

import dask
from pydantic import Field, field_validator, model_validator

from hazard_models.config import Duration, Frozen
from yujing.errors import ComputeError

__all__ = ["ComputeConfig", "dask_compute"]

_LOG = logging.getLogger(__name__)
_LOCAL = ("threads", "synchronous")
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")


class ComputeConfig(Frozen):
    """Where dask work runs (see the module docstring)."""

    scheduler: str = "threads"
    """``threads``, ``synchronous``, or a dask scheduler's address (``tcp://host:8786``)."""
    workers: int | None = Field(default=None, ge=1)
    """Threads of the local scheduler (default: one per core); not for an address."""
    connect_timeout: Duration = timedelta(seconds=10)
    on_unreachable: Literal["threads", "fail"] = "threads"

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        if value in _LOCAL or _ADDRESS.match(value):
            return value
        raise ValueError(
            f"{value!r} is neither 'threads', 'synchronous' nor a dask scheduler address; "
            "write e.g. 'tcp://dask-scheduler:8786' (a LocalCluster of processes started "
            "inside an Airflow task does not work: start the cluster outside and give its "
            "address)"
        )

    @model_validator(mode="after")
    def _workers_are_local(self) -> ComputeConfig:
        if self.workers is not None and self.is_cluster:
            raise ValueError(
                "workers: the cluster's workers are set where they are started "
                "(`dask worker --nthreads N`); remove 'workers' or use scheduler: threads"
            )
        return self

    @property
    def is_cluster(self) -> bool:
        """Whether work goes to a dask scheduler by address."""
        return self.scheduler not in _LOCAL


@contextmanager
def dask_compute(config: ComputeConfig) -> Iterator[str]:
    """Run the body's dask work where ``config`` says; yield a description of where.

    Raises
    ------
    ComputeError
        If the scheduler cannot be reached and ``on_unreachable`` is ``fail``.
    """
    if not config.is_cluster:
        with dask.config.set(scheduler=config.scheduler, num_workers=config.workers):
            yield f"{config.scheduler} (local)"
        return
    from distributed import Client

    timeout = config.connect_timeout.total_seconds()
    problem = None
    try:
        client = Client(config.scheduler, timeout=timeout, set_as_default=True)
    except (OSError, TimeoutError) as err:
        problem = (
            f"dask scheduler {config.scheduler} not reached within {timeout:g} s "
            f"({type(err).__name__}: {err})"
        )
    else:
        try:
            # A scheduler whose workers are gone accepts the graph and waits for ever.
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            client.close()
            problem = f"dask scheduler {config.scheduler} has had no worker for {timeout:g} s"
    if problem is not None:
        if config.on_unreachable == "fail":
            raise ComputeError(
                f"compute.scheduler: {problem}; start the scheduler or fix the address "
                "(on_unreachable: threads runs the cycle locally instead)"
            ) from None
        _LOG.warning("%s: running on local threads instead", problem)
        with dask.config.set(scheduler="threads", num_workers=config.workers):
            yield f"threads (local: {problem})"
        return
    # A cycle's graph carries its inputs once: 41 MiB for the KNMI nowcast (the observed
    # accumulations of 535,500 radar pixels and the frames the members start from), above
    # distributed's 10 MiB advice but sent once per cycle; warn only far beyond that.
    with client, dask.config.set({"distributed.admin.large-graph-warning-threshold": "256MiB"}):
        workers = len(client.scheduler_info().get("workers", {}))
        yield f"dask cluster {config.scheduler} ({workers} workers)"

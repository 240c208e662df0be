"""The cycle's dask work runs where the configuration says: local threads or a cluster.

The cluster is real: a ``dask scheduler`` and a ``dask worker`` started as processes, as a
deployment runs them, reached over TCP (the ``dask_cluster`` fixture of ``conftest.py``).
The cycle is the KNMI demo's radar nowcast at 06:00 on 26 August 2010 (real composites,
SOURCES.md §7.1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
import dask.array
import numpy as np
import pytest
from pydantic import ValidationError

from yujing.compute import ComputeConfig, dask_compute
from yujing.errors import ComputeError
from yujing.pipeline import run_cycle
from yujing.settings import load_settings

ISSUE = datetime(2010, 8, 26, 6, 0, tzinfo=UTC)
CLOSED = "tcp://127.0.0.1:9"  # the discard port: nothing listens on it here


def _tasks_done(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=30) as client:
        counter: int = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.transition_counter
        )
    return counter


def _nowcast_settings(deployed_config: Any, compute: dict[str, Any] | None) -> Any:
    def edit(document: dict[str, Any]) -> None:
        document["hazards"] = {"rainstorm_nowcast": document["hazards"]["rainstorm_nowcast"]}
        document["alerting"]["hazards"] = ["rainstorm_nowcast"]
        if compute is not None:
            document["compute"] = compute

    return load_settings(deployed_config("knmi-demo.yaml", edit))


def test_the_nowcast_runs_on_a_dask_cluster_by_address_and_gives_the_local_result(
    deployed_config: Any, dask_cluster: str, tmp_path: Path
) -> None:
    on_cluster = _nowcast_settings(deployed_config, {"scheduler": dask_cluster})
    before = _tasks_done(dask_cluster)
    with dask_compute(on_cluster.compute) as where:
        remote = run_cycle(on_cluster, ISSUE, output_dir=tmp_path / "cluster")
    assert where == f"dask cluster {dask_cluster} (1 workers)"
    assert _tasks_done(dask_cluster) > before + 20  # at least a task per member went there

    local = _nowcast_settings(deployed_config, None)
    with dask_compute(local.compute) as where:
        here = run_cycle(local, ISSUE, output_dir=tmp_path / "local")
    assert where == "threads (local)"
    assert remote.failures == {} == here.failures
    # Seeded per member: the same ensemble whatever the scheduler.
    for name in ("probability", "risk_level"):
        np.testing.assert_array_equal(
            remote.results["rainstorm_nowcast"][name].values,
            here.results["rainstorm_nowcast"][name].values,
        )


def test_an_unreachable_cluster_leaves_the_cycle_to_local_threads_or_fails_if_told() -> None:
    config = ComputeConfig(scheduler=CLOSED, connect_timeout="2 s")
    with dask_compute(config) as where:
        assert dask.config.get("scheduler") == "threads"
        assert int(dask.array.ones(10, chunks=5).sum().compute()) == 10
    assert where.startswith(f"threads (local: dask scheduler {CLOSED} not reached within 2 s")
    strict = ComputeConfig(scheduler=CLOSED, connect_timeout="2 s", on_unreachable="fail")
    refused = r"compute\.scheduler: dask scheduler .* not reached"
    with pytest.raises(ComputeError, match=refused), dask_compute(strict):
        pytest.fail("the body must not run")


def test_a_scheduler_without_workers_leaves_the_cycle_to_local_threads(
    dask_scheduler_without_workers: str,
) -> None:
    config = ComputeConfig(scheduler=dask_scheduler_without_workers, connect_timeout="2 s")
    with dask_compute(config) as where:
        assert dask.config.get("scheduler") == "threads"
        assert int(dask.array.ones(10, chunks=5).sum().compute()) == 10
    assert where == (
        f"threads (local: dask scheduler {dask_scheduler_without_workers} has had no worker "
        "for 2 s)"
    )


def test_config_check_says_whether_the_cluster_answers(
    deployed_config: Any, dask_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from yujing.cli import main

    for scheduler, expected in [
        (dask_cluster, f"OK compute: dask cluster {dask_cluster} (1 workers)"),
        (CLOSED, f"UNREACHABLE compute: threads (local: dask scheduler {CLOSED} not reached"),
    ]:
        config = deployed_config(
            "knmi-demo.yaml",
            lambda document, s=scheduler: document.update(
                compute={"scheduler": s, "connect_timeout": "2 s"}
            ),
        )
        assert main(["config", "check", str(config), "--no-region"]) == 0
        assert expected in " ".join(capsys.readouterr().out.split())


def test_the_compute_section_is_checked() -> None:
    with pytest.raises(ValidationError, match="neither 'threads', 'synchronous' nor a dask"):
        ComputeConfig(scheduler="processes")
    with pytest.raises(ValidationError, match="dask worker --nthreads"):
        ComputeConfig(scheduler="tcp://dask:8786", workers=4)
    assert ComputeConfig().scheduler == "threads" and not ComputeConfig().is_cluster

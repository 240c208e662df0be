"""One KNMI nowcast cycle on local threads and on a dask cluster reached by address.

Run: ``.venv/bin/python benchmarks/compute_cluster.py`` (prints a Markdown table). The
cycle is ``run_cycle`` of ``configs/knmi-demo.yaml`` with the ``rainstorm_nowcast`` hazard
alone at 2010-08-26 06:00 UTC (real KNMI composites): reading the radar window, motion, the
20-member ensemble, community totals and levels. Cases, each run three times after one
warm-up, wall time of ``run_cycle`` inside :func:`yujing.compute.dask_compute`:

* ``threads``: ``compute: {scheduler: threads}`` (the default), 2 threads;
* ``cluster``: a ``dask scheduler`` and one ``dask worker --nthreads 2`` started as
  processes on this machine, ``compute: {scheduler: tcp://127.0.0.1:PORT}``;
* ``unreachable``: ``compute: {scheduler: tcp://127.0.0.1:9, connect_timeout: 2 s}``
  (nothing listens): the fallback to threads, including the 2 s it waits.

On this 2-core machine a cluster cannot be faster than threads (the worker shares the same
two cores); the numbers show what going through the scheduler costs, not a speed-up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ISSUE = datetime(2010, 8, 26, 6, 0, tzinfo=UTC)
RUNS = 3


def _settings(compute: dict[str, Any], out: Path) -> Any:
    import yaml

    from yujing.settings import load_settings

    document = yaml.safe_load((REPO / "configs" / "knmi-demo.yaml").read_text("utf-8"))
    document["data_root"] = os.environ.get("YUJING_DATA_ROOT") or str(
        REPO.parent / "shared" / "data"
    )
    document["output"] = {"directory": str(out), "cache_directory": str(out / "cache")}
    document["hazards"] = {"rainstorm_nowcast": document["hazards"]["rainstorm_nowcast"]}
    document["alerting"]["hazards"] = ["rainstorm_nowcast"]
    document["compute"] = compute
    config = out / "knmi.yaml"
    config.write_text(yaml.safe_dump(document), "utf-8")
    return load_settings(config)


def _time_cycles(compute: dict[str, Any], out: Path) -> tuple[list[float], str]:
    from yujing.compute import dask_compute
    from yujing.pipeline import run_cycle

    settings = _settings(compute, out)
    seconds = []
    places = set()
    for run in range(RUNS + 1):
        started = time.perf_counter()
        with dask_compute(settings.compute) as where:
            done = run_cycle(settings, ISSUE)
        places.add(where)
        elapsed = time.perf_counter() - started
        if done.failures:
            raise RuntimeError(f"cycle failed: {done.failures}")
        if run:  # the first run warms the region cache and imports
            seconds.append(elapsed)
    return seconds, " / ".join(sorted(places))


def _cluster(folder: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    dask_cli = str(Path(sys.executable).with_name("dask"))
    scheduler_file = folder / "scheduler.json"
    log = (folder / "cluster.log").open("w")
    scheduler = subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    while not scheduler_file.exists():
        time.sleep(0.2)
    worker = subprocess.Popen(
        [dask_cli, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "2",
         "--no-dashboard", "--local-directory", str(folder / "worker")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    address = str(json.loads(scheduler_file.read_text())["address"])
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(1, timeout=60)
    return address, [worker, scheduler]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        address, processes = _cluster(folder)
        try:
            cases = {
                "threads": {"scheduler": "threads", "workers": 2},
                "cluster": {"scheduler": address},
                "unreachable": {"scheduler": "tcp://127.0.0.1:9", "connect_timeout": "2 s"},
            }
            for name, compute in cases.items():
                out = folder / name
                out.mkdir()
                seconds, where = _time_cycles(compute, out)
                rows.append((name, where, seconds))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    print(f"{RUNS} runs each after a warm-up, {datetime.now(UTC):%Y-%m-%d}\n")
    print("| case | where it ran | median (s) | runs (s) |")
    print("|---|---|---|---|")
    for name, where, seconds in rows:
        shown = where.replace(address, "tcp://127.0.0.1:PORT").replace("|", "/")
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"| {name} | {shown[:90]} | {statistics.median(seconds):.2f} | {runs} |")


if __name__ == "__main__":
    main()

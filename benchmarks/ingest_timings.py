"""Ingest timings: the 92 KNMI radar frames, and a 1-day 300-station feed.

Run: ``.venv/bin/python benchmarks/ingest_timings.py`` (prints a Markdown table; a run's results
are kept in benchmarks/RESULTS.md). Each case runs in its own Python process on ONE core
(``taskset`` when available, one BLAS/dask thread) so its peak resident memory is its own.

Cases
    radar-read      the reader ``knmi-hdf5`` on all 92 frames → one dataset (target < 5 s)
    radar-store     the same, then one NetCDF partition per frame into an empty store
    radar-restore   re-ingest into the same store (idempotent: no file rewritten)
    stations-day    a 300-station, 1-day hourly feed (CSV, 7,200 rows) read by
                    ``station-table``, quality-controlled and stored (24 partitions)
    stations-month  the same network for 31 days (223,200 rows), to show how cost grows

The station feed is cut from real data: ERA5 2 m temperature (SOURCES.md §8, hourly, March
2019) at 300 grid points of its UK grid, written as a station network's CSV export. There
is no real 300-station hourly feed in the shared data (SOURCES.md, "Known gaps").

Timings exclude Python imports (a worker keeps them loaded); each case reads its files cold
from the page cache as the previous process left it.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ("radar-read", "radar-store", "radar-restore", "stations-day", "stations-month")
N_STATIONS = 300


def _data_root() -> Path:
    configured = os.environ.get("YUJING_DATA_ROOT")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def _station_csv(folder: Path, days: int) -> Path:
    import numpy as np
    import pandas as pd
    import xarray as xr

    grib = _data_root() / "nwp" / "era5-2mt-2019-03-uk.grib"
    with xr.open_dataset(grib, engine="cfgrib", backend_kwargs={"indexpath": ""}) as era5:
        t2m = era5["t2m"].isel(time=slice(0, 24 * days)).load()
    stacked = t2m.stack(point=("latitude", "longitude"))
    chosen = np.linspace(0, stacked.sizes["point"] - 1, N_STATIONS).astype(int)
    points = stacked.isel(point=chosen)
    times = pd.DatetimeIndex(points["time"].values).tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "station": np.repeat([f"ERA5-{i:03d}" for i in range(N_STATIONS)], len(times)),
            "obs_time": np.tile(times.strftime("%Y-%m-%dT%H:%M:%SZ"), N_STATIONS),
            "lat": np.repeat(points["latitude"].values, len(times)),
            "lon": np.repeat(points["longitude"].values, len(times)),
            "elev_m": 0.0,
            "t2m_K": np.round(points.values.T.reshape(-1), 2),
        }
    )
    path = folder / "network.csv"
    frame.to_csv(path, index=False)
    return path


def _run_case(case: str) -> dict[str, float | int | str]:
    from datetime import timedelta

    import dask
    import sklearn.neighbors  # noqa: F401  (imports warm, as in a long-running worker)

    from ingest.qc import quality_control
    from ingest.readers import read_source
    from ingest.store import PartitionStore

    dask.config.set(scheduler="synchronous")
    work = Path(tempfile.mkdtemp(prefix="yujing-bench-"))
    radar_dir = _data_root() / "radar" / "knmi_20100826"
    try:
        if case.startswith("radar"):
            store = PartitionStore(work / "store")
            if case == "radar-restore":
                radar = read_source("knmi-hdf5", radar_dir, {}, "knmi_radar")
                store.write_steps("knmi_radar", radar, "time", latency=timedelta(minutes=3))
                del radar
            start = time.perf_counter()
            radar = read_source("knmi-hdf5", radar_dir, {}, "knmi_radar")
            read = time.perf_counter() - start
            actions: list[str] = []
            if case != "radar-read":
                results = store.write_steps(
                    "knmi_radar", radar, "time", latency=timedelta(minutes=3)
                )
                actions = [r.action for r in results]
            total = time.perf_counter() - start
            return {
                "case": case,
                "items": f"{radar.sizes['time']} frames",
                "read_s": round(read, 2),
                "total_s": round(total, 2),
                "actions": ",".join(sorted(set(actions))) or "-",
            }
        days = 1 if case == "stations-day" else 31
        csv = _station_csv(work, days)
        options = {
            "station_id": "station",
            "time": "obs_time",
            "lat": "lat",
            "lon": "lon",
            "elevation": "elev_m",
            "variables": {"tas": {"column": "t2m_K", "units": "K"}},
        }
        start = time.perf_counter()
        obs = read_source("station-table", csv, options, "era5_network")
        read = time.perf_counter() - start
        checked = quality_control(obs)
        results = PartitionStore(work / "store").write_steps("era5_network", checked, "time")
        total = time.perf_counter() - start
        return {
            "case": case,
            "items": f"{obs.sizes['station']} stations x {obs.sizes['time']} h",
            "read_s": round(read, 2),
            "total_s": round(total, 2),
            "actions": f"{len(results)} partitions; qc {checked.attrs['qc_summary']}",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        result = _run_case(sys.argv[2])
        result["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    print("| case | data | read (s) | read + QC + store (s) | peak RSS (MiB) | notes |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        done = subprocess.run(
            [*pin, sys.executable, __file__, "--case", case],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {row['case']} | {row['items']} | {row['read_s']} | {row['total_s']} | "
            f"{row['peak_mib']} | {row['actions']} |"
        )


if __name__ == "__main__":
    main()

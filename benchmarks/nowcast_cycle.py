"""Nowcast cycle timings: motion + 2 h (24 × 5 min) 20-member ensemble + probabilities.

Run: ``.venv/bin/python benchmarks/nowcast_cycle.py`` (prints a Markdown table). Each case
runs in its own subprocess so that its peak resident memory (``resource.getrusage``) is its
own. Dask uses its threaded scheduler with 2 workers.

Inputs: the real KNMI frames of 2010-08-26 02:50-03:00 UTC (rain rate = mm per 5 min × 12).
Grids: the full KNMI grid (765 × 700), and n × n crops of it centred on the rain at
(row 380, column 350); 1024² does not fit in 765 × 700, so the frames are padded with NaN
(outside the radar image) to 1024 × 1024 after the crop. A cycle is: Lucas-Kanade motion on
the three frames, the 20-member ensemble, and the exceedance probabilities of 1 and 10 mm/h
at every lead, computed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = (
    Path(os.environ.get("YUJING_DATA_ROOT") or REPO.parent / "shared" / "data")
    / "radar"
    / "knmi_20100826"
)
CASES = ["knmi", "256", "512", "1024"]


def _frames(case: str):  # type: ignore[no-untyped-def]
    import numpy as np
    import xarray as xr

    from ingest.readers import read_source

    radar = read_source("knmi-hdf5", DATA, {"pattern": "RAD_NL25_RAP_5min_2010082602[5]*.h5"}, "b")
    radar = xr.concat(
        [
            radar,
            read_source("knmi-hdf5", DATA, {"pattern": "RAD_NL25_RAP_5min_201008260300.h5"}, "b"),
        ],
        "time",
    )
    rate = (radar["pr"] * 12.0).assign_attrs(units="mm/h")
    if case == "knmi":
        return rate
    size = int(case)
    half = size // 2
    rows = slice(max(380 - half, 0), min(380 + half, rate.sizes["y"]))
    columns = slice(max(350 - half, 0), min(350 + half, rate.sizes["x"]))
    crop = rate.isel(y=rows, x=columns)
    pad_y, pad_x = size - crop.sizes["y"], size - crop.sizes["x"]
    if pad_y or pad_x:
        step = float(rate["x"][1] - rate["x"][0])
        values = np.pad(
            crop.values,
            ((0, 0), (0, pad_y), (0, pad_x)),
            constant_values=np.nan,
        )
        crop = xr.DataArray(
            values,
            dims=crop.dims,
            coords={
                "time": crop["time"],
                "y": np.arange(size) * -step,
                "x": xr.DataArray(np.arange(size) * step, dims="x", attrs={"units": "m"}),
            },
            attrs=crop.attrs,
        )
    return crop


def run_case(case: str) -> dict[str, float]:
    """One cycle on ``case``; seconds of each part and the peak memory (MiB)."""
    import dask

    from hazard_models.rainstorm.ensemble import ensemble_nowcast, exceedance_probability
    from hazard_models.rainstorm.motion import estimate_motion

    frames = _frames(case)
    frames.load()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with dask.config.set(scheduler="threads", num_workers=2):
        start = time.perf_counter()
        motion = estimate_motion(frames)
        after_motion = time.perf_counter()
        ensemble = ensemble_nowcast(frames, motion, n_members=20, n_steps=24, seed=0)
        probability = exceedance_probability(ensemble, [1.0, 10.0]).compute()
        end = time.perf_counter()
    assert probability.sizes["lead_time"] == 24
    return {
        "cells": frames.sizes["y"] * frames.sizes["x"],
        "motion_s": after_motion - start,
        "ensemble_s": end - after_motion,
        "cycle_s": end - start,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "inputs_mib": base,
    }


def main() -> None:
    print(
        "| grid | cells | motion (s) | 20 × 24 ensemble + probabilities (s) | cycle (s) |"
        " peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|")
    for case in CASES:
        output = subprocess.run(
            [sys.executable, __file__, case], check=True, capture_output=True, text=True
        ).stdout
        r = json.loads(output.strip().splitlines()[-1])
        name = "KNMI 765 × 700" if case == "knmi" else f"{case}²"
        print(
            f"| {name} | {r['cells']:.0f} | {r['motion_s']:.1f} | {r['ensemble_s']:.1f} | "
            f"{r['cycle_s']:.1f} | {r['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
    else:
        main()

"""The whole ``rainstorm-nowcast`` model on the KNMI demo region, with 1 and 2 dask workers.

Run: ``.venv/bin/python benchmarks/nowcast_model.py`` (prints a Markdown table; results are
kept in benchmarks/RESULTS.md). One subprocess per case; the 1-worker case is pinned to one
core with ``taskset`` when available. A cycle is ``model.run`` for 2010-08-26 04:00Z on
``configs/knmi-demo.yaml``: motion, 20-member 2 h ensemble, window totals per member and
lead time, area maxima over 5,390 communities, probabilities, levels, onsets and risk. The
region (community layer and weights) is built or loaded from the cache before timing.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _case(workers: int) -> dict[str, float]:
    import dask

    from hazard_models import get_model
    from hazard_models.region import load_region
    from yujing.pipeline import load_input
    from yujing.settings import load_settings

    settings = load_settings(REPO / "configs" / "knmi-demo.yaml")
    issue = datetime(2010, 8, 26, 4, tzinfo=UTC)
    region = load_region(settings.region, settings.communities, settings.cache_directory)
    radar = load_input(settings, "knmi_radar", issue).load()
    hazard = settings.hazards["rainstorm_nowcast"]
    model = get_model(hazard.model)(
        settings.signal_schemes[hazard.scheme], hazard.options, settings.risk
    )
    with dask.config.set(scheduler="threads", num_workers=workers):
        start = time.perf_counter()
        model.run({"radar": radar}, region, issue)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"workers": workers, "seconds": round(seconds, 1), "peak_mib": round(peak)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--workers":
        print(json.dumps(_case(int(sys.argv[2]))))
        return
    print("| dask workers | cores | model cycle (s) | peak RSS (MiB) |")
    print("|---|---|---|---|")
    for workers in (1, 2):
        pin = ["taskset", "-c", "0"] if workers == 1 and shutil.which("taskset") else []
        done = subprocess.run(
            [*pin, sys.executable, __file__, "--workers", str(workers)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        cores = 1 if pin else 2
        print(f"| {row['workers']} | {cores} | {row['seconds']} | {row['peak_mib']} |")


if __name__ == "__main__":
    main()

"""Foundation timings: community-layer build (cold), cached load (warm), one cycle.

Run: ``.venv/bin/python benchmarks/foundation_cycle.py`` (writes nothing but a temp cache
and prints a Markdown table; the results of a run are kept in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hazard_models.region import load_region
from yujing.pipeline import run_cycle
from yujing.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
CASES = [
    ("shenzhen.yaml", datetime(2023, 9, 8, 3, tzinfo=UTC)),
    ("knmi-demo.yaml", datetime(2010, 8, 26, 4, tzinfo=UTC)),
]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    print("| config | communities | build cold (s) | load cached (s) | one cycle (s) |")
    print("|---|---|---|---|---|")
    for name, issue in CASES:
        settings = load_settings(REPO / "configs" / name)
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            load_region(settings.region, settings.communities, Path(cache))
            cold = time.perf_counter() - start
            start = time.perf_counter()
            region = load_region(settings.region, settings.communities, Path(cache))
            warm = time.perf_counter() - start
            start = time.perf_counter()
            run_cycle(settings, issue, output_dir=Path(out), region=region)
            cycle = time.perf_counter() - start
        size = region.communities.sizes["community"]
        print(f"| {name} | {size} | {cold:.2f} | {warm:.2f} | {cycle:.2f} |")
    print(f"\npeak resident memory of the process: {_peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()

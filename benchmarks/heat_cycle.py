"""Heat outlook timings on real 2 m temperature (ERA5, March 2019, SOURCES.md §8).

Cases, each on the demo region of ``configs/era5-uk-demo.yaml`` (450 communities of
0.1°, a 60 × 30 analysis grid of 0.05°) at 2019-03-30 15:00 UTC:

- ``read``: the configured source, the 744-message GRIB file, read whole;
- ``analyses``: ``heatwave-outlook`` on the analyses alone (lead 0);
- ``persistence-N``: analyses plus an N-member diurnal-persistence forecast to 72 h
  (:mod:`hazard_models.heatwave.persistence`), the forecast built inside the timing.

Run: ``.venv/bin/python benchmarks/heat_cycle.py [--write PATH]``; the results of a run
are kept in benchmarks/RESULTS.md. No target is set for heat (a daily product); the
numbers say what a daily cycle costs.
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _report import REPO, report_main

from hazard_models import get_model
from hazard_models.heatwave.persistence import diurnal_persistence
from hazard_models.region import load_region
from yujing.pipeline import available_at, read_configured
from yujing.settings import load_settings

ISSUE = datetime(2019, 3, 30, 15, tzinfo=UTC)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(data_root: Path) -> str:
    """Time the cases and return the Markdown table."""
    settings = load_settings(REPO / "configs" / "era5-uk-demo.yaml", data_root=data_root)
    hazard = settings.hazards["heatwave_demo"]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        region = load_region(settings.region, settings.communities, Path(cache))
        start = time.perf_counter()
        era5 = read_configured(settings, "era5_t2m")
        rows.append(("read", "744 hourly fields, 33 × 49", time.perf_counter() - start))
        available = available_at(era5, ISSUE)
        model = get_model(hazard.model)(
            settings.signal_schemes[hazard.scheme], hazard.options, settings.risk
        )
        start = time.perf_counter()
        result = model.run({"analysis": available}, region, ISSUE)
        rows.append(("analyses", f"{result.sizes['lead_time']} lead", time.perf_counter() - start))
        for members in (5, 20):
            start = time.perf_counter()
            forecast = diurnal_persistence(available, ISSUE, members, timedelta(hours=72))
            result = model.run({"analysis": available, "forecast": forecast}, region, ISSUE)
            rows.append(
                (
                    f"persistence-{members}",
                    f"{members} members, {result.sizes['lead_time']} leads",
                    time.perf_counter() - start,
                )
            )
    lines = [
        f"Heat outlook, {settings.region.name}: "
        f"{region.communities.sizes['community']} communities, issue {ISSUE:%Y-%m-%d %H:%MZ}",
        "",
        "| case | size | seconds |",
        "|---|---|---|",
        *(f"| {name} | {size} | {seconds:.2f} |" for name, size, seconds in rows),
        "",
        f"peak resident memory of the process: {_peak_mib():.0f} MiB",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    report_main(__doc__, report)

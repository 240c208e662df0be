"""The full KNMI replay (91 five-minute cycles) timed, then verified: docs/knmi_replay.md.

Run: ``.venv/bin/python benchmarks/knmi_replay.py --write docs/knmi_replay.md``. One
process, the machine's 2 cores (dask threads), imports warm; the replay is
``yujing.replay.replay`` exactly as ``yujing replay knmi-2010`` runs it (rainstorm and
waterlogging nowcasts on one shared ensemble, the observed models as truth, alerting with
the outbox, dispatcher and capture receiver), then
``yujing.verify.verify`` with the report. Target (issue 7): under 10 minutes in all.
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _report import report_main

from yujing.replay import load_event, replay
from yujing.verify import verify


def _report(data_root: Path) -> str:
    event, settings = load_event("knmi-2010", data_root=data_root)
    stamps: list[float] = []
    started = time.perf_counter()

    def tick(_: datetime) -> None:
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as folder:
        result = replay(event, settings, output=Path(folder), progress=tick)
        replayed = time.perf_counter() - started
        checked = time.perf_counter()
        outcome = verify(event, settings, result.folder)
        verified = time.perf_counter() - checked
        # The same warnings scored strictly: a first warning after the onset is a miss.
        strict_checks = {
            name: check.model_copy(update={"late_window": timedelta(0)})
            for name, check in event.verify.items()
        }
        strict = verify(
            event.model_copy(update={"verify": strict_checks}),
            settings,
            result.folder,
            report=False,
        )
    per_cycle = np.diff([started, *stamps])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dropped = ["truth", "correct_negatives", "agency_median_min"]
    skill = outcome.skill.drop(columns=dropped)
    strict_skill = strict.skill.drop(columns=dropped)
    lines = [
        "# KNMI 26 August 2010: full replay and verification",
        "",
        f"Measured {pd.Timestamp.now():%Y-%m-%d} on this machine (2 cores, dask threads), "
        "by `benchmarks/knmi_replay.py`.",
        "",
        f"- cycles: {result.cycles} (every 5 min, {event.start:%H:%M}Z to {event.end:%H:%M}Z)",
        "- replay (read radar once; per cycle the rainstorm and waterlogging nowcasts on one "
        f"ensemble, both observed models, alerting for both): "
        f"**{replayed:.1f} s**, {replayed / result.cycles:.2f} s per cycle (median "
        f"{np.median(per_cycle):.2f} s, slowest {per_cycle.max():.2f} s)",
        f"- verify + report: {verified:.1f} s; end to end {replayed + verified:.1f} s "
        f"(target: under 600 s — **{'met' if replayed + verified < 600 else 'not met'}**)",
        f"- peak resident memory: {peak:.0f} MiB",
        f"- alerting: {', '.join(f'{k} {v}' for k, v in result.deliveries.items())}",
        f"- failed hazard cycles: {len(result.failures)}"
        + "".join(f"; {key}: {reason}" for key, reason in result.failures.items()),
        "",
        "Skill of the nowcast warnings against the observed truth (rainfall; rainfall "
        "beyond the drainage capacity), demonstration thresholds and capacity, see "
        "configs/events/knmi-2010.yaml:",
        "",
        skill.to_markdown(index=False, floatfmt=".2f"),
        "",
        "The same warnings scored strictly (`late_window: 0`): a community first warned "
        "after its onset is a miss, and that warning a false alarm:",
        "",
        strict_skill.to_markdown(index=False, floatfmt=".2f"),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    report_main(__doc__, _report)

"""Can the radar nowcast give 60 minutes? The KNMI replay's lead times under three settings.

Run: ``.venv/bin/python benchmarks/knmi_lead_time.py --write docs/knmi_lead_time.md``
(about 30 minutes on this 2-core machine). Each variant is ``configs/events/knmi-2010.yaml``
with only the named options changed, replayed in full (91 five-minute cycles) and scored
exactly as ``yujing replay knmi-2010`` does:

* ``bundled``: the event as shipped: a 1-h nowcast, warnings looking 1 h ahead, a level
  proposed where its probability reaches 0.5;
* ``p 0.2``: the same, a level proposed where its probability reaches 0.2;
* ``per level``: yellow from 0.5, orange from 0.3, red from 0.2 (the higher the damage,
  the less certainty a warning waits for);
* ``2 h``: a 2-h nowcast and warnings looking 2 h ahead (probability 0.5).

Lead time as in DESIGN.md: the time the observed hazard first met a level in a community
minus the time a warning at that level or higher first covered it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from _report import REPO, report_main

from yujing.replay import load_event, replay
from yujing.verify import verify

NOWCASTS = ("rainstorm_nowcast", "waterlogging_nowcast")
VARIANTS: dict[str, dict[str, Any]] = {
    "bundled": {},
    "p 0.2": {"warn_probability": 0.2},
    "per level": {"warn_probability": {"yellow": 0.5, "orange": 0.3, "red": 0.2}},
    "2 h": {"lead_time": "2 h", "look_ahead": "2 h"},
}
COLUMNS = ["hits", "misses", "false_alarms", "far", "csi", "lead_median_min", "lead_p90_min"]


def _variant(folder: Path, name: str, changes: dict[str, Any]) -> Path:
    """The bundled event with ``changes`` to both nowcasts, as a YAML file in ``folder``."""
    bundled = REPO / "configs" / "events" / "knmi-2010.yaml"
    document = yaml.safe_load(bundled.read_text(encoding="utf-8"))
    document["settings"] = str((bundled.parent / document["settings"]).resolve())
    document["name"] = "knmi-2010-" + name.replace(" ", "").replace(".", "")
    for hazard in NOWCASTS:
        options = document["hazards"][hazard]["options"]
        for key in ("lead_time", "warn_probability"):
            if key in changes:
                options[key] = changes[key]
        if "look_ahead" in changes:
            document["alerting"]["policy"][hazard]["look_ahead"] = changes["look_ahead"]
    path = folder / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _probability(value: float | dict[str, float]) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{level} {p:g}" for level, p in value.items())
    return f"{value:g}"


def _report(data_root: Path) -> str:
    rows, timings = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, changes in VARIANTS.items():
            event, settings = load_event(_variant(Path(folder), name, changes), data_root)
            started = time.perf_counter()
            result = replay(event, settings, output=Path(folder) / "out")
            outcome = verify(event, settings, result.folder, report=False)
            timings[name] = (time.perf_counter() - started, result.cycles, len(result.failures))
            for record in outcome.skill.to_dict("records"):
                rows.append({"variant": name, **record})
    skill = pd.DataFrame(rows)
    lines = [
        "# KNMI 26 August 2010: how much lead time can the radar nowcast give?",
        "",
        f"Measured {pd.Timestamp.now():%Y-%m-%d} on this machine (2 cores) by "
        "`benchmarks/knmi_lead_time.py`: the full event (91 cycles) replayed and scored "
        "under each setting; only the named options differ from "
        "`configs/events/knmi-2010.yaml`.",
        "",
        "| variant | nowcast | look-ahead | warn probability | replay + verify | failed cycles |",
        "|:--|:--|:--|--:|--:|--:|",
    ]
    for name, changes in VARIANTS.items():
        seconds, cycles, failed = timings[name]
        lines.append(
            f"| {name} | {changes.get('lead_time', '1 h')} | {changes.get('look_ahead', '1 h')} "
            f"| {_probability(changes.get('warn_probability', 0.5))} | {seconds:.0f} s "
            f"({cycles} cycles) "
            f"| {failed} |"
        )
    for hazard in NOWCASTS:
        table = skill[skill["hazard"] == hazard].set_index(["level", "variant"])
        order = [(level, name) for level in table.index.unique("level") for name in VARIANTS]
        table = table.reindex(order)[[*COLUMNS, "share_ge_60"]]
        lines += [
            "",
            f"`{hazard}` against its observed truth (lead times in minutes; "
            "`share_ge_60`: share of the events warned at least 60 minutes ahead):",
            "",
            table.reset_index().to_markdown(index=False, floatfmt=".2f"),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    report_main(__doc__, _report)

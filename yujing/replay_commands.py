"""The ``yujing replay`` and ``yujing verify`` commands: a real event cycle by cycle, then
its skill table and report.

::

    yujing replay mangkhut-2018 [--short] [--no-verify] [--output out/replay]
    yujing verify mangkhut-2018 [--output out/replay]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["add_replay_parsers"]


def _replay(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from yujing.compute import dask_compute
    from yujing.replay import load_event, replay

    event, settings = load_event(args.event, data_root=args.data_root)
    times = event.issue_times(args.short)
    console.print(
        f"replaying [bold]{event.title}[/bold]: {len(times)} cycles, "
        f"{times[0]:%Y-%m-%d %H:%M}Z to {times[-1]:%Y-%m-%d %H:%M}Z every "
        f"{event.every.total_seconds() / 60:g} min{' (shortened)' if args.short else ''}; "
        f"hazards {sorted(settings.hazards)}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("cycle", total=len(times))

        def advance(moment: Any) -> None:
            bar.update(task, advance=1, description=f"cycle {moment:%Y-%m-%d %H:%M}Z")

        with dask_compute(settings.compute):
            result = replay(event, settings, output=args.output, progress=advance, short=args.short)
    summary = result.summary
    if len(summary) <= 40:
        table = Table(title=event.title, title_justify="left")
        columns = [
            c
            for c in summary.columns
            if not c.startswith(("communities ", "onset ")) and c != "note"
        ]
        for column in columns:
            left = column in ("issue_time", "hazard")
            table.add_column(column, justify="left" if left else "right")
        for _, row in summary.iterrows():
            table.add_row(*(str(row[c]).replace("T", " ") for c in columns))
        console.print(table)
    console.print(
        f"{result.cycles} cycles in {result.seconds:.1f} s "
        f"({result.seconds / max(result.cycles, 1):.2f} s per cycle); written: "
        f"{result.folder / 'summary.csv'} and one NetCDF per cycle and hazard"
    )
    if result.deliveries:
        counts = ", ".join(f"{k} {v}" for k, v in result.deliveries.items())
        console.print(f"alerting: {counts} ({result.folder / 'deliveries.jsonl'})")
    for key, problem in result.failures.items():
        console.print(f"[bold red]{key} failed:[/bold red] {problem}", highlight=False)
    status = 1 if result.failures else 0
    if args.verify:
        status = max(status, _print_verification(console, event, settings, result.folder))
    return status


def _print_verification(console: Console, event: Any, settings: Any, folder: Path) -> int:
    from yujing.verify import verify

    outcome = verify(event, settings, folder)
    table = Table(title=f"skill: {event.name}", title_justify="left")
    labels = {
        "hazard": "hazard",
        "level": "level",
        "hits": "hits",
        "misses": "misses",
        "false_alarms": "false alarms",
        "pod": "POD",
        "far": "FAR",
        "csi": "CSI",
        "bias": "bias",
        "lead_median_min": "lead median min",
        "lead_p10_min": "p10",
        "lead_p90_min": "p90",
        "share_ge_60": "share >= 60 min",
        "agency_median_min": "ours - agency min",
        "truth": "against",
    }
    for column, label in labels.items():
        left = column in ("hazard", "level", "truth")
        table.add_column(label, justify="left" if left else "right")
    for _, row in outcome.skill.iterrows():
        cells = []
        for column in labels:
            value = row[column]
            if column == "truth":
                cells.append(str(value).split(" (")[0])  # the full label is in skill.csv
            elif isinstance(value, float) and np.isnan(value):
                cells.append("–")
            elif column in ("hits", "misses", "false_alarms"):
                cells.append(str(int(value)))  # a float when another row has none
            elif isinstance(value, float):
                cells.append(f"{value:.2f}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    console.print(table)
    for note in outcome.notes:
        console.print(f"note: {note}", highlight=False)
    for truth in sorted(set(outcome.skill["truth"].astype(str))):
        console.print(f"against {truth}", highlight=False)
    console.print(f"report: {outcome.report}")
    console.print(f"tables: {folder / 'skill.csv'}, {folder / 'verification.json'}")
    return 0


def _verify(args: argparse.Namespace, console: Console) -> int:
    from yujing.replay import load_event

    event, settings = load_event(args.event, data_root=args.data_root)
    folder = (args.output or settings.output_directory / "replay") / event.name
    return _print_verification(console, event, settings, folder)


def add_replay_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``replay`` and ``verify`` to the ``yujing`` command's subcommands."""
    replay = commands.add_parser("replay", help="replay a real event cycle by cycle")
    replay.add_argument("event", help="event name in configs/events/ or path to its YAML")
    replay.add_argument("--output", type=Path, default=None, help="output folder")
    replay.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    replay.add_argument(
        "--short", action="store_true", help="stop at the event's short_end (what CI runs)"
    )
    replay.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not score the replay and write its report afterwards",
    )
    replay.set_defaults(handler=_replay)

    verify = commands.add_parser("verify", help="score a replay and write its report")
    verify.add_argument("event", help="event name in configs/events/ or path to its YAML")
    verify.add_argument("--output", type=Path, default=None, help="folder the replay wrote to")
    verify.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    verify.set_defaults(handler=_verify)

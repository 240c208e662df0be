"""The ``yujing`` command line.

::

    yujing config check configs/shenzhen.yaml
    yujing run --config configs/shenzhen.yaml --at 2023-09-08T03:00Z
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ingest.errors import YujingError

__all__ = ["main"]


def _print_summary(console: Console, title: str, summary: pd.DataFrame) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("district")
    for column in summary.columns:
        table.add_column(str(column), justify="right")
    for district, row in summary.iterrows():
        table.add_row(str(district), *(str(value) for value in row.to_list()))
    console.print(table)


def _config_check(args: argparse.Namespace, console: Console) -> int:
    from hazard_models.region import load_region
    from yujing.settings import load_settings

    settings = load_settings(args.path, data_root=args.data_root)
    console.print(
        f"[green]OK[/green] {settings.config_path}: region {settings.region.name}, "
        f"{len(settings.sources)} source(s), hazards {sorted(settings.hazards)}"
    )
    if not args.no_region:
        region = load_region(settings.region, settings.communities, settings.cache_directory)
        layer = region.communities
        console.print(
            f"[green]OK[/green] community layer: {layer.sizes['community']} communities "
            f"({layer.attrs['kind']}), {region.weights.matrix.nnz} grid weights, attributes "
            f"{sorted(str(v) for v in layer.data_vars if v != 'geometry_wkt')}"
        )
    return 0


def _run(args: argparse.Namespace, console: Console) -> int:
    from ingest.contracts import utc_instant
    from yujing.pipeline import run_cycle
    from yujing.settings import load_settings

    issue_time = utc_instant(args.at, "--at")
    settings = load_settings(args.config, data_root=args.data_root)
    cycle = run_cycle(settings, issue_time, output_dir=args.output)
    local = issue_time.astimezone(__import__("zoneinfo").ZoneInfo(settings.region.timezone))
    for hazard, summary in cycle.summaries.items():
        result = cycle.results[hazard]
        _print_summary(
            console,
            f"{settings.region.name} {hazard} at {issue_time:%Y-%m-%d %H:%M}Z "
            f"({local:%H:%M} local; data up to {result.attrs['evaluation_time']}; "
            f"scheme {settings.hazards[hazard].scheme})",
            summary,
        )
        console.print(f"written: {cycle.paths[hazard]}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yujing", description="yujing 预警: climate-risk and early-warning pipeline"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration file")
    check.add_argument("path", type=Path)
    check.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    check.add_argument("--no-region", action="store_true", help="skip building the community layer")
    check.set_defaults(handler=_config_check)

    run = commands.add_parser("run", help="run one cycle on local data")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--at", required=True, help="issue time, ISO 8601 with zone (…Z, +08:00)")
    run.add_argument("--output", type=Path, default=None, help="output folder")
    run.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    run.set_defaults(handler=_run)
    return parser


def _version() -> str:
    from yujing import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``yujing`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    errors = Console(stderr=True, soft_wrap=True)
    try:
        status: int = args.handler(args, console)
    except YujingError as err:
        errors.print(f"[bold red]error:[/bold red] {err}", markup=True, highlight=False)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())

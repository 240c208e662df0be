"""The ``yujing`` command line.

::

    yujing config check configs/shenzhen.yaml
    yujing run --config configs/shenzhen.yaml --at 2023-09-08T03:00Z
    yujing ingest --config configs/knmi-demo.yaml [--source knmi_radar] [--as-of T]
    yujing catalogue --config configs/knmi-demo.yaml --source knmi_radar --as-of T
    yujing prune --config configs/knmi-demo.yaml [--dry-run] [--now T]
    yujing replay mangkhut-2018          # an event of configs/events/, or a path
    yujing dispatch --database sqlite:///out/alerts.db --mqtt 127.0.0.1:1883
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ingest.errors import YujingError
from yujing.errors import ConfigError

__all__ = ["main"]


def _print_summary(
    console: Console, title: str, summary: pd.DataFrame, index: str = "district"
) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column(index)
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
    if settings.compute.is_cluster:
        from yujing.compute import dask_compute

        with dask_compute(settings.compute) as where:
            reached = where.startswith("dask cluster")
        mark = "[green]OK[/green]" if reached else "[yellow]UNREACHABLE[/yellow]"
        console.print(f"{mark} compute: {where}", highlight=False)
    return 0


def _run(args: argparse.Namespace, console: Console) -> int:
    from ingest.contracts import utc_instant
    from yujing.compute import dask_compute
    from yujing.pipeline import run_cycle
    from yujing.settings import load_settings

    issue_time = utc_instant(args.at, "--at")
    settings = load_settings(args.config, data_root=args.data_root)
    store = _store(args, settings) if args.from_store else None
    warning = None
    with dask_compute(settings.compute) as where:
        if args.alert:
            from yujing.warn import warning_cycle

            warning = warning_cycle(
                settings, issue_time, output_dir=args.output, store=store, cycle=args.cycle
            )
            cycle = warning.cycle
        else:
            cycle = run_cycle(
                settings, issue_time, output_dir=args.output, store=store, cycle=args.cycle
            )
    if settings.compute.is_cluster:
        console.print(f"computed on: {where}", highlight=False)
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
        for note in cycle.notes.get(hazard, []):
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if args.verify:
        from yujing.pipeline import verify_nowcasts

        for hazard, scores in verify_nowcasts(settings, cycle).items():
            _print_scores(console, hazard, scores)
            if hazard in cycle.paths:
                stem = cycle.paths[hazard].with_suffix("")
                console.print(f"written: {stem}_skill.csv, {stem}_reliability.csv")
    if warning is not None:
        from alerting.database import public_url
        from yujing.warn import receipt_rows

        _print_summary(
            console,
            f"alerting at {issue_time:%Y-%m-%d %H:%M}Z: {public_url(settings.alert_database)}",
            pd.DataFrame(receipt_rows(warning)).set_index("hazard").fillna(""),
            index="hazard",
        )
        console.print("deliveries are sent by `yujing dispatch` (the outbox dispatcher)")
    for hazard, problem in cycle.failures.items():
        console.print(f"[bold red]{hazard} failed:[/bold red] {problem}", highlight=False)
    return 1 if cycle.failures else 0


def _serve(args: argparse.Namespace, console: Console) -> int:
    import uvicorn

    from alerting.database import public_url
    from yujing.settings import load_settings
    from yujing.warn import review_api

    settings = load_settings(args.config, data_root=args.data_root)
    public = args.public_url or f"http://{args.host}:{args.port}"
    app, close = review_api(settings, public_base_url=public, identity_header=args.identity_header)
    who = (
        f"reviewers are the proxy's {args.identity_header} header"
        if args.identity_header
        else "reviewers name themselves"
    )
    console.print(
        f"review API and CAP feed on http://{args.host}:{args.port} "
        f"(store {public_url(settings.alert_database)}); subscription routes need the "
        f"subscriber's token (yujing subscribers token); the review routes authenticate "
        f"no one: put them behind a proxy that does; {who}"
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        close()
    return 0


def _alerts_upgrade(args: argparse.Namespace, console: Console) -> int:
    from alerting.database import public_url
    from yujing.settings import load_settings
    from yujing.warn import upgrade_alert_database

    settings = load_settings(args.config, data_root=args.data_root)
    url = upgrade_alert_database(settings)
    console.print(f"alert database at the code's schema: {public_url(url)}")
    return 0


def _alerts_status(args: argparse.Namespace, console: Console) -> int:
    from alerting.outbox.store import AlertStore
    from yujing.settings import load_settings
    from yujing.warn import cycle_max_ages

    settings = load_settings(args.config, data_root=args.data_root)
    assert settings.alerting is not None  # alert_database raised otherwise
    store = AlertStore(settings.alert_database)
    try:
        report = settings.alerting.watchdog.assess(
            store, datetime.now(UTC), cycle_max_ages(settings)
        )
    finally:
        store.close()
    colour = {"ok": "green", "degraded": "yellow", "failing": "bold red"}
    table = Table(title=f"warning service: {report.status}", title_justify="left")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in report.checks:
        table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.detail)
    console.print(table)
    return report.exit_code


def _alerts_requeue(args: argparse.Namespace, console: Console) -> int:
    from alerting.outbox.store import AlertStore
    from yujing.settings import load_settings
    from yujing.subscribers import acting_user

    settings = load_settings(args.config, data_root=args.data_root)
    by = acting_user(args)
    store = AlertStore(settings.alert_database)
    try:
        requeued, expired, superseded = store.requeue(
            by,
            ids=args.id or None,
            subscriber_id=args.subscriber,
            include_expired=args.include_expired,
        )
    except ValueError as err:
        raise YujingError(f"yujing alerts requeue: {err}") from None
    finally:
        store.close()
    console.print(
        f"requeued {len(requeued)} dead letters (due now; `yujing dispatch` sends them)"
        + (
            f"; left {len(expired)} dead that have expired (ids {expired}; "
            "--include-expired sends them anyway)"
            if expired
            else ""
        )
        + (
            f"; left {len(superseded)} dead that newer deliveries of the same thread replace "
            f"(ids {superseded}; sent now they would arrive after the newer ones)"
            if superseded
            else ""
        ),
        highlight=False,
    )
    return 0


def _store(args: argparse.Namespace, settings: Any) -> Any:
    from ingest.store import PartitionStore

    return PartitionStore(args.store if args.store is not None else settings.store_directory)


def _ingest(args: argparse.Namespace, console: Console) -> int:
    from ingest.contracts import utc_instant
    from yujing.settings import load_settings

    settings = load_settings(args.config, data_root=args.data_root)
    as_of = utc_instant(args.as_of, "--as-of") if args.as_of else None
    names = args.source or sorted(settings.sources)
    unknown = [name for name in names if name not in settings.sources]
    if unknown:
        raise ConfigError(
            settings.config_path,
            [("sources", f"{unknown} not configured; use one of {sorted(settings.sources)}")],
        )
    store = _store(args, settings)
    server = None
    if args.replay_root is not None:
        from ingest.replay_server import ReplayServer

        if as_of is None:
            raise ConfigError(
                settings.config_path,
                [("--replay-root", "needs --as-of: the replay server's clock")],
            )
        server = ReplayServer(args.replay_root, clock=as_of).start()
        console.print(f"replay server {server.url} serving {args.replay_root} as of {as_of}")
    try:
        _ingest_all(settings, names, store, as_of, server.url if server else None, console)
    finally:
        if server is not None:
            server.stop()
    return 0


def _ingest_all(
    settings: Any,
    names: list[str],
    store: Any,
    as_of: Any,
    base_url: str | None,
    console: Console,
) -> None:
    from yujing.ingest import ingest_source

    table = Table(title=f"ingest into {store.root}", title_justify="left")
    for column in (
        "source",
        "reader",
        "partitions",
        "written",
        "replaced",
        "unchanged",
        "incomplete",
        "before history",
        "after as-of",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("source", "reader") else "right")
    for name in names:
        fetched = settings.sources[name].fetch is not None
        report = ingest_source(
            settings, name, store, as_of=as_of, base_url=base_url if fetched else None
        )
        table.add_row(
            name,
            report.reader,
            str(len(report.results)),
            str(report.written),
            str(report.replaced),
            str(report.unchanged),
            str(report.incomplete),
            str(report.before_window),
            str(report.not_yet_available),
            f"{report.seconds:.2f}",
        )
        for note in filter(None, report.notes):
            console.print(f"{name}: {note}", highlight=False)
    console.print(table)


def _catalogue(args: argparse.Namespace, console: Console) -> int:
    from ingest.contracts import utc_instant
    from yujing.settings import load_settings

    settings = load_settings(args.config, data_root=args.data_root)
    store = _store(args, settings)
    as_of = utc_instant(args.as_of, "--as-of")
    latest = store.latest_complete(args.source, as_of)
    if latest is None:
        console.print(f"no complete partition of {args.source!r} available as of {as_of:%FT%TZ}")
        return 1
    console.print(
        f"latest complete {args.source} as of {as_of:%FT%TZ}: reference time "
        f"{latest.reference_time:%FT%TZ} (available {latest.available_at:%FT%TZ}) {latest.path}",
        highlight=False,
    )
    return 0


def _prune(args: argparse.Namespace, console: Console) -> int:
    from ingest.contracts import utc_instant
    from yujing.housekeeping import prune
    from yujing.settings import load_settings

    settings = load_settings(args.config, data_root=args.data_root)
    now = utc_instant(args.now, "--now") if args.now else datetime.now(UTC)
    report = prune(settings, now, dry_run=args.dry_run)
    verb = "would delete" if report.dry_run else "deleted"
    table = Table(title=f"retention as of {report.now:%FT%H:%MZ}: {verb}", title_justify="left")
    for column in ("kind", "name", "older than", "files", "MB"):
        table.add_column(column, justify="right" if column in ("files", "MB") else "left")
    for line in report.lines:
        table.add_row(
            line.kind,
            line.name,
            f"{line.before:%FT%H:%MZ}",
            str(line.files),
            f"{line.size / 1e6:.1f}",
        )
    console.print(table)
    if not report.lines:
        console.print(
            "no retention configured: nothing pruned (sources.<name>.retention, output.retention)"
        )
    else:
        console.print(f"{verb}: {report.files} files, {report.size / 1e6:.1f} MB", highlight=False)
    return 0


def _print_scores(console: Console, name: str, scores: pd.DataFrame) -> None:
    title = (
        f"{name}: skill against the later radar frames (issued {scores.attrs['issue_time']}; "
        f"FSS {scores.attrs['fss']})"
        if "fss" in scores.attrs
        else f"{name} of >= 1 mm/h per pixel (reliability table in *_reliability.csv)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("lead (min)", justify="right")
    columns = [c for c in scores.columns if c != "valid_time"]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for lead, row in scores.iterrows():
        table.add_row(f"{lead:g}", *(f"{row[c]:.3f}" for c in columns))
    console.print(table)


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
    run.add_argument(
        "--cycle",
        choices=["nowcast", "daily"],
        default=None,
        help="only the hazards of this scheduled cycle (hazards.<name>.cycle); default all",
    )
    run.add_argument(
        "--from-store",
        action="store_true",
        help="read inputs from the ingest store (as of --at) instead of the sources",
    )
    run.add_argument("--store", type=Path, default=None, help="store folder (--from-store)")
    run.add_argument(
        "--verify",
        action="store_true",
        help="past events: score radar nowcasts against the later frames (CSI, FSS)",
    )
    run.add_argument(
        "--alert",
        action="store_true",
        help="then warn: the alerting cycle of the config's alerting.hazards on its database",
    )
    run.set_defaults(handler=_run)

    alerts = commands.add_parser("alerts", help="the alert database")
    alerts_commands = alerts.add_subparsers(dest="alerts_command", required=True)
    upgrade = alerts_commands.add_parser(
        "upgrade", help="create or migrate the schema of the config's alerting.database"
    )
    upgrade.add_argument("--config", type=Path, required=True)
    upgrade.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    upgrade.set_defaults(handler=_alerts_upgrade)
    status = alerts_commands.add_parser(
        "status",
        help="is the warning service working? (exit 0 ok, 1 degraded, 2 failing)",
    )
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    status.set_defaults(handler=_alerts_status)
    requeue = alerts_commands.add_parser(
        "requeue", help="send dead letters again once their endpoint is fixed"
    )
    requeue.add_argument("--config", type=Path, required=True)
    requeue.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    requeue.add_argument("--id", type=int, action="append", help="delivery id (repeat)")
    requeue.add_argument("--subscriber", default=None, help="only this subscriber's")
    requeue.add_argument(
        "--include-expired",
        action="store_true",
        help="also those past their expiry (warnings, impact windows)",
    )
    requeue.add_argument("--by", default=None, help="who requeues (default: login name)")
    requeue.set_defaults(handler=_alerts_requeue)

    serve = commands.add_parser(
        "serve", help="the forecasters' review API and the public CAP feed (yujing.api)"
    )
    serve.add_argument("--config", type=Path, required=True)
    serve.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--public-url", default=None, help="base URL of the feed's links")
    serve.add_argument(
        "--identity-header",
        default=None,
        help="request header in which the signing-in proxy names the user (e.g. "
        "X-Forwarded-User): the reviewer is that user, never what the request body says",
    )
    serve.set_defaults(handler=_serve)

    ingest = commands.add_parser("ingest", help="ingest configured sources into the store")
    ingest.add_argument("--config", type=Path, required=True)
    ingest.add_argument("--source", action="append", help="source name (repeat; default all)")
    ingest.add_argument(
        "--as-of",
        default=None,
        help="write only the source history up to this time (ISO); none: everything",
    )
    ingest.add_argument("--store", type=Path, default=None, help="store folder")
    ingest.add_argument(
        "--replay-root",
        type=Path,
        default=None,
        help="serve recorded HTTP answers from this folder on a local replay server "
        "(clock = --as-of) instead of the configured base URLs",
    )
    ingest.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    ingest.set_defaults(handler=_ingest)

    catalogue = commands.add_parser("catalogue", help="latest complete data of a source")
    catalogue.add_argument("--config", type=Path, required=True)
    catalogue.add_argument("--source", required=True)
    catalogue.add_argument("--as-of", required=True, help="ISO 8601 time with zone")
    catalogue.add_argument("--store", type=Path, default=None, help="store folder")
    catalogue.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    catalogue.set_defaults(handler=_catalogue)

    prune = commands.add_parser(
        "prune", help="delete store partitions, snapshots and results past their retention"
    )
    prune.add_argument("--config", type=Path, required=True)
    prune.add_argument("--now", default=None, help="count retention back from (ISO; default now)")
    prune.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    prune.add_argument("--data-root", type=Path, default=None, help="shared data folder")
    prune.set_defaults(handler=_prune)

    from yujing.dispatch import add_dispatch_parser
    from yujing.replay_commands import add_replay_parsers
    from yujing.subscribers import add_subscribers_parser

    add_dispatch_parser(commands)
    add_replay_parsers(commands)
    add_subscribers_parser(commands)
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

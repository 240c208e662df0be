"""``yujing subscribers``: the operator's side of sector-operator access.

::

    yujing subscribers token metro-line-1 --config configs/shenzhen.yaml --label "SCADA"
    yujing subscribers list --config configs/shenzhen.yaml
    yujing subscribers webhook-secret metro-line-1 --webhook-key-file /run/secrets/yujing-key
    yujing subscribers revoke metro-line-1 --database sqlite:///out/alerts.db [--hint yjs_AbC123]

``token`` issues a new access token for a subscriber id (before or after it registers) and
prints it once, alone on standard output (the notice goes to standard error, so
``TOKEN=$(yujing subscribers token …)`` works); hand it to the operator out of band. The API
(:mod:`yujing.api`) then lets its bearer manage that subscriber's set and nothing else.
``revoke`` ends all the subscriber's active tokens, or one by its hint; ``list`` shows every
subscriber and token holder with its set's size and its active tokens' hints. Who acts
(``--by``, default the login name) is written to the audit log. ``webhook-secret`` prints
the subscriber's webhook signing secret (hex), derived from the deployment's master key as
the dispatcher derives it (:func:`alerting.delivery.webhook.subscriber_secret`), so the
operator can hand it over with the token; it needs no database.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alerting.subscriptions import SubscriptionStore
from ingest.errors import YujingError

__all__ = ["acting_user", "add_subscribers_parser"]


def _store(args: argparse.Namespace) -> SubscriptionStore:
    if args.database is not None:
        return SubscriptionStore(args.database)
    from yujing.settings import load_settings

    settings = load_settings(args.config, data_root=args.data_root)
    return SubscriptionStore(settings.alert_database)


def acting_user(args: argparse.Namespace) -> str:
    """Who runs an operator command (``--by``, default the login name), for the audit log."""
    by = (args.by or getpass.getuser()).strip()
    if not by:
        raise YujingError("--by is blank; give your name (it is written to the audit log)")
    return by


def _token(args: argparse.Namespace, console: Console) -> int:
    with _store(args) as store:
        try:
            token = store.issue_token(args.subscriber_id, by=acting_user(args), label=args.label)
        except ValueError as err:
            raise YujingError(f"yujing subscribers token: {err}") from None
        registered = store.get(args.subscriber_id) is not None
    notice = Console(stderr=True, soft_wrap=True)
    notice.print(
        f"token for subscriber {args.subscriber_id!r}"
        + ("" if registered else " (not registered yet: it may now register its set)")
        + ". It is shown only now and not stored; give it to the subscriber over a "
        "secure channel. It goes in 'Authorization: Bearer <token>'.",
        highlight=False,
    )
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    return 0


def _revoke(args: argparse.Namespace, console: Console) -> int:
    with _store(args) as store:
        revoked = store.revoke_tokens(args.subscriber_id, by=acting_user(args), hint=args.hint)
    which = f"token {args.hint}" if args.hint else "active tokens"
    if not revoked:
        console.print(f"subscriber {args.subscriber_id!r} has no {which} to revoke")
        return 1
    console.print(f"revoked {revoked} of subscriber {args.subscriber_id!r}'s {which}")
    return 0


def _list(args: argparse.Namespace, console: Console) -> int:
    with _store(args) as store:
        subscriptions = store.get_many(store.subscriber_ids())
        tokens = store.tokens()
        where = store.where
    active: dict[str, list[str]] = {}
    for record in tokens:
        if record.active:
            active.setdefault(record.subscriber_id, []).append(record.hint + "…")
    table = Table(title=f"subscribers in {where}", title_justify="left")
    for column in ("subscriber", "name", "sector", "version", "assets", "rules", "channels"):
        table.add_column(column, justify="right" if column in {"version", "assets"} else "left")
    table.add_column("active tokens")
    for subscriber_id in sorted(set(subscriptions) | set(active)):
        found = subscriptions.get(subscriber_id)
        hints = ", ".join(active.get(subscriber_id, [])) or "none"
        if found is None:
            table.add_row(subscriber_id, "(not registered)", "", "", "", "", "", hints)
            continue
        request = found.request
        table.add_row(
            subscriber_id,
            request.subscriber.name,
            request.subscriber.sector,
            str(found.version),
            str(len(request.assets)),
            ", ".join(sorted({rule.hazard for rule in request.rules})),
            ", ".join(channel.kind for channel in request.channels),
            hints,
        )
    console.print(table)
    return 0


def _webhook_secret(args: argparse.Namespace, console: Console) -> int:
    from alerting.delivery.webhook import subscriber_secret
    from yujing.dispatch import KEY_VARIABLE, master_key

    key = master_key(args.webhook_key_file)
    if key is None:
        raise YujingError(
            f"no webhook master key: give --webhook-key-file or set ${KEY_VARIABLE} (the key "
            "the dispatcher signs with)"
        )
    sys.stdout.write(subscriber_secret(key, args.subscriber_id).hex() + "\n")
    sys.stdout.flush()
    return 0


def add_subscribers_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``subscribers`` command to the ``yujing`` parser."""
    parser = commands.add_parser(
        "subscribers", help="sector operators' access tokens and subscriptions"
    )
    actions = parser.add_subparsers(dest="subscribers_command", required=True)

    def common(action: argparse.ArgumentParser) -> None:
        where = action.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", type=Path, help="its alerting.database")
        where.add_argument("--database", help="alert database URL (SQLAlchemy), as dispatch")
        action.add_argument("--data-root", type=Path, default=None, help="shared data folder")

    token = actions.add_parser("token", help="issue an access token (printed once)")
    token.add_argument("subscriber_id", help="the subscriber id, e.g. yantian-port")
    token.add_argument("--label", default="", help="what the token is for (shown in list)")
    token.add_argument("--by", default=None, help="who issues it (default: login name)")
    common(token)
    token.set_defaults(handler=_token)

    revoke = actions.add_parser("revoke", help="revoke a subscriber's tokens")
    revoke.add_argument("subscriber_id")
    revoke.add_argument("--hint", default=None, help="only the token starting so (yjs_…)")
    revoke.add_argument("--by", default=None, help="who revokes (default: login name)")
    common(revoke)
    revoke.set_defaults(handler=_revoke)

    listing = actions.add_parser("list", help="subscribers, their sets and active tokens")
    common(listing)
    listing.set_defaults(handler=_list)

    secret = actions.add_parser(
        "webhook-secret", help="a subscriber's webhook signing secret (hex) to hand over"
    )
    secret.add_argument("subscriber_id")
    secret.add_argument("--webhook-key-file", type=Path, default=None)
    secret.set_defaults(handler=_webhook_secret)

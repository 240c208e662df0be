"""The public Atom feed of the CAP warnings in force.

Readers (Google Public Alerts, national aggregators, media) poll one Atom 1.0 feed
(RFC 4287) and find each warning as an ``<entry>`` that links to its CAP 1.2 message and
carries the message itself, as Google's public alerts and many national services do::

    <feed xmlns="http://www.w3.org/2005/Atom">
      <id/> <title/> <updated/> <link rel="self"/>
      <entry>                                    one per message in force, newest first
        <id>tag:sender,date:identifier</id> <title>headline</title> <updated>sent</updated>
        <author><name>senderName</name></author> <summary>description</summary>
        <link rel="alternate" type="application/cap+xml" href="cap_url(identifier)"/>
        <content type="application/cap+xml"><alert xmlns="urn:oasis:...:cap:1.2">...</alert>
      </entry>
    </feed>

In force at ``now``
    A message is in force from its ``sent`` time while it has not expired
    (``expires > now``) and no newer message of the same hazard and area replaced it: an
    Update or Cancel threads on the area's previous message, so the feed shows each area's
    current word once. A Cancel stays until its own expiry, so readers see the all-clear.

Determinism
    The same messages and ``now`` give the same bytes: entries are ordered by (sent
    descending, identifier), times are written in UTC as RFC 3339 with an explicit offset
    (``2018-09-16T01:00:00+00:00``), and each namespace is declared on the element that
    starts it (the embedded ``<alert>`` carries its own ``xmlns``, so it can be cut out of
    the feed as a standalone CAP document).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, SubElement

from alerting.cap_rules import CAP12_NAMESPACE, safe_parse
from alerting.errors import CapError
from alerting.outbox.records import MessageRecord

__all__ = ["ATOM_NAMESPACE", "CAP_MEDIA_TYPE", "atom_feed", "messages_in_force"]

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"

_ATOM = "{" + ATOM_NAMESPACE + "}"
_CAP = "{" + CAP12_NAMESPACE + "}"
# RFC 4151 authorityName: a DNS name or an e-mail address.
_AUTHORITY = re.compile(
    r"^(?:[A-Za-z0-9._%+-]+@)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def _rfc3339(value: datetime, what: str) -> str:
    """``value`` in UTC with seconds and an explicit offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone; pass an aware datetime")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def messages_in_force(messages: Sequence[MessageRecord], now: datetime) -> list[MessageRecord]:
    """The messages in force at ``now``, newest first.

    Parameters
    ----------
    messages
        Recorded CAP messages in any order (e.g. :meth:`AlertStore.messages`).
    now
        The time of the feed (aware).

    Returns
    -------
    list of MessageRecord
        For each (hazard, area) its newest message sent by ``now``, if that one has not
        expired at ``now``; ordered by sent time (newest first), then identifier.
    """
    _rfc3339(now, "now")
    ordered = sorted(
        (message for message in messages if message.sent <= now),
        key=lambda message: message.identifier,
    )
    ordered.sort(key=lambda message: message.sent, reverse=True)
    newest: dict[tuple[str, str], MessageRecord] = {}
    for message in ordered:
        newest.setdefault((message.hazard, message.area), message)
    current = {message.identifier for message in newest.values() if message.expires > now}
    return [message for message in ordered if message.identifier in current]


def _entry_id(identifier: str, sender: str, sent: datetime) -> str:
    """A tag: URI (RFC 4151) from the CAP sender and identifier, else a name-based UUID."""
    if _AUTHORITY.match(sender):
        day = sent.astimezone(UTC).date().isoformat()
        return f"tag:{sender},{day}:{quote(identifier, safe='')}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cap:{sender},{identifier}')}"


def _cap_text(alert: Element, name: str) -> str | None:
    """Stripped text of the first ``name`` in the alert or its first info."""
    for element in (alert, alert.find(_CAP + "info")):
        child = None if element is None else element.find(_CAP + name)
        if child is not None and child.text and child.text.strip():
            return child.text.strip()
    return None


def _embedded_cap(message: MessageRecord) -> Element:
    """The message's ``<alert>`` element, parsed safely; refuses anything but CAP 1.2."""
    try:
        alert = safe_parse(message.xml)
    except CapError as error:
        raise CapError(error.problems, source=f"stored CAP message {message.identifier}") from None
    if alert.tag != _CAP + "alert":
        raise CapError(
            [f"document: root is {alert.tag}, not a CAP 1.2 <alert>; re-record the message"],
            source=f"stored CAP message {message.identifier}",
        )
    return alert


def _add(parent: Element, name: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, _ATOM + name, attributes)
    element.text = text
    return element


def _entry(feed: Element, message: MessageRecord, cap_url: Callable[[str], str]) -> None:
    alert = _embedded_cap(message)
    sender = _cap_text(alert, "sender") or ""
    entry = _add(feed, "entry")
    _add(entry, "id", _entry_id(message.identifier, sender, message.sent))
    _add(entry, "title", message.headline)
    _add(entry, "updated", _rfc3339(message.sent, f"message {message.identifier} sent"))
    author = _add(entry, "author")
    _add(author, "name", _cap_text(alert, "senderName") or sender or "unknown sender")
    summary = _cap_text(alert, "description") or message.headline
    _add(entry, "summary", summary)
    _add(
        entry,
        "link",
        rel="alternate",
        type=CAP_MEDIA_TYPE,
        href=cap_url(message.identifier),
    )
    _add(entry, "content", type=CAP_MEDIA_TYPE).append(alert)


def _declare_namespaces(element: Element, inherited: str = "") -> None:
    """Write each ``{namespace}tag`` as ``tag`` with ``xmlns`` where the namespace starts.

    ElementTree would otherwise declare every namespace on the root with made-up prefixes
    (``ns1:alert``); declaring them in place keeps the embedded CAP a standalone document.
    """
    namespace, local = "", element.tag
    if local.startswith("{"):
        namespace, _, local = local[1:].partition("}")
    element.tag = local
    if namespace != inherited:
        element.set("xmlns", namespace)
    for child in element:
        _declare_namespaces(child, namespace)


def atom_feed(
    messages: Sequence[MessageRecord],
    *,
    feed_id: str,
    title: str,
    self_url: str,
    cap_url: Callable[[str], str],
    now: datetime,
) -> bytes:
    """The Atom 1.0 feed of the CAP messages in force at ``now``.

    Parameters
    ----------
    messages
        Recorded CAP messages (any order); those not in force are left out
        (:func:`messages_in_force`).
    feed_id
        The feed's permanent IRI (``atom:id``), e.g. its public URL.
    title
        The feed's title.
    self_url
        Where the feed is published (``link rel="self"``).
    cap_url
        The public URL of one message's CAP XML, from its identifier.
    now
        The time of the feed (aware); the feed's ``updated`` when no message is in force.

    Returns
    -------
    bytes
        UTF-8 XML with a declaration; the same bytes for the same inputs.

    Raises
    ------
    CapError
        If a stored message is not well-formed CAP 1.2 XML (the store was corrupted).
    ValueError
        If ``now`` or a message's ``sent`` is naive.

    References
    ----------
    RFC 4287, The Atom Syndication Format, §4.1.3.3 (XML content is one child element).
    RFC 4151, The 'tag' URI Scheme.
    """
    current = messages_in_force(messages, now)
    feed = Element(_ATOM + "feed")
    _add(feed, "id", feed_id)
    _add(feed, "title", title)
    updated = current[0].sent if current else now
    _add(feed, "updated", _rfc3339(updated, "feed updated"))
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    for message in current:
        _entry(feed, message, cap_url)
    _declare_namespaces(feed)
    ElementTree.indent(feed, space="  ")
    return ElementTree.tostring(feed, encoding="UTF-8", xml_declaration=True) + b"\n"

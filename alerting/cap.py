"""CAP 1.2 messages of yujing warnings: model, identifiers, writing and reading.

A warning goes to emergency managers and to the public Atom feed as an OASIS Common
Alerting Protocol 1.2 message. This module holds

* the message as frozen dataclasses: :class:`CapAlert` → :class:`CapInfo` (one per
  language) → :class:`CapArea`, plus :class:`CapReference` for Update and Cancel;
* :func:`cap_identifier`, the deterministic identifier of a warning message;
* :func:`to_xml`, which writes deterministic UTF-8 bytes and refuses to write an invalid
  message, and :func:`parse_cap`, which reads a message safely and refuses an invalid one.

Both directions check with :func:`alerting.cap_rules.validate_cap` (safe parsing, the OASIS
schema, the CAP prose rules and the Google Public Alerts requirements).

Conventions
    Times are timezone-aware ``datetime`` objects without fractions of a second; CAP writes
    them with an explicit offset (``2018-09-16T09:00:00+08:00``, never ``Z``). Points are
    ``(latitude, longitude)`` in decimal degrees, as CAP orders them. Value pairs
    (``parameters``, ``event_codes``, ``geocodes``) are ``(valueName, value)``.

Round trip
    ``parse_cap(to_xml(alert)) == alert`` for alerts whose texts carry no leading or
    trailing whitespace and whose coordinates have at most 6 decimals (what yujing builds).
    Inbound elements yujing does not model (``resource``, ``altitude``, ``ceiling``) are
    dropped by :func:`parse_cap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal, cast
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, SubElement

from alerting.cap_rules import (
    CAP12_NAMESPACE,
    check_alert_element,
    parse_polygon,
    parse_references,
    safe_parse,
    validate_cap,
)
from alerting.errors import CapError

__all__ = [
    "CAP12_NAMESPACE",
    "CapAlert",
    "CapArea",
    "CapInfo",
    "CapReference",
    "cap_identifier",
    "parse_cap",
    "to_xml",
    "validate_cap",
]

Status = Literal["Actual", "Exercise", "System", "Test", "Draft"]
MsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
Scope = Literal["Public", "Restricted", "Private"]
Category = Literal[
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
]  # fmt: skip
ResponseType = Literal[
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear",
    "None",
]  # fmt: skip
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
ValuePair = tuple[str, str]
Point = tuple[float, float]

BEIJING_TIME = timezone(timedelta(hours=8), "UTC+08:00")
_NS = "{" + CAP12_NAMESPACE + "}"


def _check_time(owner: str, name: str, value: datetime | None) -> list[str]:
    """Problems of one CAP time field (naive or with fractions of a second)."""
    if value is None:
        return []
    if value.tzinfo is None or value.utcoffset() is None:
        return [f"{owner}.{name}: {value} has no UTC offset; pass a timezone-aware datetime"]
    if value.microsecond:
        return [f"{owner}.{name}: {value} has fractions of a second; CAP times are whole seconds"]
    return []


@dataclass(frozen=True)
class CapReference:
    """An earlier message an Update, Cancel, Ack or Error refers to."""

    sender: str
    identifier: str
    sent: datetime

    def __post_init__(self) -> None:
        problems = _check_time("CapReference", "sent", self.sent)
        if problems:
            raise CapError(problems, source=f"reference {self.identifier}")


@dataclass(frozen=True)
class CapArea:
    """Where a warning applies: a description plus outlines, circles and codes.

    ``polygons`` are closed rings of ``(lat, lon)``; ``circles`` are ``(lat, lon,
    radius_km)``; ``geocodes`` are ``(valueName, value)`` such as
    ``("GB/T 2260", "440304")``.
    """

    area_desc: str
    polygons: tuple[tuple[Point, ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    geocodes: tuple[ValuePair, ...] = ()


@dataclass(frozen=True)
class CapInfo:
    """The warning in one language (CAP ``info``)."""

    language: str
    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    expires: datetime
    description: str
    areas: tuple[CapArea, ...]
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[ValuePair, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[ValuePair, ...] = ()

    def __post_init__(self) -> None:
        problems = [
            problem
            for name in ("effective", "onset", "expires")
            for problem in _check_time("CapInfo", name, getattr(self, name))
        ]
        if problems:
            raise CapError(problems, source=f"info {self.language}")


@dataclass(frozen=True)
class CapAlert:
    """A CAP 1.2 message (CAP ``alert``)."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    infos: tuple[CapInfo, ...]
    references: tuple[CapReference, ...] = ()
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    incidents: str | None = None

    def __post_init__(self) -> None:
        problems = _check_time("CapAlert", "sent", self.sent)
        if problems:
            raise CapError(problems, source=f"alert {self.identifier}")


def cap_identifier(
    sender_code: str, hazard: str, area_code: str, issue_time: datetime, sequence: int
) -> str:
    """Deterministic CAP identifier of a yujing warning message.

    Parameters
    ----------
    sender_code
        The issuing body's 14-digit code ``ZZZZZZDDDUUUXX``: GB/T 2260 administrative code
        (6), GB/T 4657 agency code (3), internal unit (3, default ``000``), extension (2,
        default ``00``); e.g. ``44030041600000``.
    hazard
        Hazard name, letters, digits and ``-`` (``typhoon``, ``rainstorm``).
    area_code
        The warning area's code, letters, digits and ``-`` (``440304`` for Futian, a
        9-digit sub-district code, a community id).
    issue_time
        Timezone-aware issue time; written in Beijing time (UTC+08:00) to whole seconds.
    sequence
        0–9: the number of this message among those the sender issues in the same second.

    Returns
    -------
    str
        ``{sender_code}_{YYYYMMDDhhmmss}_{sequence}_{hazard}_{area_code}``.

    Raises
    ------
    ValueError
        For a malformed code, a naive time or a sequence outside 0–9.

    Notes
    -----
    The first 31 characters are the identifier format of the national early-warning
    profile, ``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`` (sender code, entry time in Beijing time,
    sequence 0–9 within the sender's second), so a system expecting that format can take the
    prefix. yujing appends ``_{hazard}_{area_code}`` so that the identifier also names the
    warning and stays unique when areas of one cycle share an issue second. Only characters
    CAP allows in identifiers are used (no spaces, commas, ``<`` or ``&``).

    References
    ----------
    GB/T 35965.1-2018, Protocol for emergency information exchange — Part 1: Early warning
    message, Appendix A.1.1–A.1.3 (format as reproduced in a public copy of the appendix;
    the standard text itself was not available to check).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> cap_identifier("44030041600000", "typhoon", "440304",
    ...                datetime(2018, 9, 16, 1, 0, tzinfo=timezone.utc), 0)
    '44030041600000_20180916090000_0_typhoon_440304'
    """
    if len(sender_code) != 14 or not sender_code.isascii() or not sender_code.isdigit():
        raise ValueError(
            f"sender_code {sender_code!r} is not 14 digits ZZZZZZDDDUUUXX; give the GB/T 2260 "
            "admin code, the GB/T 4657 agency code, then '000' and '00' by default"
        )
    for name, token in (("hazard", hazard), ("area_code", area_code)):
        if not token or not all(c.isascii() and (c.isalnum() or c == "-") for c in token):
            raise ValueError(
                f"{name} {token!r} must be non-empty ASCII letters, digits or '-'; rename it"
            )
    if issue_time.tzinfo is None or issue_time.utcoffset() is None:
        raise ValueError(f"issue_time {issue_time} has no UTC offset; pass an aware datetime")
    if not 0 <= sequence <= 9:
        raise ValueError(
            f"sequence {sequence} is outside 0-9 (one digit in the national format); issue "
            "further messages in the next second"
        )
    stamp = issue_time.astimezone(BEIJING_TIME).strftime("%Y%m%d%H%M%S")
    return f"{sender_code}_{stamp}_{sequence}_{hazard}_{area_code}"


def _time_text(value: datetime, tz: tzinfo) -> str:
    """A CAP time: seconds and an explicit offset (``+00:00`` for UTC, never ``Z``)."""
    return value.astimezone(tz).isoformat(timespec="seconds")


def _number(value: float) -> str:
    """A coordinate with at most 6 decimals (Google CAP requirements), no trailing zeros."""
    text = f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _add(parent: Element, name: str, text: str | None) -> None:
    """Append ``<name>text</name>`` when ``text`` is not None."""
    if text is not None:
        SubElement(parent, _NS + name).text = text


def _add_pairs(parent: Element, name: str, pairs: tuple[ValuePair, ...]) -> None:
    """Append ``<name><valueName/><value/></name>`` per pair."""
    for value_name, value in pairs:
        element = SubElement(parent, _NS + name)
        _add(element, "valueName", value_name)
        _add(element, "value", value)


def _info_element(parent: Element, info: CapInfo, tz: tzinfo) -> None:
    """Append one ``info`` in the element order of CAP-v1.2.xsd."""
    element = SubElement(parent, _NS + "info")
    _add(element, "language", info.language)
    for category in info.categories:
        _add(element, "category", category)
    _add(element, "event", info.event)
    for response_type in info.response_types:
        _add(element, "responseType", response_type)
    _add(element, "urgency", info.urgency)
    _add(element, "severity", info.severity)
    _add(element, "certainty", info.certainty)
    _add(element, "audience", info.audience)
    _add_pairs(element, "eventCode", info.event_codes)
    for name in ("effective", "onset", "expires"):
        value = getattr(info, name)
        _add(element, name, None if value is None else _time_text(value, tz))
    _add(element, "senderName", info.sender_name)
    _add(element, "headline", info.headline)
    _add(element, "description", info.description)
    _add(element, "instruction", info.instruction)
    _add(element, "web", info.web)
    _add(element, "contact", info.contact)
    _add_pairs(element, "parameter", info.parameters)
    for area in info.areas:
        area_element = SubElement(element, _NS + "area")
        _add(area_element, "areaDesc", area.area_desc)
        for polygon in area.polygons:
            pairs = (f"{_number(lat)},{_number(lon)}" for lat, lon in polygon)
            _add(area_element, "polygon", " ".join(pairs))
        for lat, lon, radius in area.circles:
            _add(area_element, "circle", f"{_number(lat)},{_number(lon)} {_number(radius)}")
        _add_pairs(area_element, "geocode", area.geocodes)


def to_xml(alert: CapAlert, tz: tzinfo | None = None, schema_path: Path | None = None) -> bytes:
    """The CAP 1.2 XML of ``alert``: UTF-8, indented, the same bytes for the same input.

    Parameters
    ----------
    alert
        The message.
    tz
        Offset to write every time in (the deployment's, e.g. ``timezone(timedelta(hours=8))``
        for Shenzhen); UTC (``+00:00``) when not given.
    schema_path
        The OASIS ``CAP-v1.2.xsd``; the shared data copy when not given.

    Returns
    -------
    bytes
        The message, namespace ``urn:oasis:names:tc:emergency:cap:1.2``.

    Raises
    ------
    CapError
        When the written message fails :func:`validate_cap`: yujing never emits invalid CAP.
    """
    zone = tz or UTC
    root = Element(_NS + "alert")
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", _time_text(alert.sent, zone))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "source", alert.source)
    _add(root, "scope", alert.scope)
    _add(root, "restriction", alert.restriction)
    _add(root, "addresses", alert.addresses)
    for code in alert.codes:
        _add(root, "code", code)
    _add(root, "note", alert.note)
    if alert.references:
        entries = (
            f"{ref.sender},{ref.identifier},{_time_text(ref.sent, zone)}"
            for ref in alert.references
        )
        _add(root, "references", " ".join(entries))
    _add(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info_element(root, info, zone)
    ElementTree.indent(root, space="  ")
    xml = ElementTree.tostring(
        root, encoding="UTF-8", xml_declaration=True, default_namespace=CAP12_NAMESPACE
    )
    problems = validate_cap(xml, schema_path)
    if problems:
        raise CapError(problems, source=f"CAP message {alert.identifier} built by yujing")
    return xml + b"\n"


def _text(element: Element, name: str) -> str | None:
    """Stripped text of the first child ``name`` (None when absent)."""
    child = element.find(_NS + name)
    return None if child is None else (child.text or "").strip()


def _texts(element: Element, name: str) -> tuple[str, ...]:
    """Stripped texts of every child ``name``."""
    return tuple((child.text or "").strip() for child in element.findall(_NS + name))


def _time(element: Element, name: str) -> datetime | None:
    """A CAP time child (the schema has checked its form)."""
    text = _text(element, name)
    return None if text is None else datetime.fromisoformat(text)


def _required_time(element: Element, name: str) -> datetime:
    """A CAP time child that the checks have required to be present."""
    value = _time(element, name)
    if value is None:
        raise CapError([f"{name}: missing; add it"])  # unreachable after the checks
    return value


def _pairs(element: Element, name: str) -> tuple[ValuePair, ...]:
    """``(valueName, value)`` of every child ``name``."""
    return tuple(
        (_text(child, "valueName") or "", _text(child, "value") or "")
        for child in element.findall(_NS + name)
    )


def _circle(text: str) -> tuple[float, float, float]:
    """``(lat, lon, radius_km)`` of a CAP circle ``"lat,lon radius"``."""
    centre, radius = text.split()
    lat, lon = centre.split(",")
    return float(lat), float(lon), float(radius)


def _area(element: Element) -> CapArea:
    """A :class:`CapArea` from a checked ``area`` element."""
    return CapArea(
        area_desc=_text(element, "areaDesc") or "",
        polygons=tuple(parse_polygon(text) for text in _texts(element, "polygon")),
        circles=tuple(_circle(text) for text in _texts(element, "circle")),
        geocodes=_pairs(element, "geocode"),
    )


def _info(element: Element) -> CapInfo:
    """A :class:`CapInfo` from a checked ``info`` element."""
    return CapInfo(
        language=_text(element, "language") or "en-US",  # CAP 1.2 §3.2.2 default
        categories=cast(tuple[Category, ...], _texts(element, "category")),
        event=_text(element, "event") or "",
        urgency=cast(Urgency, _text(element, "urgency")),
        severity=cast(Severity, _text(element, "severity")),
        certainty=cast(Certainty, _text(element, "certainty")),
        expires=_required_time(element, "expires"),
        description=_text(element, "description") or "",
        areas=tuple(_area(area) for area in element.findall(_NS + "area")),
        response_types=cast(tuple[ResponseType, ...], _texts(element, "responseType")),
        audience=_text(element, "audience"),
        event_codes=_pairs(element, "eventCode"),
        effective=_time(element, "effective"),
        onset=_time(element, "onset"),
        sender_name=_text(element, "senderName"),
        headline=_text(element, "headline"),
        instruction=_text(element, "instruction"),
        web=_text(element, "web"),
        contact=_text(element, "contact"),
        parameters=_pairs(element, "parameter"),
    )


def parse_cap(xml: bytes, schema_path: Path | None = None) -> CapAlert:
    """Read a CAP 1.2 message safely, refusing it unless it passes :func:`validate_cap`.

    Parameters
    ----------
    xml
        The message as bytes.
    schema_path
        The OASIS ``CAP-v1.2.xsd``; the shared data copy when not given.

    Returns
    -------
    CapAlert
        The message. Texts are stripped; a missing ``language`` becomes ``en-US`` (the CAP
        default); ``resource``, ``altitude`` and ``ceiling`` elements are not kept.

    Raises
    ------
    CapError
        Listing every problem: a DTD or entity declaration, malformed XML, CAP 1.1 or another
        namespace, a schema error, or a broken CAP/Google rule.
    """
    root = safe_parse(xml)
    problems = check_alert_element(root, schema_path)
    if problems:
        raise CapError(problems, source=f"CAP message {_text(root, 'identifier') or ''}".strip())
    references = tuple(
        CapReference(sender, identifier, sent)
        for sender, identifier, sent in parse_references(_text(root, "references") or "")
    )
    return CapAlert(
        identifier=_text(root, "identifier") or "",
        sender=_text(root, "sender") or "",
        sent=_required_time(root, "sent"),
        status=cast(Status, _text(root, "status")),
        msg_type=cast(MsgType, _text(root, "msgType")),
        scope=cast(Scope, _text(root, "scope")),
        infos=tuple(_info(info) for info in root.findall(_NS + "info")),
        references=references,
        source=_text(root, "source"),
        restriction=_text(root, "restriction"),
        addresses=_text(root, "addresses"),
        codes=_texts(root, "code"),
        note=_text(root, "note"),
        incidents=_text(root, "incidents"),
    )

"""Checking CAP 1.2 messages: safe parsing, the OASIS schema and the rules it leaves out.

:func:`validate_cap` answers "may this message be sent or accepted?" with a list of
problems, each a sentence naming the element (``info[1]/area[2]/polygon[1]``) and the fix;
an empty list means valid. It runs three stages:

1. Safe parsing with :mod:`defusedxml`: a document type declaration, entity declarations or
   external references are refused before anything is expanded (XXE, billion laughs).
2. The OASIS CAP 1.2 schema (``CAP-v1.2.xsd``) with :mod:`xmlschema`. The schema already
   enforces element order, the code lists and times with an explicit offset
   (``2018-09-16T09:00:00+08:00``; ``Z`` is refused by its pattern).
3. The rules the schema does not check: the CAP 1.2 specification's own prose rules and the
   Google Public Alerts requirements that yujing adopts for its public feed:

   ========================================  ================================================
   rule                                      source
   ========================================  ================================================
   ``identifier``/``sender`` without         CAP 1.2 §3.2.1 (restricted characters)
   spaces, commas, ``<`` or ``&``
   ``restriction`` for scope Restricted,     CAP 1.2 §3.2.1 (conditional elements)
   ``addresses`` for scope Private
   ``references`` for Update and Cancel,     Google Public Alerts CAP v1.0 (conditional);
   each ``sender,identifier,sent``           CAP 1.2 §3.2.1 (format)
   at least one ``info``                     Google Public Alerts CAP v1.0
   ``expires`` in every ``info``, later      Google Public Alerts CAP v1.0 (required);
   than ``sent``                             yujing (order)
   ``description`` in every ``info``         Google Public Alerts CAP v1.0 (required)
   at least one ``area`` per ``info``, each  Google Public Alerts CAP v1.0 (required);
   with a polygon, circle or geocode         Google CAP requirements, ``area`` entity
   one ``info`` per language (absent         Google CAP requirements (multilingual alerts);
   ``language`` counts as ``en-US``)         CAP 1.2 §3.2.2 (default language)
   ``web`` an absolute http(s) URL           Google Public Alerts CAP v1.0
   polygons: pairs ``lat,lon``, at least 4,  CAP 1.2 §3.2.4; Google CAP requirements
   first == last, in range, no               ("valid polygons without self-intersecting
   self-intersection                         edges")
   ========================================  ================================================

   The Google "at most 6 decimals" rule is applied when yujing writes polygons
   (:func:`alerting.cap.to_xml`) and not enforced on inbound messages.

CAP 1.1 messages are refused with one problem asking for CAP 1.2.

References
----------
OASIS, Common Alerting Protocol Version 1.2, 1 July 2010,
http://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2-os.html

Google, Google Public Alerts CAP v1.0,
https://developers.google.com/public-alerts/reference/cap-google

Google, Google CAP requirements,
https://developers.google.com/public-alerts/reference/google-cap-requirements
"""

from __future__ import annotations

import functools
import os
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeElementTree
import xmlschema
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from alerting.errors import CapError

__all__ = [
    "CAP11_NAMESPACE",
    "CAP12_NAMESPACE",
    "check_alert_element",
    "default_schema_path",
    "parse_polygon",
    "parse_references",
    "safe_parse",
    "validate_cap",
]

CAP12_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.1"
_NS = "{" + CAP12_NAMESPACE + "}"
_RESTRICTED = re.compile(r"[\s,<&]")
_DEFAULT_LANGUAGE = "en-US"  # CAP 1.2 §3.2.2: the default when <language> is absent


def default_schema_path() -> Path:
    """Path of the OASIS CAP 1.2 schema in the shared data folder.

    Returns
    -------
    Path
        ``$YUJING_DATA_ROOT/cap/CAP-v1.2.xsd`` when the variable is set, else
        ``<repository>/../shared/data/cap/CAP-v1.2.xsd``. Read at call time, never at import.
    """
    configured = os.environ.get("YUJING_DATA_ROOT")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data"
    return root / "cap" / "CAP-v1.2.xsd"


@functools.lru_cache(maxsize=4)
def _schema(path: Path) -> xmlschema.XMLSchema:
    """The compiled schema of ``path`` (built once per path)."""
    if not path.exists():
        raise CapError(
            [f"CAP 1.2 schema not found at {path}; set YUJING_DATA_ROOT or pass schema_path"],
            source="CAP schema",
        )
    return xmlschema.XMLSchema(str(path))


def safe_parse(xml: bytes) -> Element:
    """Parse ``xml`` refusing DTDs, entity declarations and external references.

    Parameters
    ----------
    xml
        The message as bytes (its XML declaration names the encoding).

    Returns
    -------
    xml.etree.ElementTree.Element
        The root element.

    Raises
    ------
    CapError
        When the document declares a DTD or entities, or is not well-formed XML.
    """
    try:
        return SafeElementTree.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden as error:
        problem = (
            f"document: has a DOCTYPE declaration ({error.name}); CAP messages must not "
            "carry a DTD, remove the <!DOCTYPE ...> (refused to guard against XXE and "
            "entity expansion)"
        )
    except defusedxml.EntitiesForbidden as error:
        problem = (
            f"document: declares the entity {error.name!r}; remove entity declarations "
            "(refused to guard against XXE and billion-laughs expansion)"
        )
    except defusedxml.ExternalReferenceForbidden as error:
        problem = f"document: refers to the external resource {error.sysid!r}; remove it"
    except ParseError as error:
        problem = f"document: is not well-formed XML ({error}); fix the XML syntax"
    raise CapError([problem])


def validate_cap(xml: bytes, schema_path: Path | None = None) -> list[str]:
    """Problems of a CAP 1.2 message against the schema and the rules it leaves out.

    Parameters
    ----------
    xml
        The message as bytes.
    schema_path
        The OASIS ``CAP-v1.2.xsd``; :func:`default_schema_path` when not given.

    Returns
    -------
    list of str
        One sentence per problem naming the element and the fix; empty when valid.
    """
    try:
        root = safe_parse(xml)
    except CapError as error:
        return list(error.problems)
    return check_alert_element(root, schema_path)


def check_alert_element(root: Element, schema_path: Path | None = None) -> list[str]:
    """Problems of an already (safely) parsed CAP root element; see :func:`validate_cap`."""
    if root.tag == "{" + CAP11_NAMESPACE + "}alert":
        return [
            f"alert: CAP 1.1 ({CAP11_NAMESPACE}) is not accepted; send CAP 1.2 "
            f'(xmlns="{CAP12_NAMESPACE}")'
        ]
    if root.tag != _NS + "alert":
        return [
            f"alert: the root element is {root.tag!r}, not a CAP 1.2 alert; the root must be "
            f'<alert xmlns="{CAP12_NAMESPACE}">'
        ]
    schema = _schema((schema_path or default_schema_path()).resolve())
    problems = [
        f"{_short_path(error.path)}: {_short_path(error.reason or error.message)} "
        "(CAP 1.2 schema); fix the element's name, order or value as CAP-v1.2.xsd requires"
        for error in schema.iter_errors(root)
    ]
    return problems + _alert_rules(root)


def _short_path(text: str | None) -> str:
    """``text`` without the CAP namespace and with a leading ``/`` removed."""
    return (text or "alert").replace(_NS, "").replace("cap:", "").lstrip("/")


def _text(element: Element, name: str) -> str | None:
    """Stripped text of the first child ``name`` (None when absent)."""
    child = element.find(_NS + name)
    if child is None:
        return None
    return (child.text or "").strip()


def _alert_rules(root: Element) -> list[str]:
    """The CAP prose rules and Google requirements on the alert block."""
    problems: list[str] = []
    for name in ("identifier", "sender"):
        value = _text(root, name)
        if value is not None and (not value or _RESTRICTED.search(value)):
            problems.append(
                f"alert/{name}: {value!r} is empty or contains a space, comma, '<' or '&'; "
                "CAP 1.2 forbids them, use only other characters"
            )
    scope = _text(root, "scope")
    if scope == "Restricted" and not _text(root, "restriction"):
        problems.append("alert/restriction: missing for scope Restricted; add <restriction>")
    if scope == "Private" and not _text(root, "addresses"):
        problems.append("alert/addresses: missing for scope Private; add <addresses>")
    references = _text(root, "references")
    if _text(root, "msgType") in ("Update", "Cancel") and not references:
        problems.append(
            f"alert/references: missing for msgType {_text(root, 'msgType')}; an Update or "
            "Cancel must reference the message(s) it replaces as 'sender,identifier,sent'"
        )
    if references:
        try:
            parse_references(references)
        except ValueError as error:
            problems.append(f"alert/references: {error}")
    infos = root.findall(_NS + "info")
    if not infos:
        problems.append(
            "alert/info: missing; Google Public Alerts requires at least one <info> block"
        )
    sent = _time(_text(root, "sent"))
    languages: dict[str, int] = {}
    for number, info in enumerate(infos, start=1):
        where = f"info[{number}]"
        language = (_text(info, "language") or _DEFAULT_LANGUAGE).lower()
        if language in languages:
            problems.append(
                f"{where}/language: {language!r} is also the language of "
                f"info[{languages[language]}]; use one <info> per language"
            )
        languages.setdefault(language, number)
        problems.extend(_info_rules(info, where, sent))
    return problems


def _time(text: str | None) -> datetime | None:
    """A CAP time, or None when absent or unreadable (the schema reports those)."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _info_rules(info: Element, where: str, sent: datetime | None) -> list[str]:
    """The Google requirements on one info block."""
    problems: list[str] = []
    expires = _time(_text(info, "expires"))
    if _text(info, "expires") is None:
        problems.append(
            f"{where}/expires: missing; Google Public Alerts requires <expires> in every "
            "<info>, add the time the warning stops being valid"
        )
    elif expires is not None and sent is not None and expires <= sent:
        problems.append(
            f"{where}/expires: {expires.isoformat()} is not later than sent "
            f"{sent.isoformat()}; set an expiry after the issue time"
        )
    if not _text(info, "description"):
        problems.append(
            f"{where}/description: missing or empty; Google Public Alerts requires a "
            "<description> saying what is happening"
        )
    web = _text(info, "web")
    if web is not None:
        parts = urlsplit(web)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{where}/web: {web!r} is not an absolute http(s) URL; give the full address"
            )
    areas = info.findall(_NS + "area")
    if not areas:
        problems.append(
            f"{where}/area: missing; Google Public Alerts requires at least one <area> "
            "saying where the warning applies"
        )
    for number, area in enumerate(areas, start=1):
        problems.extend(_area_rules(area, f"{where}/area[{number}]"))
    return problems


def _area_rules(area: Element, where: str) -> list[str]:
    """The polygon rules and the Google area requirement on one area block."""
    problems: list[str] = []
    shapes = [_NS + "polygon", _NS + "circle", _NS + "geocode"]
    if not any(area.find(tag) is not None for tag in shapes):
        problems.append(
            f"{where}: has no <polygon>, <circle> or <geocode>; Google Public Alerts needs "
            "one to place the warning, add the area's outline or code"
        )
    for number, polygon in enumerate(area.findall(_NS + "polygon"), start=1):
        try:
            parse_polygon(polygon.text or "")
        except ValueError as error:
            problems.append(f"{where}/polygon[{number}]: {error}")
    return problems


def parse_polygon(text: str) -> tuple[tuple[float, float], ...]:
    """Points of a CAP polygon, checked as CAP 1.2 and Google require.

    Parameters
    ----------
    text
        ``"lat,lon lat,lon ..."`` (any whitespace between pairs).

    Returns
    -------
    tuple of (float, float)
        ``(latitude, longitude)`` pairs, the first repeated as the last.

    Raises
    ------
    ValueError
        Naming the defect and the fix: an unreadable pair, fewer than 4 pairs, an open
        ring, a coordinate out of range, or a self-intersecting outline.
    """
    points: list[tuple[float, float]] = []
    for pair in text.split():
        try:
            latitude, longitude = (float(part) for part in pair.split(","))
        except ValueError:
            raise ValueError(
                f"pair {pair!r} is not 'lat,lon'; write decimal degrees as 'lat,lon' "
                "separated by spaces"
            ) from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError(
                f"pair {pair!r} is outside latitude [-90, 90] / longitude [-180, 180]; "
                "check that latitude comes first"
            )
        points.append((latitude, longitude))
    if len(points) < 4:
        raise ValueError(
            f"has {len(points)} points; CAP 1.2 requires at least 4 pairs, the first "
            "repeated as the last"
        )
    if points[0] != points[-1]:
        raise ValueError(
            f"is not closed (first {points[0]} != last {points[-1]}); repeat the first "
            "point at the end"
        )
    outline = Polygon([(longitude, latitude) for latitude, longitude in points])
    if not outline.is_valid:
        raise ValueError(
            f"is not a valid polygon ({explain_validity(outline)}, lon/lat order); Google "
            "requires outlines without self-intersecting edges, redraw it"
        )
    return tuple(points)


def parse_references(text: str) -> tuple[tuple[str, str, datetime], ...]:
    """``(sender, identifier, sent)`` of each entry of a CAP ``references`` element.

    Raises
    ------
    ValueError
        When an entry is not ``sender,identifier,sent`` with a time carrying its offset.
    """
    entries = []
    for entry in text.split():
        parts = entry.split(",")
        sent = _time(parts[2]) if len(parts) == 3 else None
        if sent is None or sent.tzinfo is None:
            raise ValueError(
                f"entry {entry!r} is not 'sender,identifier,sent' with sent like "
                "2018-09-16T09:00:00+08:00; write each referenced message that way, "
                "entries separated by spaces"
            )
        entries.append((parts[0], parts[1], sent))
    return tuple(entries)

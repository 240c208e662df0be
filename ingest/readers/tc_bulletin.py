"""Forecast-track bulletins (CMA WMO text, or any agency in YAML/JSON) → forecast tracks.

Sources
    **CMA subjective forecast** (``WTPQ2i BABJ``), the GTS text bulletin of the China
    Meteorological Administration's typhoon forecasts, one bulletin per storm and issue::

        ZCZC
        WTPQ20 BABJ 071200
        SUBJECTIVE FORECAST
        SuperTY YINXING 2422 (2422) INITIAL TIME 071200 UTC
        00HR 18.6N 121.6E 925HPA 58M/S
        30KTS WINDS 240KM NORTHEAST
        200KM SOUTHEAST
        ...
        MOVE W 17KM/H
        P+12HR 18.4N 119.7E 950HPA 45M/S
        ...
        P+120HR 14.7N 109.6E 1005HPA 12M/S=
        NNNN

    The heading is ``WTPQ2i BABJ ddhhmm`` (issue day and time, UTC) with an optional
    ``CCx``/``RRx``/``AAx`` (correction, delay, amendment); the storm line gives the category
    (TD, TS, STS, TY, STY, SuperTY), name, CMA number, international number in brackets and
    the initial (analysis) time ``ddhhmm UTC``; each position line gives lead time, centre,
    central pressure (hPa) and maximum wind (m/s, a **2-minute** mean, the Chinese standard
    GB/T 19201-2006). Radii of 30, 50 and 64 kt winds (km, by quadrant) follow the ``00HR``
    line only. ``ZCZC``/``NNNN`` and a final ``=`` are transmission marks. A file may hold
    several bulletins. Examples: ``tests/fixtures/tc/cma_wtpq20_babj_yinxing_2024110712.txt``
    (see its README for the origin).

    The heading carries no month or year, so the reader needs ``issue_month``
    (``"2024-11"``); an initial day later than the issue day belongs to the month before.

    **YAML/JSON bulletin**, for any agency, every quantity written with its unit::

        agency: China Meteorological Administration
        storm_id: "2422"
        storm_name: YINXING
        reference_time: 2024-11-07T12:00Z
        averaging_period: 2 min          # of vmax and of the radii thresholds
        points:
          - lead_time: 0 h
            lat: 18.6                     # degrees north (negative south)
            lon: 121.6                    # degrees east (negative west)
            psl_min: 925 hPa              # optional
            vmax: 58 m/s                  # optional
            rmw: 30 km                    # optional
            wind_radii:                   # optional: threshold -> quadrant -> radius
              30 kt: {NE: 240 km, SE: 200 km, SW: 160 km, NW: 300 km}

Output (contract "tropical cyclone track", see :mod:`ingest.tracks`)
    ``is_forecast = 1``; ``time`` is the valid time, coordinate ``lead_time(time)`` and
    scalar coordinate ``reference_time`` (initial time). ``lat``, ``lon``, ``psl_min`` (hPa),
    ``vmax`` (m s-1, ``averaging_period`` "2 min" for CMA), ``rmw`` (km, NaN for CMA),
    ``wind_radius_quadrant(time, wind_threshold, quadrant)`` (km; NaN beyond ``00HR`` for
    CMA). Attributes ``agency``, ``storm_id``, ``storm_name``, and for CMA ``category``
    (at the initial time), ``motion`` (the ``MOVE`` line), ``bulletin_heading``,
    ``issue_time``.

Bad input
    In a CMA bulletin, a line that cannot be read is left out, recorded in
    ``line_problems`` and logged; a bulletin without heading, storm line or ``00HR`` line,
    or a file with no bulletin, raises :class:`~ingest.errors.SourceError` naming the file
    and line. A YAML/JSON bulletin is read whole or refused with the field at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import xarray as xr
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ingest.contracts import validate_tc_track
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.tracks import (
    QUADRANTS,
    LineProblem,
    TrackColumns,
    build_track,
    record_problems,
)
from ingest.units import UnitsError, parse_quantity

__all__ = [
    "CMA_AGENCY",
    "BulletinDocument",
    "BulletinPoint",
    "TcBulletinOptions",
    "TcBulletinReader",
    "read_cma_bulletins",
    "read_yaml_bulletin",
]

CMA_AGENCY = "China Meteorological Administration (BABJ)"
_CMA_THRESHOLDS_KT = (30.0, 50.0, 64.0)
_QUADRANT_WORDS = {"NORTHEAST": 0, "SOUTHEAST": 1, "SOUTHWEST": 2, "NORTHWEST": 3}
_HEADING = re.compile(r"(WTPQ2\d)\s+(BABJ)\s+(\d{6})(?:\s+([A-Z]{3}))?")
_STORM = re.compile(
    r"(TD|TS|STS|TY|STY|SUPERTY)\s+(?:([A-Z][A-Z-]*)\s+)?(?:(\d{2,4})\s+)?(?:\((\d{4})\)\s+)?"
    r"INITIAL TIME (\d{6}) UTC",
    re.IGNORECASE,
)
_POINT = re.compile(
    r"(00HR|P\+(\d{1,3})HR)\s+(\d{1,2}(?:\.\d)?)([NS])\s+(\d{1,3}(?:\.\d)?)([EW])\s+"
    r"(\d{3,4})HPA\s+(\d{1,3})M/S"
)
_RADIUS_FIRST = re.compile(r"(\d{2})KTS WINDS\s+(\d{1,4})KM\s+([A-Z]+)")
_RADIUS_NEXT = re.compile(r"(\d{1,4})KM\s+([A-Z]+)")
_FIX = "give a CMA 'WTPQ2i BABJ' subjective-forecast bulletin, or a YAML/JSON bulletin"


class TcBulletinOptions(ReaderOptions):
    """Options of :class:`TcBulletinReader`.

    Parameters
    ----------
    format
        ``"cma-text"``, ``"yaml"`` (YAML or JSON) or ``"auto"`` (default: CMA text if the
        file starts with ``ZCZC`` or ``WTPQ``, else YAML/JSON).
    issue_month
        ``"YYYY-MM"`` of the bulletin's issue, needed for CMA text (its times give only
        day, hour and minute).
    storm
        International number or name of the storm, when a CMA file holds bulletins of
        several storms.
    """

    format: Literal["auto", "cma-text", "yaml"] = "auto"
    issue_month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    storm: str | None = None


class BulletinPoint(BaseModel):
    """One lead time of a YAML/JSON bulletin; quantities are text with units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lead_time: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, lt=360)
    psl_min: str | None = None
    vmax: str | None = None
    rmw: str | None = None
    wind_radii: dict[str, dict[Literal["NE", "SE", "SW", "NW"], str]] = Field(default_factory=dict)


class BulletinDocument(BaseModel):
    """A YAML/JSON forecast bulletin (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agency: str = Field(min_length=1)
    storm_id: str = ""
    storm_name: str = ""
    reference_time: AwareDatetime
    averaging_period: str = Field(min_length=1)
    points: list[BulletinPoint] = Field(min_length=1)


@register_reader
class TcBulletinReader:
    """Reader of a forecast-track bulletin (CMA text or YAML/JSON)."""

    name: ClassVar[str] = "tc-bulletin"
    contract: ClassVar[str] = "tropical cyclone track"
    Options: ClassVar[type[ReaderOptions]] = TcBulletinOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the bulletin at ``path`` into a forecast track.

        Parameters
        ----------
        path
            The bulletin file.
        options
            A :class:`TcBulletinOptions`.
        source
            Name of the source, for error messages.

        Raises
        ------
        SourceError
            If the file is not a bulletin, ``issue_month`` is missing for CMA text, or the
            storm cannot be chosen.
        """
        if not isinstance(options, TcBulletinOptions):
            raise TypeError(f"expected TcBulletinOptions, got {type(options).__name__}")
        text = _read_text(path, source)
        kind = options.format
        if kind == "auto":
            head = text.lstrip()[:4].upper()
            kind = "cma-text" if head in ("ZCZC", "WTPQ") else "yaml"
        if kind == "yaml":
            return read_yaml_bulletin(text, str(path), source)
        if options.issue_month is None:
            raise SourceError(
                source,
                str(path),
                "a CMA text bulletin gives no month or year",
                "set the reader option issue_month, e.g. '2024-11'",
            )
        tracks = read_cma_bulletins(text, str(path), source, options.issue_month)
        chosen = [
            track
            for track in tracks.values()
            if options.storm is None
            or options.storm.upper() in (track.attrs["storm_id"], track.attrs["storm_name"])
        ]
        if len(chosen) != 1:
            raise SourceError(
                source,
                str(path),
                f"{len(chosen)} bulletins match storm={options.storm!r}; it holds "
                + ", ".join(tracks),
                "set the reader option 'storm' to one international number or name",
            )
        return chosen[0]


def _read_text(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(
            source, str(path), "file not found", "check the path in the source configuration"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(source, str(path), f"cannot be read as text ({err})", _FIX) from None


# --------------------------------------------------------------------------- CMA text


@dataclass
class _Bulletin:
    heading_line: int
    heading: str
    issue: tuple[int, int, int]
    storm_line: int = 0
    category: str = ""
    name: str = ""
    storm_id: str = ""
    initial: tuple[int, int, int] | None = None
    motion: str = ""
    leads: list[int] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    psl_min: list[float] = field(default_factory=list)
    vmax: list[float] = field(default_factory=list)
    radii: dict[float, list[float]] = field(default_factory=dict)
    radius_threshold: float | None = None
    problems: list[LineProblem] = field(default_factory=list)


def read_cma_bulletins(
    text: str, location: str, source: str, issue_month: str
) -> dict[str, xr.Dataset]:
    """Read every CMA ``WTPQ2i BABJ`` bulletin in ``text``.

    Parameters
    ----------
    text
        The file's text.
    location
        The file, for messages.
    source
        Name of the source, for error messages.
    issue_month
        ``"YYYY-MM"`` of the issue time of the (first) bulletin.

    Returns
    -------
    dict of str to xr.Dataset
        One forecast track per bulletin, keyed ``"<storm id> <YYYYMMDDHH>"`` (storm id is the
        international number, or the name, or the CMA number when no number is given).
    """
    bulletins: list[_Bulletin] = []
    current: _Bulletin | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = " ".join(raw.strip().rstrip("=").split())
        upper = line.upper()
        if not line or upper in ("ZCZC", "NNNN", "SUBJECTIVE FORECAST"):
            continue
        heading = _HEADING.fullmatch(upper)
        if heading:
            day, hour, minute = _ddhhmm(heading.group(3), number, location, source)
            current = _Bulletin(number, line, (day, hour, minute))
            bulletins.append(current)
            continue
        if current is None:
            raise SourceError(
                source,
                location,
                f"line {number} reads {line[:40]!r} before any 'WTPQ2i BABJ ddhhmm' heading",
                _FIX,
            )
        _parse_cma_line(current, line, upper, number, location, source)
    if not bulletins:
        raise SourceError(source, location, "holds no 'WTPQ2i BABJ' bulletin", _FIX)
    year, month = (int(part) for part in issue_month.split("-"))
    tracks: dict[str, xr.Dataset] = {}
    for bulletin in bulletins:
        track = _build_cma(bulletin, location, source, year, month)
        base = str(np.datetime_as_string(track["reference_time"].values, unit="h"))
        key = f"{track.attrs['storm_id']} {base.replace('-', '').replace('T', '')}"
        tracks[key] = validate_tc_track(
            record_problems(track, bulletin.problems, f"{location} ({bulletin.heading})")
        )
    return tracks


def _ddhhmm(text: str, number: int, location: str, source: str) -> tuple[int, int, int]:
    day, hour, minute = int(text[:2]), int(text[2:4]), int(text[4:])
    if not (1 <= day <= 31 and hour < 24 and minute < 60):
        raise SourceError(
            source, location, f"line {number}: {text!r} is not a day-hour-minute ddhhmm", _FIX
        )
    return day, hour, minute


def _parse_cma_line(
    bulletin: _Bulletin, line: str, upper: str, number: int, location: str, source: str
) -> None:
    """Take one line of a bulletin; a line that cannot be read is recorded and left out."""
    storm = _STORM.fullmatch(line)
    if storm:
        bulletin.storm_line = number
        bulletin.category = storm.group(1)
        bulletin.name = (storm.group(2) or "").upper()
        bulletin.storm_id = storm.group(4) or storm.group(3) or bulletin.name
        bulletin.initial = _ddhhmm(storm.group(5), number, location, source)
        return
    point = _POINT.fullmatch(upper)
    if point:
        lead = int(point.group(2) or 0)
        if bulletin.leads and lead <= bulletin.leads[-1]:
            bulletin.problems.append(
                LineProblem(number, f"lead time {lead} h is not after {bulletin.leads[-1]} h")
            )
            return
        lat = float(point.group(3)) * (1 if point.group(4) == "N" else -1)
        lon = float(point.group(5)) * (1 if point.group(6) == "E" else -1)
        if abs(lat) > 90 or abs(lon) > 180:
            bulletin.problems.append(LineProblem(number, f"position {lat}, {lon} is impossible"))
            return
        bulletin.leads.append(lead)
        bulletin.lat.append(lat)
        bulletin.lon.append(lon)
        bulletin.psl_min.append(float(point.group(7)))
        bulletin.vmax.append(float(point.group(8)))
        bulletin.radius_threshold = None
        return
    if upper.startswith("MOVE"):
        bulletin.motion = line
        return
    first = _RADIUS_FIRST.fullmatch(upper)
    following = _RADIUS_NEXT.fullmatch(upper)
    if first or following:
        problem = _take_radius(bulletin, first, following)
        if problem:
            bulletin.problems.append(LineProblem(number, problem))
        return
    bulletin.problems.append(LineProblem(number, f"{line[:60]!r} is not a bulletin line"))


def _take_radius(
    bulletin: _Bulletin, first: re.Match[str] | None, following: re.Match[str] | None
) -> str | None:
    """Store one quadrant radius; return why it was left out, if it was."""
    if bulletin.leads != [0]:
        return "wind radii are read only right after the 00HR line"
    if first:
        threshold = float(first.group(1))
        if threshold not in _CMA_THRESHOLDS_KT:
            return f"wind threshold {threshold:g} KTS is not 30, 50 or 64"
        bulletin.radius_threshold = threshold
        radius, word = first.group(2), first.group(3)
    else:
        assert following is not None
        radius, word = following.group(1), following.group(2)
    if bulletin.radius_threshold is None:
        return "a radius line without a preceding 'nnKTS WINDS' line"
    if word not in _QUADRANT_WORDS:
        return f"quadrant {word!r} is not NORTHEAST, SOUTHEAST, SOUTHWEST or NORTHWEST"
    radii = bulletin.radii.setdefault(bulletin.radius_threshold, [np.nan] * 4)
    radii[_QUADRANT_WORDS[word]] = float(radius)
    return None


def _build_cma(
    bulletin: _Bulletin, location: str, source: str, year: int, month: int
) -> xr.Dataset:
    if bulletin.initial is None:
        raise SourceError(
            source,
            location,
            f"the bulletin of line {bulletin.heading_line} has no storm line "
            "('<category> <NAME> <number> (<number>) INITIAL TIME ddhhmm UTC')",
            "give the complete bulletin",
        )
    if not bulletin.leads or bulletin.leads[0] != 0:
        raise SourceError(
            source,
            location,
            f"the bulletin of line {bulletin.heading_line} has no readable 00HR line",
            "give the complete bulletin",
        )
    issue = _in_month(year, month, bulletin.issue)
    initial_day = bulletin.initial[0]
    reference = _in_month(issue.year, issue.month, bulletin.initial)
    if initial_day > issue.day:  # the analysis belongs to the month before the issue
        previous = issue.replace(day=1) - timedelta(days=1)
        reference = _in_month(previous.year, previous.month, bulletin.initial)
    times = [reference + timedelta(hours=lead) for lead in bulletin.leads]
    radii = np.full((len(times), len(_CMA_THRESHOLDS_KT), len(QUADRANTS)), np.nan)
    for j, threshold in enumerate(_CMA_THRESHOLDS_KT):
        if threshold in bulletin.radii:
            radii[0, j] = bulletin.radii[threshold]
    columns = TrackColumns(
        times=times,
        lat=bulletin.lat,
        lon=bulletin.lon,
        psl_min=bulletin.psl_min,
        vmax=bulletin.vmax,
        rmw=[np.nan] * len(times),
    )
    return build_track(
        columns,
        averaging_period="2 min",
        agency=CMA_AGENCY,
        reference_time=reference,
        attrs={
            "storm_id": bulletin.storm_id,
            "storm_name": bulletin.name,
            "category": bulletin.category,
            "motion": bulletin.motion,
            "bulletin_heading": bulletin.heading,
            "issue_time": f"{issue:%Y-%m-%dT%H:%MZ}",
            "source": f"{Path(location).name}: CMA subjective forecast, line "
            f"{bulletin.heading_line}",
        },
        wind_thresholds_kt=_CMA_THRESHOLDS_KT,
        radii={"wind_radius_quadrant": radii},
    )


def _in_month(year: int, month: int, ddhhmm: tuple[int, int, int]) -> datetime:
    day, hour, minute = ddhhmm
    return datetime(year, month, day, hour, minute)


# --------------------------------------------------------------------------- YAML / JSON


def read_yaml_bulletin(text: str, location: str, source: str) -> xr.Dataset:
    """Read a YAML or JSON bulletin (see the module docstring) into a forecast track.

    Raises
    ------
    SourceError
        If the text is not YAML, a field is missing or wrong, or a quantity lacks its unit;
        the message names the field.
    """
    try:
        document = BulletinDocument.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise SourceError(source, location, f"is not YAML or JSON ({err})", _FIX) from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise SourceError(
            source, location, f"{where}: {first['msg']}", "see ingest.readers.tc_bulletin"
        ) from None
    try:
        return validate_tc_track(_build_yaml(document, location))
    except UnitsError as err:
        raise SourceError(
            source, location, str(err), "write every quantity with its unit, e.g. '45 m/s'"
        ) from None


def _optional(text: str | None, units: str) -> float:
    return np.nan if text is None else parse_quantity(text, units)


def _build_yaml(document: BulletinDocument, location: str) -> xr.Dataset:
    reference = document.reference_time.astimezone(UTC).replace(tzinfo=None)
    leads = [_lead_time(point.lead_time) for point in document.points]
    thresholds: dict[float, str] = {}
    for point in document.points:
        for label in point.wind_radii:
            thresholds.setdefault(parse_quantity(label, "knot"), label)
    ordered = sorted(thresholds)
    radii = np.full((len(document.points), len(ordered), len(QUADRANTS)), np.nan)
    for i, point in enumerate(document.points):
        for label, by_quadrant in point.wind_radii.items():
            j = ordered.index(parse_quantity(label, "knot"))
            for quadrant, radius in by_quadrant.items():
                radii[i, j, QUADRANTS.index(quadrant)] = parse_quantity(radius, "km")
    columns = TrackColumns(
        times=[reference + lead for lead in leads],
        lat=[point.lat for point in document.points],
        lon=[point.lon for point in document.points],
        psl_min=[_optional(point.psl_min, "hPa") for point in document.points],
        vmax=[_optional(point.vmax, "m s-1") for point in document.points],
        rmw=[_optional(point.rmw, "km") for point in document.points],
    )
    return build_track(
        columns,
        averaging_period=document.averaging_period,
        agency=document.agency,
        reference_time=reference,
        attrs={
            "storm_id": document.storm_id,
            "storm_name": document.storm_name,
            "source": f"{Path(location).name}: forecast bulletin (YAML/JSON)",
        },
        wind_thresholds_kt=ordered,
        radii={"wind_radius_quadrant": radii} if ordered else None,
    )


def _lead_time(text: str) -> timedelta:
    """A lead time such as ``"24 h"``; zero is allowed, negative is not."""
    seconds = parse_quantity(text, "s")
    if seconds < 0:
        raise UnitsError(f"lead_time {text!r} is negative")
    return timedelta(seconds=round(seconds))

"""ATCF a-deck and b-deck files (JTWC, NHC) → tropical cyclone tracks.

Source
    ``tc/jtwc_bwp262018_mangkhut.dat`` (SOURCES.md §1.6): the JTWC b-deck of Mangkhut
    (26W/2018), US-government work in the public domain. The same layout carries the
    a-decks (forecast aids, the official JTWC/NHC forecast) of the ATCF system.

Format  (NRL "Best Track/Objective Aid/Wind Radii Format",
https://science.nrlmry.navy.mil/atcf/docs/database/new/abrdeck.html)
    Comma-separated records, one per line: ``BASIN, CY, YYYYMMDDHH, TECHNUM/MIN, TECH, TAU,
    LatN/S, LonE/W, VMAX, MSLP, TY, RAD, WINDCODE, RAD1, RAD2, RAD3, RAD4, RADP, RRP, MRD,
    GUSTS, EYE, SUBREGION, MAXSEAS, INITIALS, DIR, SPEED, STORMNAME, ...``. The first eight
    fields are never missing; the others may be blank or absent (short a-deck lines stop
    after RAD4). Latitude and longitude are in 0.1° with a hemisphere letter; VMAX is the
    **1-minute** maximum sustained wind in kt; MSLP, RADP (pressure of the outermost closed
    isobar, POCI) in hPa; RRP (its radius, ROCI), MRD (radius of maximum wind) and the radii
    in nautical miles. ``TECH`` is ``BEST`` in a b-deck and the technique (``JTWC``,
    ``OFCL``, ``AVNO`` ...) in an a-deck, where ``YYYYMMDDHH`` is the base time and
    ``TAU`` the lead time in hours.

    A fix is repeated once per wind threshold ``RAD`` (34, 50, 64 kt) with that threshold's
    radii. ``WINDCODE`` says how RAD1-RAD4 are laid out: ``AAA`` full circle (RAD1 only),
    ``NEQ`` quadrants NE, SE, SW, NW; ``SEQ``, ``SWQ``, ``NWQ`` start the same clockwise
    sequence at that quadrant. Other codes (semicircles, ``NNQ`` ...) are deprecated; their
    radii are left out and recorded.

    Zero means "not given" for VMAX, MSLP, RADP, RRP and MRD; a radius of 0 means that no
    wind reaches the threshold in that quadrant.

Output (contract "tropical cyclone track", see :mod:`ingest.tracks`)
    One dataset per track: the best track (``TECH = BEST``), or one forecast per
    (technique, base time). dim ``time``; ``lat``, ``lon``, ``psl_min`` (hPa), ``vmax``
    (m s-1, ``averaging_period = "1 min"``), ``rmw`` (km), ``poci`` (hPa), ``roci`` (km),
    ``development_level`` (ATCF ``TY``: TD, TS, TY, ST ...) and
    ``wind_radius_quadrant(time, wind_threshold, quadrant)`` (km) with ``wind_threshold``
    17.491, 25.722, 32.924 m s-1 (``wind_threshold_kt`` 34, 50, 64), ``quadrant`` NE, SE, SW,
    NW; NaN where the file has no line for that threshold. Forecasts (``is_forecast = 1``)
    carry ``reference_time`` (the base time) and ``lead_time`` (``TAU``). Attributes
    ``agency`` (from the basin: JTWC for WP, IO, SH; NHC for AL, EP; CPHC for CP),
    ``technique``, ``storm_id`` (``"WP262018"``), ``storm_name``.

    Records with a negative ``TAU`` (``CARQ``/``WRNG`` position history) are not tracks and
    are not read.

Bad input
    A line that cannot be read, or that contradicts an earlier line for the same time, is
    left out, recorded in ``line_problems`` of its track and logged; the rest is read. A
    file holding no readable ATCF record raises :class:`~ingest.errors.SourceError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr
from pydantic import AwareDatetime, Field

from ingest.contracts import validate_tc_track
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.tracks import (
    QUADRANTS,
    LineProblem,
    TrackColumns,
    build_track,
    knots_to_ms,
    nautical_miles_to_km,
    record_problems,
)

__all__ = ["AtcfOptions", "AtcfReader", "read_atcf_tracks"]

BEST = "BEST"
_THRESHOLDS_KT = (34.0, 50.0, 64.0)
_AGENCY_OF_BASIN = {
    "WP": "JTWC",
    "IO": "JTWC",
    "SH": "JTWC",
    "AL": "NHC",
    "EP": "NHC",
    "CP": "CPHC",
}
_QUADRANT_START = {"NEQ": 0, "SEQ": 1, "SWQ": 2, "NWQ": 3}
_LATITUDE = re.compile(r"(\d{1,3})([NS])")
_LONGITUDE = re.compile(r"(\d{1,4})([EW])")
_FIX = "give an ATCF a-deck or b-deck file (abrdeck format)"


class AtcfOptions(ReaderOptions):
    """Options of :class:`AtcfReader`.

    Parameters
    ----------
    technique
        ``"BEST"`` (default) for the best track of a b-deck, or the a-deck technique whose
        forecast to read (``"JTWC"``, ``"OFCL"`` ...).
    reference_time
        Base time of the forecast (timezone-aware); default the latest one in the file.
    averaging_period
        Averaging period of VMAX; ATCF files of JTWC and NHC use ``"1 min"``.
    """

    technique: str = Field(default=BEST, min_length=1, max_length=4)
    reference_time: AwareDatetime | None = None
    averaging_period: str = Field(default="1 min", min_length=1)


@dataclass
class _Record:
    """The fields of one ATCF line that a track uses."""

    line: int
    basin: str
    cyclone: int
    base: datetime
    technique: str
    tau: int
    lat: float
    lon: float
    vmax_kt: float
    mslp: float
    level: str
    threshold_kt: float
    radii_nmi: tuple[float, float, float, float] | None
    poci: float
    roci_nmi: float
    rmw_nmi: float
    name: str


@dataclass
class _Fix:
    """One time of a track, merged from its per-threshold lines."""

    first: _Record
    radii: dict[float, tuple[float, float, float, float]] = field(default_factory=dict)


@dataclass
class _Track:
    key: tuple[str, datetime | None]
    fixes: dict[datetime, _Fix] = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)


@register_reader
class AtcfReader:
    """Reader of one track (best track or one forecast) of an ATCF deck file."""

    name: ClassVar[str] = "atcf"
    contract: ClassVar[str] = "tropical cyclone track"
    Options: ClassVar[type[ReaderOptions]] = AtcfOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the track chosen by ``options`` from the deck at ``path``.

        Parameters
        ----------
        path
            The ``.dat`` deck file.
        options
            An :class:`AtcfOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            The best track, or the forecast of ``technique`` from ``reference_time``.

        Raises
        ------
        SourceError
            If the file is not an ATCF deck or holds no such track; the message lists the
            tracks it holds.
        """
        if not isinstance(options, AtcfOptions):
            raise TypeError(f"expected AtcfOptions, got {type(options).__name__}")
        tracks = read_atcf_tracks(path, source, averaging_period=options.averaging_period)
        technique = options.technique.strip().upper()
        if technique == BEST:
            candidates = [key for key in tracks if key == BEST]
        elif options.reference_time is not None:
            wanted = f"{technique} {options.reference_time.astimezone(UTC):%Y%m%d%H}"
            candidates = [key for key in tracks if key == wanted]
        else:
            candidates = sorted(key for key in tracks if key.split()[0] == technique)[-1:]
        if not candidates:
            raise SourceError(
                source,
                str(path),
                f"holds no track of technique {technique!r}"
                + (f" from {wanted.split()[1]}" if options.reference_time else ""),
                f"choose one of: {', '.join(tracks)}",
            )
        return tracks[candidates[0]]


def read_atcf_tracks(
    path: Path, source: str = "atcf", averaging_period: str = "1 min"
) -> dict[str, xr.Dataset]:
    """Read every track of an ATCF deck file.

    Parameters
    ----------
    path
        An a-deck or b-deck ``.dat`` file.
    source
        Name of the source, for error messages.
    averaging_period
        Averaging period of VMAX (``"1 min"`` for JTWC and NHC).

    Returns
    -------
    dict of str to xr.Dataset
        ``"BEST"`` for the best track; ``"<TECH> <YYYYMMDDHH>"`` (e.g. ``"JTWC 2023111306"``)
        for the forecast of a technique from a base time. Sorted by key.

    Raises
    ------
    SourceError
        If the file is missing, not text, or holds no readable ATCF record.
    """
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise SourceError(
            source, str(path), "file not found", "check the path in the source configuration"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(source, str(path), f"cannot be read as text ({err})", _FIX) from None
    tracks: dict[tuple[str, datetime | None], _Track] = {}
    orphans: list[LineProblem] = []
    first_problem: LineProblem | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse(line, number)
        except ValueError as err:
            problem = LineProblem(number, str(err))
            first_problem = first_problem or problem
            key = _key_of(line)
            (tracks[key].problems if key in tracks else orphans).append(problem)
            continue
        if record.tau < 0:
            continue
        key = (BEST, None) if record.technique == BEST else (record.technique, record.base)
        _add(tracks.setdefault(key, _Track(key)), record)
    if not tracks:
        reason = f"; {first_problem}" if first_problem else " (it is empty)"
        raise SourceError(source, str(path), f"holds no readable ATCF record{reason}", _FIX)
    result: dict[str, xr.Dataset] = {}
    for key in sorted(tracks, key=_label):
        track = tracks[key]
        dataset = _build(track, path, averaging_period)
        problems = sorted([*track.problems, *orphans], key=lambda p: p.line)
        where = f"{path} ({_label(key)})"
        result[_label(key)] = validate_tc_track(record_problems(dataset, problems, where))
    return result


def _label(key: tuple[str, datetime | None]) -> str:
    technique, base = key
    return technique if base is None else f"{technique} {base:%Y%m%d%H}"


def _key_of(line: str) -> tuple[str, datetime | None] | None:
    """The track a bad line belongs to, if its technique and base time can be read."""
    fields = [part.strip() for part in line.split(",")]
    if len(fields) < 5:
        return None
    if fields[4].upper() == BEST:
        return BEST, None
    try:
        return fields[4].upper(), datetime.strptime(fields[2], "%Y%m%d%H")
    except ValueError:
        return None


def _parse(line: str, number: int) -> _Record:
    """Decode one line; raise ``ValueError`` naming the field that is wrong."""
    fields = [part.strip() for part in line.split(",")]
    if len(fields) < 8:
        raise ValueError(
            f"has {len(fields)} comma-separated fields, an ATCF record needs at least 8 "
            "(BASIN, CY, YYYYMMDDHH, TECHNUM, TECH, TAU, LatN/S, LonE/W)"
        )
    fields += [""] * (28 - len(fields))
    basin = fields[0].upper()
    if not re.fullmatch(r"[A-Z]{2}", basin):
        raise ValueError(f"BASIN {fields[0]!r} is not two letters")
    try:
        base = datetime.strptime(fields[2], "%Y%m%d%H")
    except ValueError:
        raise ValueError(f"YYYYMMDDHH {fields[2]!r} is not a date-time group") from None
    technique = fields[4].upper()
    if not technique:
        raise ValueError("TECH is blank")
    lat_match, lon_match = _LATITUDE.fullmatch(fields[6]), _LONGITUDE.fullmatch(fields[7])
    if lat_match is None or int(lat_match.group(1)) > 900:
        raise ValueError(f"LatN/S {fields[6]!r} is not tenths of a degree 0-900 with N or S")
    if lon_match is None or int(lon_match.group(1)) > 1800:
        raise ValueError(f"LonE/W {fields[7]!r} is not tenths of a degree 0-1800 with E or W")
    lat = int(lat_match.group(1)) / 10 * (1 if lat_match.group(2) == "N" else -1)
    lon = int(lon_match.group(1)) / 10 * (1 if lon_match.group(2) == "E" else -1)
    threshold = _number(fields[11], "RAD")
    radii = _radii(fields, threshold) if threshold > 0 else None
    return _Record(
        line=number,
        basin=basin,
        cyclone=int(_number(fields[1], "CY", zero_is_missing=False)),
        base=base,
        technique=technique,
        tau=int(_number(fields[5], "TAU", zero_is_missing=False)),
        lat=lat,
        lon=lon,
        vmax_kt=_number(fields[8], "VMAX"),
        mslp=_number(fields[9], "MSLP"),
        level=fields[10].upper(),
        threshold_kt=threshold,
        radii_nmi=radii,
        poci=_number(fields[17], "RADP"),
        roci_nmi=_number(fields[18], "RRP"),
        rmw_nmi=_number(fields[19], "MRD"),
        name=fields[27].upper(),
    )


def _number(text: str, name: str, zero_is_missing: bool = True) -> float:
    """An integer field: blank → NaN, ``0`` → NaN unless it is a real zero."""
    if not text:
        if not zero_is_missing:
            raise ValueError(f"{name} is blank")
        return np.nan
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"{name} {text!r} is not a whole number")
    value = float(text)
    return np.nan if zero_is_missing and value == 0 else value


def _radii(fields: list[str], threshold: float) -> tuple[float, float, float, float]:
    """RAD1-RAD4 laid out NE, SE, SW, NW (nmi)."""
    if threshold not in _THRESHOLDS_KT:
        raise ValueError(f"RAD {threshold:g} kt is not one of 34, 50, 64")
    code = fields[12].upper()
    values = []
    for index, text in enumerate(fields[13:17], start=1):
        if not re.fullmatch(r"\d+", text or "0"):
            raise ValueError(f"RAD{index} {text!r} is not a whole number of nautical miles")
        values.append(float(text or 0))
    if code == "AAA":
        return values[0], values[0], values[0], values[0]
    if code not in _QUADRANT_START:
        raise ValueError(
            f"WINDCODE {fields[12]!r} is not AAA, NEQ, SEQ, SWQ or NWQ (other codes are deprecated)"
        )
    start = _QUADRANT_START[code]
    ordered = [values[(index - start) % 4] for index in range(4)]
    return ordered[0], ordered[1], ordered[2], ordered[3]


def _add(track: _Track, record: _Record) -> None:
    """Merge one record into its track, or record why it was left out."""
    time = record.base + timedelta(hours=record.tau)
    fix = track.fixes.get(time)
    if fix is None:
        if track.fixes:
            first = next(iter(track.fixes.values())).first
            if (record.basin, record.cyclone) != (first.basin, first.cyclone):
                track.problems.append(
                    LineProblem(
                        record.line,
                        f"storm {record.basin}{record.cyclone:02d} differs from "
                        f"{first.basin}{first.cyclone:02d} of line {first.line}",
                    )
                )
                return
        fix = track.fixes[time] = _Fix(record)
    else:
        first = fix.first
        for what, mine, theirs in (
            ("position", (record.lat, record.lon), (first.lat, first.lon)),
            ("VMAX", record.vmax_kt, first.vmax_kt),
            ("MSLP", record.mslp, first.mslp),
        ):
            if not np.array_equal(np.asarray(mine), np.asarray(theirs), equal_nan=True):
                track.problems.append(
                    LineProblem(
                        record.line,
                        f"{what} {mine} differs from {theirs} of line {first.line} for "
                        f"the same time {time:%Y-%m-%d %H}Z",
                    )
                )
                return
    if record.radii_nmi is not None:
        if record.threshold_kt in fix.radii:
            track.problems.append(
                LineProblem(
                    record.line,
                    f"a second {record.threshold_kt:g}-kt record for {time:%Y-%m-%d %H}Z",
                )
            )
            return
        fix.radii[record.threshold_kt] = record.radii_nmi


def _build(track: _Track, path: Path, averaging_period: str) -> xr.Dataset:
    """Assemble the contract dataset of one track."""
    times = sorted(track.fixes)
    firsts = [track.fixes[time].first for time in times]
    radii = np.full((len(times), len(_THRESHOLDS_KT), len(QUADRANTS)), np.nan)
    for i, time in enumerate(times):
        for j, threshold in enumerate(_THRESHOLDS_KT):
            if threshold in track.fixes[time].radii:
                radii[i, j] = track.fixes[time].radii[threshold]
    technique, base = track.key
    head = firsts[0]
    names = [r.name for r in firsts if r.name and r.name not in ("INVEST", "NONAME")]
    agency = _AGENCY_OF_BASIN.get(head.basin, f"ATCF basin {head.basin}")
    columns = TrackColumns(
        times=times,
        lat=[r.lat for r in firsts],
        lon=[r.lon for r in firsts],
        psl_min=[r.mslp for r in firsts],
        vmax=knots_to_ms([r.vmax_kt for r in firsts]).tolist(),
        rmw=nautical_miles_to_km([r.rmw_nmi for r in firsts]).tolist(),
    )
    kind = "best track" if base is None else f"forecast of {technique} from {base:%Y%m%d%H}"
    return build_track(
        columns,
        averaging_period=averaging_period,
        agency=agency,
        reference_time=base,
        attrs={
            "technique": technique,
            "storm_id": f"{head.basin}{head.cyclone:02d}{(base or times[0]).year}",
            "storm_name": names[-1] if names else "",
            "source": f"{path.name}: ATCF {kind}",
            "references": "https://science.nrlmry.navy.mil/atcf/docs/database/new/abrdeck.html",
        },
        wind_thresholds_kt=_THRESHOLDS_KT,
        radii={"wind_radius_quadrant": nautical_miles_to_km(radii)},
        extra={
            "poci": (
                [r.poci for r in firsts],
                {"units": "hPa", "long_name": "pressure of the outermost closed isobar"},
            ),
            "roci": (
                nautical_miles_to_km([r.roci_nmi for r in firsts]),
                {"units": "km", "long_name": "radius of the outermost closed isobar"},
            ),
            "development_level": (
                [r.level for r in firsts],
                {"long_name": "ATCF level of development (TY field)"},
            ),
        },
    )

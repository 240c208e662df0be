"""RSMC Tokyo (JMA) best-track text → tropical cyclone tracks.

Source
    ``tc/jma_rsmc_bst_*.txt`` and ``tc/jma_rsmc_bst_all_1951_2019mar.zip`` (SOURCES.md §1.1-1.3):
    JMA's ``bst_all.txt``, free to use with credit to the Japan Meteorological Agency. A
    ``.zip`` is read directly (its one text member); lines may end in CRLF or LF.

Format  (``tc/jma_bst_format.txt``; columns are 1-based)
    A header line per storm: ``66666`` (1-5), international number ``YYNN`` (7-10), number of
    data lines (13-15), TC number (17-20), international number again (22-25), flag of the
    last line (27), hours from the last data to the final analysis (29), name (31-50,
    blank for old unnamed storms), date of the latest revision. Older headers shift the
    name and date, so only the columns up to 29 are read by position.

    Then that many data lines: time ``yymmddhh`` UTC (1-8), indicator ``002`` (10-12),
    grade (14), latitude and longitude of the centre in 0.1° (16-18, 20-23; north and east,
    longitudes beyond 180 continue past 180), central pressure hPa (25-28), maximum
    sustained wind kt (34-36; ``000`` = not given), then for 50 kt (42-51) and 30 kt
    (53-62) winds: direction code of the longest radius, longest radius and shortest radius
    in nautical miles (blank before 1977), and the landfall indicator ``#`` (80).

    Two-digit years: ``51``-``99`` are 1951-1999, ``00``-``50`` are 2000-2050.

What a value means
    JMA's maximum sustained wind is a **10-minute mean**; it is tagged
    ``averaging_period = "10 min"`` and never converted to another averaging period.

Output (contract "tropical cyclone track", see :mod:`ingest.tracks`)
    dim ``time``; ``lat``, ``lon``, ``psl_min`` (hPa), ``vmax`` (m s-1, 10 min), ``rmw``
    (km, all NaN: JMA gives none), ``grade`` (JMA code, CF flags), ``landfall`` (1 where
    the line carries ``#``), and the radii of 30 kt and 50 kt winds as JMA gives them:
    ``wind_radius_long``, ``wind_radius_short`` (km) and ``wind_radius_long_direction``
    (JMA code) on ``(time, wind_threshold)`` with ``wind_threshold`` = 15.433 and
    25.722 m s-1 (``wind_threshold_kt`` 30 and 50). Attributes ``agency = "RSMC Tokyo
    (JMA)"``, ``is_forecast = 0``, ``storm_id`` (``"1822"``), ``storm_name``,
    ``tc_number``, ``last_line_flag``, ``revision_date``.

Bad input
    A data line that cannot be read (wrong columns, impossible value, time not after the
    previous line) is left out, named with its line number in the storm's
    ``line_problems`` attribute and logged as a warning; the storm and the other storms are
    still read. Radii whose shortest exceeds the longest (7 lines of the 1951-2019
    archive) are left out the same way, keeping the fix. A file that is not a JMA best
    track, a header that cannot be read, or a header whose count of data lines does not
    match the lines that follow raise :class:`~ingest.errors.SourceError` naming the file
    and the line.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr
from pydantic import Field

from ingest.contracts import validate_tc_track
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.tracks import (
    LineProblem,
    TrackColumns,
    build_track,
    knots_to_ms,
    nautical_miles_to_km,
    record_problems,
)

__all__ = [
    "AGENCY",
    "JmaBestTrackOptions",
    "JmaBestTrackReader",
    "read_jma_best_tracks",
    "read_jma_lines",
]

AGENCY = "RSMC Tokyo (JMA)"
_HEADER_INDICATOR = "66666"
_THRESHOLDS_KT = (30.0, 50.0)  # ascending; columns of R30 then R50 below
_RADIUS_COLUMNS = {30.0: (52, 53, 58), 50.0: (41, 42, 47)}  # 0-based dir, long, short
_GRADE_MEANINGS = {
    2: "tropical_depression",
    3: "tropical_storm",
    4: "severe_tropical_storm",
    5: "typhoon",
    6: "extratropical_cyclone",
    7: "just_entering_jma_area",
    9: "tropical_cyclone_of_ts_intensity_or_higher",
}
_NUMBER = re.compile(r" *\d+")
_FIX = "give an RSMC Tokyo best-track file (bst_all.txt, format in tc/jma_bst_format.txt)"


class JmaBestTrackOptions(ReaderOptions):
    """Options of :class:`JmaBestTrackReader`.

    Parameters
    ----------
    storm
        International number (``"1822"``) or name (``"MANGKHUT"``, any case) of the storm.
    year
        Year of the storm's first fix, to choose among storms of the same name.
    """

    storm: str = Field(min_length=1)
    year: int | None = Field(default=None, ge=1951, le=2050)


@dataclass
class _Storm:
    """One storm's header fields, data rows and problems while the file is read."""

    storm_id: str
    name: str
    tc_number: str
    last_line_flag: str
    revision_date: str
    header_line: int
    times: list[datetime] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    psl_min: list[float] = field(default_factory=list)
    vmax_kt: list[float] = field(default_factory=list)
    grade: list[int] = field(default_factory=list)
    landfall: list[int] = field(default_factory=list)
    radii: list[list[tuple[int, float, float]]] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


@register_reader
class JmaBestTrackReader:
    """Reader of one storm of an RSMC Tokyo best-track file."""

    name: ClassVar[str] = "jma-besttrack"
    contract: ClassVar[str] = "tropical cyclone track"
    Options: ClassVar[type[ReaderOptions]] = JmaBestTrackOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the storm selected by ``options`` from the best-track file at ``path``.

        Parameters
        ----------
        path
            ``bst_all.txt``, an extract of it, or a ``.zip`` holding it.
        options
            A :class:`JmaBestTrackOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            The storm's track (see the module docstring).

        Raises
        ------
        SourceError
            If the file cannot be read as a JMA best track, or no storm (or more than one)
            matches the options; the message lists the candidates.
        """
        if not isinstance(options, JmaBestTrackOptions):
            raise TypeError(f"expected JmaBestTrackOptions, got {type(options).__name__}")
        location = str(path)
        storms = _parse_storms(_read_lines(path, source), location, source)
        wanted = options.storm.strip().upper()
        matches = [
            storm
            for storm in storms
            if storm.times
            and wanted in (storm.storm_id, storm.name.upper())
            and (options.year is None or storm.times[0].year == options.year)
        ]
        if len(matches) == 1:
            return _finish(matches[0], location)
        if not matches:
            raise SourceError(
                source,
                location,
                f"no storm with international number or name {options.storm!r}"
                + (f" in {options.year}" if options.year else ""),
                "check 'storm' (e.g. '1822' or 'MANGKHUT') and 'year' against the file",
            )
        listed = ", ".join(f"{s.name} {s.storm_id} ({s.times[0].year})" for s in matches)
        raise SourceError(
            source,
            location,
            f"{len(matches)} storms are named {options.storm!r}: {listed}",
            "add 'year', or give the international number as 'storm'",
        )


def read_jma_best_tracks(path: Path, source: str = "jma-besttrack") -> dict[str, xr.Dataset]:
    """Read every storm of an RSMC Tokyo best-track file.

    Parameters
    ----------
    path
        ``bst_all.txt``, an extract of it, or a ``.zip`` whose one ``.txt`` member is it.
    source
        Name of the source, for error messages.

    Returns
    -------
    dict of str to xr.Dataset
        One track per storm keyed by international number (``"1822"``), in file order.
        A storm none of whose lines could be read is left out (and logged).

    Raises
    ------
    SourceError
        If the file is missing or not text, is not a JMA best track, or a header cannot
        be read or announces a number of data lines that does not follow it.
    """
    return read_jma_lines(_read_lines(path, source), str(path), source)


def read_jma_lines(lines: list[str], location: str, source: str) -> dict[str, xr.Dataset]:
    """Parse the lines of a JMA best-track file (see :func:`read_jma_best_tracks`)."""
    tracks: dict[str, xr.Dataset] = {}
    for storm in _parse_storms(lines, location, source):
        if not storm.times:
            where = f"{location} (storm {storm.storm_id} {storm.name})"
            record_problems(xr.Dataset(), storm.problems, where)
            continue
        if storm.storm_id in tracks:
            raise SourceError(
                source,
                location,
                f"line {storm.header_line}: international number {storm.storm_id} appears twice",
                "read one storm archive per file",
            )
        tracks[storm.storm_id] = _finish(storm, location)
    return tracks


def _parse_storms(lines: list[str], location: str, source: str) -> list[_Storm]:
    """Walk the headers and their data lines; raise on a header or count problem."""
    storms: list[_Storm] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        storm, count = _parse_header(line, index + 1, location, source)
        body = lines[index + 1 : index + 1 + count]
        for offset, data_line in enumerate(body, start=index + 2):
            if data_line.startswith(_HEADER_INDICATOR) or not data_line.strip():
                raise _count_error(storm, count, offset, location, source)
            _parse_data_line(storm, data_line, offset)
        if len(body) < count:
            raise _count_error(storm, count, len(lines) + 1, location, source)
        storms.append(storm)
        index += 1 + count
    if not storms:
        raise SourceError(source, location, "holds no storm", _FIX)
    return storms


def _finish(storm: _Storm, location: str) -> xr.Dataset:
    """Build, record the problems of, and validate one storm's track."""
    where = f"{location} (storm {storm.storm_id} {storm.name})"
    return validate_tc_track(record_problems(_build(storm, location), storm.problems, where))


def _read_lines(path: Path, source: str) -> list[str]:
    """Return the text lines of the file, or of the one ``.txt`` member of a zip."""
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise SourceError(
                        source,
                        str(path),
                        f"holds {len(members)} files ({', '.join(members[:5])})",
                        "give a zip holding only bst_all.txt, or unzip it",
                    )
                raw = archive.read(members[0])
        else:
            raw = path.read_bytes()
        return raw.decode("ascii").splitlines()
    except FileNotFoundError:
        raise SourceError(
            source, str(path), "file not found", "check the path in the source configuration"
        ) from None
    except zipfile.BadZipFile as err:
        raise SourceError(
            source, str(path), f"is not a readable zip ({err})", "download it again"
        ) from None
    except UnicodeDecodeError as err:
        raise SourceError(
            source, str(path), f"is not ASCII text (byte {err.start})", _FIX
        ) from None
    except OSError as err:
        raise SourceError(source, str(path), f"cannot be read ({err})", "check the file") from None


def _parse_header(line: str, number: int, location: str, source: str) -> tuple[_Storm, int]:
    """Return the storm announced by a header line and its count of data lines."""
    if not line.startswith(_HEADER_INDICATOR):
        raise SourceError(
            source,
            location,
            f"line {number} should be a storm header starting with '66666' but reads {line[:40]!r}",
            f"{_FIX}; if the file was edited, check the line counts in the headers",
        )
    storm_id, count_text = line[6:10], line[12:15]
    if not storm_id.isdigit() or not _NUMBER.fullmatch(count_text):
        raise SourceError(
            source,
            location,
            f"line {number}: header {line.rstrip()!r} has no international number (columns "
            "7-10) or count of data lines (columns 13-15)",
            "restore the header line from the original file",
        )
    rest = line[50:].split()
    storm = _Storm(
        storm_id=storm_id,
        name=line[30:50].strip(),
        tc_number=line[16:20].strip(),
        last_line_flag=line[26:27].strip(),
        revision_date=rest[-1] if rest else "",
        header_line=number,
    )
    return storm, int(count_text)


def _count_error(storm: _Storm, count: int, number: int, location: str, source: str) -> SourceError:
    return SourceError(
        source,
        location,
        f"line {storm.header_line}: the header of storm {storm.storm_id} {storm.name} "
        f"announces {count} data lines, but line {number} ends them early",
        "the file is truncated or was edited; download it again or correct the count "
        "(columns 13-15 of the header)",
    )


def _parse_data_line(storm: _Storm, line: str, number: int) -> None:
    """Append the values of one data line to ``storm``, or record why it was left out."""
    try:
        values = _data_values(line)
    except ValueError as err:
        storm.problems.append(LineProblem(number, str(err)))
        return
    time = values[0]
    if storm.times and time <= storm.times[-1]:
        storm.problems.append(
            LineProblem(number, f"time {time:%Y-%m-%d %H}Z is not after {storm.times[-1]:%H}Z")
        )
        return
    storm.times.append(time)
    storm.grade.append(values[1])
    storm.lat.append(values[2])
    storm.lon.append(values[3])
    storm.psl_min.append(values[4])
    storm.vmax_kt.append(values[5])
    radii, problems = _check_radii(values[6], number)
    storm.radii.append(radii)
    storm.problems.extend(problems)
    storm.landfall.append(values[7])


def _data_values(
    line: str,
) -> tuple[datetime, int, float, float, float, float, list[tuple[int, float, float]], int]:
    """Decode one data line; raise ``ValueError`` saying which column is wrong."""
    line = line.rstrip()
    if len(line) < 28:
        raise ValueError(f"is {len(line)} characters long, too short for a data line")
    stamp = line[0:8]
    if not stamp.isdigit():
        raise ValueError(f"time {stamp!r} (columns 1-8) is not yymmddhh")
    century = 1900 if int(stamp[:2]) >= 51 else 2000
    try:
        time = datetime.strptime(f"{century + int(stamp[:2])}{stamp[2:]}", "%Y%m%d%H")
    except ValueError:
        raise ValueError(f"time {stamp!r} (columns 1-8) is not a valid date") from None
    if line[9:12] != "002":
        raise ValueError(f"indicator {line[9:12]!r} (columns 10-12) is not '002'")
    grade_text = line[13:14]
    if not grade_text.isdigit() or int(grade_text) not in _GRADE_MEANINGS:
        raise ValueError(f"grade {grade_text!r} (column 14) is not one of 2-7, 9")
    lat = _integer(line, 15, 18, "latitude", 16) / 10
    lon = _integer(line, 19, 23, "longitude", 20) / 10
    if not 0 <= lat <= 90:
        raise ValueError(f"latitude {lat} (columns 16-18) is outside [0, 90]")
    if not 0 <= lon < 360:
        raise ValueError(f"longitude {lon} (columns 20-23) is outside [0, 360)")
    pressure = float(_integer(line, 24, 28, "central pressure", 25))
    if not 850 <= pressure <= 1100:
        raise ValueError(f"central pressure {pressure:g} hPa (columns 25-28) is implausible")
    if line[28:33].strip():
        raise ValueError(f"columns 29-33 should be blank but read {line[28:33]!r}")
    wind = line[33:36].strip()
    if wind and not wind.isdigit():
        raise ValueError(f"maximum wind {wind!r} (columns 34-36) is not a number of knots")
    vmax_kt = float(wind) if wind and int(wind) > 0 else np.nan
    radii = [_radius(line, *_RADIUS_COLUMNS[threshold]) for threshold in _THRESHOLDS_KT]
    return time, int(grade_text), lat, lon, pressure, vmax_kt, radii, int(line[79:80] == "#")


def _check_radii(
    radii: list[tuple[int, float, float]], number: int
) -> tuple[list[tuple[int, float, float]], list[LineProblem]]:
    """Blank out the radii of a threshold whose shortest radius exceeds its longest."""
    checked, problems = [], []
    for threshold, (direction, longest, shortest) in zip(_THRESHOLDS_KT, radii, strict=True):
        if shortest > longest:
            problems.append(
                LineProblem(
                    number,
                    f"shortest {threshold:g}-kt radius {shortest:g} nmi exceeds the longest "
                    f"{longest:g} nmi; these two radii were left out (the fix was kept)",
                )
            )
            checked.append((-1, np.nan, np.nan))
        else:
            checked.append((direction, longest, shortest))
    return checked, problems


def _integer(line: str, start: int, stop: int, what: str, column: int) -> int:
    text = line[start:stop]
    if not _NUMBER.fullmatch(text):
        raise ValueError(
            f"{what} {text!r} (columns {column}-{column + stop - start - 1}) is not a number"
        )
    return int(text)


def _radius(line: str, direction_at: int, long_at: int, short_at: int) -> tuple[int, float, float]:
    """Direction code, longest and shortest radius (nmi) of one threshold; blanks = unknown."""
    direction = line[direction_at : direction_at + 1]
    longest, shortest = line[long_at : long_at + 4], line[short_at : short_at + 4]
    if not (direction + longest + shortest).strip():
        return -1, np.nan, np.nan
    if not (direction.isdigit() and longest.isdigit() and shortest.isdigit()):
        raise ValueError(
            f"wind radius {line[direction_at : short_at + 4]!r} "
            f"(columns {direction_at + 1}-{short_at + 4}) is not 'DLLLL SSSS'"
        )
    return int(direction), float(longest), float(shortest)


def _build(storm: _Storm, location: str) -> xr.Dataset:
    """Assemble the contract dataset of one storm."""
    radii = np.asarray(
        [[(d, lo, sh) for d, lo, sh in row] for row in storm.radii], dtype=float
    )  # (time, threshold, [direction, long, short])
    columns = TrackColumns(
        times=storm.times,
        lat=storm.lat,
        lon=storm.lon,
        psl_min=storm.psl_min,
        vmax=knots_to_ms(storm.vmax_kt).tolist(),
        rmw=[np.nan] * len(storm.times),
    )
    return build_track(
        columns,
        averaging_period="10 min",
        agency=AGENCY,
        attrs={
            "storm_id": storm.storm_id,
            "storm_name": storm.name,
            "tc_number": storm.tc_number,
            "last_line_flag": storm.last_line_flag,
            "revision_date": storm.revision_date,
            "source": f"{Path(location).name}: RSMC Tokyo best track, header line "
            f"{storm.header_line}",
            "references": "https://www.jma.go.jp/jma/jma-eng/jma-center/rsmc-hp-pub-eg/"
            "besttrack.html (credit the Japan Meteorological Agency)",
        },
        wind_thresholds_kt=_THRESHOLDS_KT,
        radii={
            "wind_radius_long": nautical_miles_to_km(radii[..., 1]),
            "wind_radius_short": nautical_miles_to_km(radii[..., 2]),
            "wind_radius_long_direction": radii[..., 0].astype(np.int8),
        },
        extra={
            "grade": (
                np.asarray(storm.grade, dtype=np.int8),
                {
                    "long_name": "JMA grade",
                    "units": "1",
                    "flag_values": np.asarray(list(_GRADE_MEANINGS), dtype=np.int8),
                    "flag_meanings": " ".join(_GRADE_MEANINGS.values()),
                },
            ),
            "landfall": (
                np.asarray(storm.landfall, dtype=np.int8),
                {
                    "long_name": "landfall or passage over the Japanese islands within one "
                    "hour after this time (JMA '#')",
                    "units": "1",
                    "flag_values": np.asarray([0, 1], dtype=np.int8),
                    "flag_meanings": "no yes",
                },
            ),
        },
    )

"""Figures of an event report: PNG bytes drawn with matplotlib's object API.

Every function returns the encoded PNG; :mod:`yujing.report` writes it atomically and
places it in the page. No pyplot and no global backend: each figure is a
:class:`matplotlib.figure.Figure` rendered by Agg, so reports can be drawn from worker
threads and nothing changes for other code in the process. Times are UTC throughout
(tz-naive ``datetime64`` or tz-aware timestamps converted to UTC) and axes say so.

Risk levels 0-4 (:data:`hazard_models.risk.RISK_COLOURS`) are coloured
none ``#f0f0f0``, blue ``#1f78b4``, yellow ``#ffd92f``, orange ``#ff7f00``, red ``#e31a1c``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Patch

from hazard_models.risk import RISK_COLOURS

__all__ = [
    "LEVEL_COLOURS",
    "MAX_PANELS",
    "CommunityShapes",
    "even_choice",
    "lead_time_histogram",
    "reliability_diagram",
    "risk_frames",
    "risk_small_multiples",
    "warning_timeline",
]

#: Fill colour of risk levels 0-4 (none, blue, yellow, orange, red).
LEVEL_COLOURS: tuple[str, ...] = ("#f0f0f0", "#1f78b4", "#ffd92f", "#ff7f00", "#e31a1c")
#: Most maps in one small-multiples figure.
MAX_PANELS = 12
_TIMELINE_ROWS = 40


# Area names may be Chinese (深圳 districts): a CJK font after the default one, where the
# machine has it (Debian: fonts-wqy-microhei, which .ci/run installs).
_FONTS: dict[Any, Any] = {"font.family": ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC"]}


@dataclass(frozen=True)
class CommunityShapes:
    """Exterior rings of the community polygons, built once and drawn every panel.

    ``rings`` holds one (n, 2) lon/lat array per polygon part and ``owner`` the position
    of the community each part belongs to (a multipolygon has several parts). Holes are
    not drawn: a community's fill covers them, which a map at this scale cannot show.
    """

    rings: list[np.ndarray]
    owner: np.ndarray
    bounds: tuple[float, float, float, float]

    @classmethod
    def from_layer(cls, communities: xr.Dataset) -> CommunityShapes:
        """The shapes of ``communities["geometry_wkt"]`` (WGS84 WKT)."""
        geometries = shapely.from_wkt(np.asarray(communities["geometry_wkt"].values, dtype=str))
        parts, owner = shapely.get_parts(geometries, return_index=True)
        exteriors = shapely.get_exterior_ring(parts)
        coordinates, ring = shapely.get_coordinates(exteriors, return_index=True)
        splits = np.flatnonzero(np.diff(ring)) + 1
        lon_min, lat_min, lon_max, lat_max = shapely.total_bounds(geometries)
        return cls(
            rings=np.split(coordinates, splits),
            owner=np.asarray(owner),
            bounds=(float(lon_min), float(lat_min), float(lon_max), float(lat_max)),
        )

    def draw(self, axes: Axes, levels: np.ndarray) -> PolyCollection:
        """Add the polygons filled by ``levels`` (one 0-4 value per community)."""
        thin = len(self.rings) < 500
        collection = PolyCollection(
            self.rings,
            facecolors=self.colours(levels),
            edgecolors="white" if thin else "none",
            linewidths=0.3 if thin else 0.0,
        )
        axes.add_collection(collection)
        lon_min, lat_min, lon_max, lat_max = self.bounds
        axes.set_xlim(lon_min, lon_max)
        axes.set_ylim(lat_min, lat_max)
        axes.set_aspect(1 / np.cos(np.deg2rad((lat_min + lat_max) / 2)))
        axes.set_axis_off()
        return collection

    def colours(self, levels: np.ndarray) -> list[str]:
        """The fill colour of every polygon part for the community ``levels``."""
        return [LEVEL_COLOURS[int(level)] for level in np.asarray(levels)[self.owner]]


def _png(figure: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _footnote(figure: Figure, text: str) -> None:
    """Provenance in small print along the bottom, in a strip kept free of the axes."""
    strip = 0.22 / figure.get_figheight()
    engine = figure.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, strip, 1, 1 - strip))
    figure.text(0.01, 0.005, text, fontsize=7, color="#555555", ha="left", va="bottom")


def _colour(level: str, ranks: Mapping[str, int], order: int) -> str:
    """The risk colour of a named level when its rank is known, else a plain cycle colour."""
    rank = ranks.get(level)
    return LEVEL_COLOURS[rank] if rank is not None and 0 < rank < 5 else f"C{order}"


def _by_rank(table: pd.DataFrame, ranks: Mapping[str, int]) -> list[tuple[str, pd.DataFrame]]:
    groups = [(str(level), group) for level, group in table.groupby("level", sort=False)]
    return sorted(groups, key=lambda item: ranks.get(item[0], 99))


def _level_legend(figure: Figure, title: str = "risk level") -> None:
    """The five risk colours across the top of the figure, under ``title``."""
    handles = [
        Patch(facecolor=c, edgecolor="#999999", label=n)
        for n, c in zip(RISK_COLOURS, LEVEL_COLOURS, strict=True)
    ]
    figure.legend(
        handles=handles,
        loc="outside upper center",
        ncols=len(handles),
        frameon=False,
        title=title,
        title_fontsize=10,
        fontsize=9,
    )


def _utc_label(time: np.datetime64) -> str:
    return pd.Timestamp(time).strftime("%Y-%m-%d %H:%M UTC")


def even_choice(count: int, limit: int) -> np.ndarray:
    """At most ``limit`` positions of ``range(count)`` spread evenly, first and last kept."""
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int))


@matplotlib.rc_context(_FONTS)
def risk_small_multiples(
    shapes: CommunityShapes, levels: xr.DataArray, hazard: str, footnote: str
) -> bytes:
    """Up to 12 maps of ``levels`` (dims time, community) at cycles chosen evenly."""
    chosen = even_choice(levels.sizes["time"], MAX_PANELS)
    columns = min(4, len(chosen))
    rows = -(-len(chosen) // columns)
    figure = Figure(figsize=(3.2 * columns, 3.0 * rows + 1.0), layout="constrained")
    values = levels.transpose("time", "community").values
    for panel, position in enumerate(chosen):
        axes = figure.add_subplot(rows, columns, panel + 1)
        shapes.draw(axes, values[position])
        axes.set_title(_utc_label(levels["time"].values[position]), fontsize=9)
    _level_legend(figure, f"{hazard}: community risk level at each cycle's issue time")
    _footnote(figure, footnote)
    return _png(figure)


@matplotlib.rc_context(_FONTS)
def risk_frames(
    shapes: CommunityShapes, levels: xr.DataArray, hazard: str, positions: Sequence[int]
) -> Iterator[bytes]:
    """One small map per cycle position, for the page's time slider.

    The figure and its polygons are built once; each frame only recolours them.
    """
    figure = Figure(figsize=(5.0, 4.6), layout="constrained")
    axes = figure.add_subplot()
    values = levels.transpose("time", "community").values
    collection = shapes.draw(axes, values[positions[0]])
    _level_legend(figure)
    for position in positions:
        collection.set_facecolor(shapes.colours(values[position]))
        axes.set_title(
            f"{hazard} risk at {_utc_label(levels['time'].values[position])}", fontsize=9
        )
        yield _png(figure, dpi=80)


def _naive_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_convert(None)


@matplotlib.rc_context(_FONTS)
def warning_timeline(
    warnings: pd.DataFrame,
    observed: pd.DataFrame,
    hazard: str,
    end: pd.Timestamp,
    footnote: str,
    agency: pd.DataFrame | None = None,
) -> tuple[bytes, int]:
    """Bars from issue to end of each warning, by area, and observed onsets as markers.

    A warning still in force at ``end`` (the replay's last time, tz-aware UTC) is hatched
    and runs a little past it. Either table may be empty. At most 40 areas are drawn
    (earliest issued first); returns the PNG and how many areas were left out.
    ``agency`` (columns ``rank``, ``start``, ``end``, UTC), where given, is drawn on its
    own row under the onsets: the agency's warnings, higher levels over lower ones.
    """
    if warnings.empty:
        warnings = pd.DataFrame(columns=["area", "area_name", "rank", "issued", "ended"])
    if observed.empty:
        observed = pd.DataFrame(columns=["rank", "onset"])
    table = warnings.assign(
        issued=_naive_utc(warnings["issued"]),
        ended=_naive_utc(warnings["ended"]),
        row=np.where(
            warnings["area_name"].astype(str) != "",
            warnings["area_name"].astype(str),
            warnings["area"].astype(str),
        ),
    ).sort_values("issued")
    areas = list(dict.fromkeys(table["row"]))
    shown, left_out = areas[:_TIMELINE_ROWS], max(0, len(areas) - _TIMELINE_ROWS)
    theirs = agency if agency is not None and not agency.empty else None
    labels = ["observed onsets", *(["agency's warnings"] if theirs is not None else []), *shown]
    figure = Figure(figsize=(10, 1.6 + 0.28 * len(labels)), layout="constrained")
    axes = figure.add_subplot()
    # a warning still in force runs a little past the last time, so that one issued then shows
    last = end.tz_convert(None)
    first = min([last, *table["issued"].dropna(), *_naive_utc(observed["onset"]).dropna()])
    if theirs is not None:
        for rank, start, stop in sorted(
            zip(theirs["rank"], _naive_utc(theirs["start"]), _naive_utc(theirs["end"]), strict=True)
        ):
            axes.barh(
                1,
                mdates.date2num(stop) - mdates.date2num(start),
                left=mdates.date2num(start),
                height=0.5,
                color=LEVEL_COLOURS[int(rank)],
                edgecolor="#333333",
                linewidth=0.4,
            )
    end_naive = last + max((last - first) * 0.03, pd.Timedelta("5 min"))
    drawn = table[table["row"].isin(shown)]
    for row, rank, issued, ended in zip(
        drawn["row"], drawn["rank"], drawn["issued"], drawn["ended"], strict=True
    ):
        start = mdates.date2num(issued)
        open_ended = pd.isna(ended)
        stop = mdates.date2num(end_naive if open_ended else ended)
        axes.barh(
            labels.index(row),
            max(stop - start, 1e-4),
            left=start,
            height=0.7,
            color=LEVEL_COLOURS[int(rank)],
            edgecolor="#333333",
            linewidth=0.4,
            hatch="//" if open_ended else None,
        )
    if not observed.empty:
        onsets = _naive_utc(observed["onset"])
        axes.scatter(
            mdates.date2num(onsets),
            np.zeros(len(onsets)),
            c=[LEVEL_COLOURS[int(rank)] for rank in observed["rank"]],
            marker="v",
            edgecolors="black",
            linewidths=0.5,
            s=40,
            zorder=3,
        )
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.xaxis.set_major_locator(mdates.AutoDateLocator())
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes.xaxis.get_major_locator()))
    axes.set_xlabel("time (UTC)")
    axes.grid(axis="x", color="#dddddd")
    axes.set_title(f"{hazard}: warnings in force (bars) and observed onsets (▼)", fontsize=11)
    _level_legend(figure)
    _footnote(figure, footnote)
    return _png(figure), left_out


@matplotlib.rc_context(_FONTS)
def lead_time_histogram(
    lead_minutes: pd.DataFrame, hazard: str, ranks: Mapping[str, int], footnote: str
) -> bytes:
    """Histogram of the finite ``lead_minutes`` stacked by level, a line at 60 minutes.

    ``ranks`` gives each level name its rank 1-4, hence its colour.
    """
    warned = lead_minutes[np.isfinite(lead_minutes["lead_minutes"].astype(float))]
    values = warned["lead_minutes"].astype(float)
    low, high = np.floor(min(values.min(), 0) / 15) * 15, np.ceil(max(values.max(), 60) / 15) * 15
    edges: list[float] | int = list(np.arange(low, high + 15, 15)) if high - low <= 900 else 40
    figure = Figure(figsize=(7, 3.8), layout="constrained")
    axes = figure.add_subplot()
    groups = _by_rank(warned, ranks)
    axes.hist(
        [group["lead_minutes"].astype(float) for _, group in groups],
        bins=edges,
        stacked=True,
        label=[level for level, _ in groups],
        color=[_colour(level, ranks, order) for order, (level, _) in enumerate(groups)],
        edgecolor="#333333",
        linewidth=0.4,
    )
    axes.axvline(60, color="black", linestyle="--", linewidth=1)
    axes.axvline(0, color="#888888", linewidth=0.8)
    axes.annotate(
        "60 min",
        (60, 1),
        xycoords=("data", "axes fraction"),
        xytext=(-3, -12),
        textcoords="offset points",
        ha="right",
        fontsize=8,
    )
    axes.set_xlabel("lead time: observed onset minus first warning (minutes; < 0: late)")
    axes.set_ylabel("observed events")
    axes.legend(title="level", fontsize=8)
    axes.set_title(f"{hazard}: lead times of warned events", fontsize=11)
    _footnote(figure, footnote)
    return _png(figure)


@matplotlib.rc_context(_FONTS)
def reliability_diagram(
    reliability: pd.DataFrame, hazard: str, ranks: Mapping[str, int], footnote: str
) -> bytes:
    """Observed frequency against mean forecast probability per bin and level.

    Each point is labelled with its bin's number of forecasts; ``ranks`` colours levels.
    """
    figure = Figure(figsize=(5.5, 5.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(
        [0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect reliability"
    )
    for order, (level, group) in enumerate(_by_rank(reliability.sort_values("bin_lower"), ranks)):
        axes.plot(
            group["forecast_mean"],
            group["observed_frequency"],
            marker="o",
            markeredgecolor="#333333",
            color=_colour(level, ranks, order),
            label=level,
        )
        for count, forecast, observed in zip(
            group["count"], group["forecast_mean"], group["observed_frequency"], strict=True
        ):
            axes.annotate(
                f"{int(count)}",
                (forecast, observed),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                color="#333333",
            )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_aspect("equal")
    axes.set_xlabel("forecast probability (bin mean)")
    axes.set_ylabel("observed frequency")
    axes.legend(title="level (numbers: forecasts in bin)", fontsize=8, title_fontsize=8)
    axes.set_title(f"{hazard}: reliability", fontsize=11)
    _footnote(figure, footnote)
    return _png(figure)

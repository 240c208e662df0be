"""The event report: one static HTML page per replay that a duty forecaster reads.

:func:`write_report` writes ``<folder>/report.html`` and its figures under
``<folder>/figures/`` (each file atomically; images referenced by relative path). The page
needs no server and loads nothing from the network; its one inline script moves the
per-cycle risk maps with a slider. Sections, in order:

* title, provenance table and notes (data gaps, caveats);
* skill per hazard and level, with what it was verified against;
* community risk over time: up to 12 maps per hazard and a slider over at most 48 cycles;
* warning timeline: warnings in force by area, observed onsets on the same UTC axis;
* lead times: histogram per hazard, missed events counted in the caption;
* reliability: diagram per hazard.

A section without data says so in words; no empty figure is drawn. Provenance keys the
figures' footnotes use when present: ``event``, ``time_span``, ``data_sources`` (name ->
path or description), ``model_versions`` (hazard -> version), ``created_by`` and
``git_revision``; every key is shown in the provenance table.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.risk import RISK_COLOURS
from ingest.storage import write_bytes_atomic
from yujing import figures

__all__ = ["write_report"]

_FRAMES = 48
_DASH = "–"
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
.none{color:#666;font-style:italic}.notes{background:#fff8e1;padding:.5em 1em}
"""
_SCRIPT = """
for (const box of document.querySelectorAll(".slider")) {
  const frames = JSON.parse(box.dataset.frames), labels = JSON.parse(box.dataset.labels);
  const image = box.querySelector("img"), input = box.querySelector("input");
  const shown = box.querySelector("output");
  input.addEventListener("input", () => {
    const i = Number(input.value);
    image.src = frames[i]; image.alt = box.dataset.hazard + " risk at " + labels[i];
    shown.textContent = labels[i];
  });
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "hazard"


def _utc(value: Any) -> str:
    if value is None or pd.isna(value):
        return _DASH
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def _cell(value: Any, kind: str) -> str:
    """A table cell: NaN as a dash, counts as integers, scores to two places."""
    if isinstance(value, str):
        return f"<td>{_e(value)}</td>"
    if value is None or pd.isna(value):
        return f'<td class="n">{_DASH}</td>'
    text = {
        "count": f"{int(value):d}",
        "score": f"{float(value):.2f}",
        "minutes": f"{float(value):.0f}",
        "share": f"{100 * float(value):.0f} %",
    }[kind]
    return f'<td class="n">{text}</td>'


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        items = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in value.items())
        return f"<ul>{items}</ul>"
    if isinstance(value, list | tuple):
        return "<br>".join(_e(v) for v in value)
    return _e(value)


def _footnote(provenance: Mapping[str, Any], hazard: str) -> str:
    """One line naming event, model version, sources and revision for a figure."""
    parts = [str(provenance["event"])] if "event" in provenance else []
    if "time_span" in provenance:
        parts.append(str(provenance["time_span"]))
    versions = provenance.get("model_versions", {})
    if isinstance(versions, Mapping) and hazard in versions:
        parts.append(f"model {versions[hazard]}")
    sources = provenance.get("data_sources", {})
    if isinstance(sources, Mapping) and sources:
        parts.append("data: " + ", ".join(map(str, sources)))
    if "git_revision" in provenance:
        parts.append(f"rev {provenance['git_revision']}")
    return " · ".join(parts)


def _none(text: str) -> str:
    return f'<p class="none">{_e(text)}</p>'


def _figure(source: str, alt: str, caption: str, footnote: str) -> str:
    return (
        f'<figure><img src="{_e(source)}" alt="{_e(alt)}"><figcaption>{_e(caption)}'
        f"<br><small>{_e(footnote)}</small></figcaption></figure>"
    )


class _Writer:
    """Writes figures into ``folder/figures`` and returns their relative paths."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: set[str] = set()

    def png(self, name: str, data: bytes) -> str:
        write_bytes_atomic(self.folder / "figures" / f"{name}.png", data)
        self.written.add(f"{name}.png")
        return f"figures/{name}.png"

    def remove_stale(self) -> None:
        """Delete figures an earlier report wrote that this one no longer shows."""
        for path in (self.folder / "figures").glob("*.png"):
            if path.name not in self.written:
                path.unlink(missing_ok=True)


def _skill_section(skill: pd.DataFrame) -> str:
    if skill.empty:
        return _none("No skill scores: nothing was verified for this event (no observed truth).")
    columns = [
        ("hazard", "hazard", "text"),
        ("level", "level", "text"),
        ("hits", "hits", "count"),
        ("misses", "misses", "count"),
        ("false_alarms", "false alarms", "count"),
        ("correct_negatives", "correct negatives", "count"),
        ("pod", "POD", "score"),
        ("far", "FAR", "score"),
        ("csi", "CSI", "score"),
        ("bias", "bias", "score"),
        ("events", "events", "count"),
        ("lead_median_min", "lead median (min)", "minutes"),
        ("lead_p10_min", "lead p10 (min)", "minutes"),
        ("lead_p90_min", "lead p90 (min)", "minutes"),
        ("share_ge_60", "lead ≥ 60 min", "share"),
        ("agency_median_min", "vs agency, median (min)", "minutes"),
        ("truth", "verified against", "text"),
    ]
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in columns)
    rows = []
    for record in skill.to_dict("records"):
        cells = "".join(
            _cell(str(record.get(key, "")) if kind == "text" else record.get(key), kind)
            for key, _, kind in columns
        )
        rows.append(
            f'<tr data-hazard="{_e(record["hazard"])}" data-level="{_e(record["level"])}">'
            f"{cells}</tr>"
        )
    return (
        f'<table id="skill"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<p><small>POD probability of detection, FAR false-alarm ratio, CSI critical success "
        "index, bias (hits + false alarms) / (hits + misses); lead = first warning before "
        f"observed onset; vs agency = our issue time minus the agency's (negative: earlier). "
        f"{_DASH} = not defined.</small></p>"
    )


def _agency_section(agency: pd.DataFrame) -> str:
    """Our warning periods beside the agency's, one row per pair (or unpaired period)."""
    labels = ["hazard", "level", "agency issued", "agency ended", "we warned from"]
    labels += ["we ended", "ours - theirs (min)", "outcome"]
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    rows = []
    for record in agency.to_dict("records"):
        theirs, ours = pd.notna(record["their_start"]), pd.notna(record["our_start"])
        outcome = "hit" if theirs and ours else ("miss" if theirs else "false alarm")
        cells = "".join(
            [
                _cell(str(record["hazard"]), "text"),
                _cell(str(record["level"]), "text"),
                *(
                    f"<td>{_e(_utc(record[key]))}</td>"
                    for key in ("their_start", "their_end", "our_start", "our_end")
                ),
                _cell(record["difference_min"], "minutes"),
                _cell(outcome, "text"),
            ]
        )
        rows.append(f'<tr data-outcome="{_e(outcome)}">{cells}</tr>')
    return (
        f'<table id="agency"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table><p><small>Each side's periods at a level include its higher levels; a "
        "period of ours is paired with the agency's it overlaps (see the skill table's "
        "'verified against'). Negative minutes: we warned earlier.</small></p>"
    )


def _risk_section(
    writer: _Writer,
    shapes: figures.CommunityShapes,
    hazard: str,
    levels: xr.DataArray,
    footnote: str,
) -> str:
    if levels.sizes.get("time", 0) == 0:
        return _none(f"{hazard}: no cycle produced risk levels.")
    slug = _slug(hazard)
    source = writer.png(
        f"risk_{slug}", figures.risk_small_multiples(shapes, levels, hazard, footnote)
    )
    times = levels["time"].values
    chosen = figures.even_choice(len(times), figures.MAX_PANELS)
    parts = [
        _figure(
            source,
            f"{hazard} risk maps",
            f"{hazard}: risk level per community at {len(chosen)} of {len(times)} cycles "
            f"({_utc(times[0])} to {_utc(times[-1])}).",
            footnote,
        )
    ]
    positions = [int(p) for p in figures.even_choice(len(times), _FRAMES)]
    frames = [
        writer.png(f"risk_{slug}_{number:03d}", data)
        for number, data in enumerate(figures.risk_frames(shapes, levels, hazard, positions))
    ]
    labels = [_utc(times[p]) for p in positions]
    parts.append(
        f'<div class="slider" data-hazard="{_e(hazard)}" data-frames="{_e(json.dumps(frames))}"'
        f' data-labels="{_e(json.dumps(labels))}"><img src="{_e(frames[0])}"'
        f' alt="{_e(hazard)} risk at {_e(labels[0])}"><br>'
        f'<label>cycle <input type="range" min="0" max="{len(frames) - 1}" value="0" step="1">'
        f"</label> <output>{_e(labels[0])}</output>"
        f"<p><small>{len(frames)} of {len(times)} cycles. {_e(footnote)}</small></p></div>"
    )
    return "".join(parts)


def _check_levels(hazard: str, levels: xr.DataArray, communities: xr.Dataset) -> None:
    if set(levels.dims) != {"time", "community"}:
        raise ValueError(f"levels[{hazard!r}] has dims {levels.dims}; give (time, community)")
    if levels.sizes["community"] != communities.sizes["community"]:
        raise ValueError(
            f"levels[{hazard!r}] has {levels.sizes['community']} communities, the community "
            f"layer {communities.sizes['community']}; pass the layer the results were made on"
        )
    if "community_id" in levels.coords and not np.array_equal(
        levels["community_id"].values, communities["community_id"].values
    ):
        raise ValueError(
            f"levels[{hazard!r}] lists communities in another order than the community layer; "
            "reindex it on the layer's community_id"
        )
    values = levels.values
    if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 4 or np.isnan(values).any()):
        raise ValueError(f"levels[{hazard!r}] holds values outside the risk levels 0-4")


def _rows(table: pd.DataFrame, hazard: str) -> pd.DataFrame:
    return table[table["hazard"].astype(str) == hazard] if len(table) else table


def _timeline_section(
    writer: _Writer,
    hazard: str,
    warnings: pd.DataFrame,
    observed: pd.DataFrame,
    end: pd.Timestamp | None,
    footnote: str,
    agency: pd.DataFrame | None = None,
) -> str:
    if end is None or (warnings.empty and observed.empty):
        return _none(f"No {hazard} warnings were issued and no onsets were observed.")
    png, left_out = figures.warning_timeline(warnings, observed, hazard, end, footnote, agency)
    areas = warnings["area"].nunique() if len(warnings) else 0
    caption = (
        f"{len(warnings)} warnings in {areas} areas (hatched: still in force at {_utc(end)}); "
        + (f"{len(observed)} observed onsets" if len(observed) else "no observed onsets")
        + (f"; {left_out} later areas not drawn" if left_out else "")
        + (
            "; the agency's own warnings on their own row, coloured by rank"
            if agency is not None
            else ""
        )
        + "."
    )
    source = writer.png(f"timeline_{_slug(hazard)}", png)
    return _figure(source, f"{hazard} warning timeline", caption, footnote)


def _agency_periods(agency: pd.DataFrame | None, hazard: str) -> pd.DataFrame | None:
    """The agency's own periods of ``hazard`` (rank, start, end) for the timeline."""
    if agency is None or agency.empty:
        return None
    rows = agency[(agency["hazard"] == hazard) & agency["their_start"].notna()]
    if rows.empty:
        return None
    rows = rows.drop_duplicates(["level", "their_start"])
    return pd.DataFrame(
        {"rank": rows["rank"].astype(int), "start": rows["their_start"], "end": rows["their_end"]}
    )


def _lead_time_section(
    writer: _Writer, hazard: str, events: pd.DataFrame, ranks: Mapping[str, int], footnote: str
) -> str:
    leads = events["lead_minutes"].astype(float) if len(events) else pd.Series(dtype=float)
    warned = np.isfinite(leads)
    missed = len(leads) - int(warned.sum())
    if not warned.any():
        return _none(
            f"No {hazard} lead times: {len(events)} observed events, {missed} of them missed."
        )
    png = figures.lead_time_histogram(events, hazard, ranks, footnote)
    caption = (
        f"{len(events)} observed events: {int(warned.sum())} warned "
        f"({int((leads[warned] >= 60).sum())} at least 60 min ahead, dashed line), "
        f"{missed} missed (never warned; not in the histogram)."
    )
    source = writer.png(f"lead_times_{_slug(hazard)}", png)
    return _figure(source, f"{hazard} lead times", caption, footnote)


def _reliability_section(
    writer: _Writer, hazard: str, bins: pd.DataFrame, ranks: Mapping[str, int], footnote: str
) -> str:
    bins = bins[bins["count"] > 0] if len(bins) else bins
    if bins.empty:
        return _none(f"No {hazard} probability forecasts were verified.")
    png = figures.reliability_diagram(bins, hazard, ranks, footnote)
    caption = (
        f"{int(bins['count'].sum())} forecasts in {len(bins)} bins "
        f"(levels {', '.join(map(str, bins['level'].unique()))}); "
        "points on the dashed diagonal are reliable."
    )
    source = writer.png(f"reliability_{_slug(hazard)}", png)
    return _figure(source, f"{hazard} reliability diagram", caption, footnote)


def _level_ranks(*tables: pd.DataFrame) -> dict[str, int]:
    """Each level name's rank 1-4 as the warnings and observations give it."""
    ranks: dict[str, int] = {}
    for table in tables:
        if {"level", "rank"} <= set(table.columns):
            ranks.update(zip(table["level"].astype(str), table["rank"].astype(int), strict=True))
    return ranks


def _last_time(levels: Mapping[str, xr.DataArray], warnings: pd.DataFrame) -> pd.Timestamp | None:
    """The end of the replay: its last cycle or last warning time (UTC)."""
    times = [pd.Timestamp(t, tz="UTC") for array in levels.values() for t in array["time"].values]
    for column in ("issued", "ended"):
        if column in warnings:
            times += list(pd.to_datetime(warnings[column], utc=True).dropna())
    return max(times) if times else None


def write_report(
    folder: Path,
    *,
    title: str,
    provenance: Mapping[str, Any],
    communities: xr.Dataset,
    levels: Mapping[str, xr.DataArray],
    warnings: pd.DataFrame,
    observed: pd.DataFrame,
    lead_times: pd.DataFrame,
    skill: pd.DataFrame,
    reliability: pd.DataFrame,
    notes: Sequence[str] = (),
    agency: pd.DataFrame | None = None,
) -> Path:
    """Write the static report page of one event replay and its figures.

    Parameters
    ----------
    folder
        Where ``report.html`` and ``figures/`` go (created if needed).
    title
        The page title.
    provenance
        Event, time span, data sources, model versions, creator, git revision: shown as a
        table and, shortened, under every figure (keys in the module docstring).
    communities
        The community layer: ``geometry_wkt`` (WGS84 WKT polygons) along ``community``.
    levels
        Per hazard, risk level 0-4 with dims ``(time, community)``, ``time`` the cycles'
        issue times (UTC, tz-naive), communities in the layer's order.
    warnings
        Columns hazard, area, area_name, level, rank (0-4), issued, ended (UTC, NaT while
        in force), communities, lead_minutes.
    observed
        Columns hazard, community, level, rank, onset (UTC).
    lead_times
        Columns hazard, level, community, observed_onset, first_warned, lead_minutes
        (NaN: missed).
    skill
        One row per hazard and level: hits, misses, false_alarms, correct_negatives, pod,
        far, csi, bias, events, lead_median_min, lead_p10_min, lead_p90_min, share_ge_60,
        agency_median_min, truth.
    reliability
        Columns hazard, level, bin_lower, bin_upper, forecast_mean, observed_frequency, count.
    notes
        Paragraphs shown under the provenance (data gaps, caveats).
    agency
        Where an agency's own warnings exist: columns hazard, level, rank, their_start,
        their_end, our_start, our_end (UTC, NaT on the side without a match),
        difference_min; the agency's periods are also drawn on the warning timeline.

    Returns
    -------
    Path
        ``folder / "report.html"``.

    Raises
    ------
    ValueError
        If a ``levels`` array does not fit the community layer or holds values outside 0-4.

    Notes
    -----
    Any table may be empty (a typhoon with no observed truth); that section then says so
    instead of showing a figure.
    """
    folder = Path(folder)
    writer = _Writer(folder)
    hazards = list(levels)
    for table in (warnings, observed, lead_times, skill, reliability):
        if "hazard" in table:
            hazards += [h for h in map(str, table["hazard"].unique()) if h not in hazards]
    end = _last_time(levels, warnings)
    footnotes = {hazard: _footnote(provenance, hazard) for hazard in hazards}

    body = [f"<h1>{_e(title)}</h1>", '<h2>Provenance</h2><table id="provenance">']
    body += [
        f"<tr><th>{_e(key.replace('_', ' '))}</th><td>{_value(value)}</td></tr>"
        for key, value in provenance.items()
    ]
    body.append("</table>")
    if notes:
        body.append('<div class="notes">' + "".join(f"<p>{_e(n)}</p>" for n in notes) + "</div>")
    body += ["<h2>Skill</h2>", _skill_section(skill)]
    if agency is not None and not agency.empty:
        body += ["<h2>Against the agency's own warnings</h2>", _agency_section(agency)]
    body.append("<h2>Community risk over time</h2>")
    if not levels:
        body.append(_none("No community risk levels were produced."))
    else:
        shapes = figures.CommunityShapes.from_layer(communities)
        for hazard, array in levels.items():
            _check_levels(hazard, array, communities)
            body.append(f"<h3>{_e(hazard)}</h3>")
            body.append(_risk_section(writer, shapes, hazard, array, footnotes[hazard]))
    body.append("<h2>Warning timeline</h2>")
    if not hazards:
        body.append(_none("No warnings were issued and no onsets were observed."))
    for hazard in hazards:
        warned, onsets = _rows(warnings, hazard), _rows(observed, hazard)
        theirs = _agency_periods(agency, hazard)
        section = _timeline_section(writer, hazard, warned, onsets, end, footnotes[hazard], theirs)
        body += [f"<h3>{_e(hazard)}</h3>", section]
    ranks = {h: _level_ranks(_rows(warnings, h), _rows(observed, h)) for h in hazards}
    body.append("<h2>Lead times</h2>")
    if not hazards:
        body.append(_none("No lead times: no observed events."))
    for hazard in hazards:
        events = _rows(lead_times, hazard)
        section = _lead_time_section(writer, hazard, events, ranks[hazard], footnotes[hazard])
        body += [f"<h3>{_e(hazard)}</h3>", section]
    body.append("<h2>Reliability</h2>")
    if not hazards:
        body.append(_none("No probability forecasts were verified."))
    for hazard in hazards:
        bins = _rows(reliability, hazard)
        section = _reliability_section(writer, hazard, bins, ranks[hazard], footnotes[hazard])
        body += [f"<h3>{_e(hazard)}</h3>", section]

    legend = ", ".join(f"{n} {c}" for n, c in zip(RISK_COLOURS, figures.LEVEL_COLOURS, strict=True))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<footer><small>Risk colours: {_e(legend)}. All times UTC.</small></footer>"
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
    written = write_bytes_atomic(folder / "report.html", page.encode("utf-8"))
    writer.remove_stale()
    return written

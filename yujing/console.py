"""The duty forecasters' console: one HTML page over the review API.

``GET /console`` (:func:`yujing.api.create_app`) shows the proposals waiting for a
forecaster (proposed and held), newest issue first, each with what a forecaster decides
on: hazard, level and action (issue, upgrade …), the area and how many communities with a
map of it on the region's outline (inline SVG), the expected onset and lead time in the
region's local time, the evidence (criterion, data, model version), the message text and
its history. Buttons confirm, hold or withdraw it (a hold or a withdrawal needs a reason),
or save a changed level, text or area (the community ids: remove some, add others from the
layer; the proposal then waits for confirmation). Every step is a call of the review API
(``POST /proposals/{id}/confirm`` …) under the name the forecaster typed, which the audit
log records; the page then reloads. A step the proposal's state no longer allows (another
forecaster was quicker) shows the API's reason on the card.

When the warning service is not healthy (:mod:`alerting.health`: a warning hazard's cycle
stopped, the dispatcher not draining the outbox, recent dead letters), a banner above the
proposals says so: a confirmed warning that no dispatcher sends reaches no one.

The page is self-contained: no external script, style sheet or font (the console must work
on a network cut off from the internet), every value HTML-escaped. It authenticates no one:
like the API, it belongs behind the proxy that does; with the API's ``identity_header`` the
forecaster's name is the proxy's signed-in user, shown and not editable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

if TYPE_CHECKING:
    import xarray as xr

    from alerting.health import HealthReport
    from yujing.api import ProposalView

__all__ = ["AreaMap", "console_page"]

_MAP_WIDTH = 320.0


class AreaMap:
    """Small SVG maps of warning areas on the region's outline; built once per layer.

    Longitude and latitude are drawn equirectangular, longitude scaled by the cosine of
    the region's mean latitude so that shapes keep their proportions; the polygons are
    simplified to about a pixel.
    """

    def __init__(self, communities: xr.Dataset) -> None:
        ids = communities["community_id"].values.astype(str)
        shapes = shapely.from_wkt(communities["geometry_wkt"].values)
        self._shapes = dict(zip(ids, shapes, strict=True))
        region = shapely.union_all(shapes)
        x0, y0, x1, y1 = region.bounds
        self._stretch = float(np.cos(np.radians((y0 + y1) / 2)))
        span = max((x1 - x0) * self._stretch, 1e-9)
        self._scale = _MAP_WIDTH / span
        self._origin = (x0, y1)
        self.height = max((y1 - y0) * self._scale, 1.0)
        self._tolerance = 1.0 / self._scale
        self.region_path = self._path(region)

    def _path(self, geometry: Any) -> str:
        x0, y1 = self._origin
        parts = []
        simple = shapely.simplify(geometry, self._tolerance, preserve_topology=True)
        for polygon in getattr(simple, "geoms", [simple]):
            if polygon.geom_type != "Polygon" or polygon.is_empty:
                continue
            for ring in (polygon.exterior, *polygon.interiors):
                xy = np.asarray(ring.coords)
                px = (xy[:, 0] - x0) * self._stretch * self._scale
                py = (y1 - xy[:, 1]) * self._scale
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))
                parts.append(f"M{points}Z")
        return " ".join(parts)

    def svg(self, community_ids: Sequence[str]) -> str:
        """The region in grey, the communities of the warning in the level's colour."""
        known = [self._shapes[c] for c in community_ids if c in self._shapes]
        area = self._path(shapely.union_all(known)) if known else ""
        return (
            f'<svg class="map" viewBox="0 0 {_MAP_WIDTH:.0f} {self.height:.0f}" '
            f'width="{_MAP_WIDTH:.0f}" height="{self.height:.0f}" role="img" '
            f'aria-label="warning area: {len(known)} communities">'
            f'<path class="region" d="{self.region_path}"/>'
            f'<path class="area" d="{area}"/></svg>'
        )


_LEVEL_COLOURS = {
    "white": "#f4f4f4",
    "blue": "#1f77b4",
    "yellow": "#f2c200",
    "amber": "#f2a900",
    "orange": "#ff7f0e",
    "red": "#d62728",
    "black": "#222222",
}

_STYLE = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 1.5em;
       background: #fafafa; color: #222; }
header { display: flex; gap: 2em; align-items: baseline; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #ccc; border-left: 0.6em solid var(--level);
        padding: 0.8em 1em; margin: 0.8em 0; max-width: 60em; }
.card h2 { font-size: 1.1em; margin: 0 0 0.4em 0; }
.meta { color: #555; }
table.evidence td { padding: 0.1em 0.8em 0.1em 0; vertical-align: top; }
.text { white-space: pre-wrap; background: #f4f4f4; padding: 0.5em; }
.error { color: #b00020; font-weight: bold; }
button { margin-right: 0.5em; }
svg.map { float: right; margin: 0 0 0.5em 1em; background: #eef3f7; }
svg.map path.region { fill: #ffffff; stroke: #999; stroke-width: 0.5; }
svg.map path.area { fill: var(--level); stroke: #222; stroke-width: 0.8; fill-rule: evenodd; }
.health { border: 2px solid; padding: 0.5em 1em; margin: 0.8em 0; max-width: 60em; }
.health.failing { border-color: #b00020; background: #fde8eb; }
.health.degraded { border-color: #b26a00; background: #fff4e0; }
.health ul { margin: 0.3em 0 0 0; }
"""

_SCRIPT = """
const nameField = document.getElementById("forecaster");
if (!nameField.readOnly) nameField.value = localStorage.getItem("yujing-forecaster") || "";
nameField.addEventListener("change", () =>
  localStorage.setItem("yujing-forecaster", nameField.value.trim()));
for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", async () => {
    const card = button.closest(".card");
    const status = card.querySelector(".status");
    const by = nameField.value.trim();
    if (!by) { status.textContent = "Type your name above first."; return; }
    const body = { by };
    const action = button.dataset.action;
    if (action === "edit") {
      const level = card.querySelector("select.level");
      const text = card.querySelector("textarea.text-edit").value.trim();
      const area = card.querySelector("textarea.area-edit");
      const ids = (field) => field.split(/[\\s,]+/).filter((id) => id);
      if (level && level.value !== card.dataset.level) body.level = level.value;
      if (text && text !== card.dataset.text) body.text = text;
      if (area && ids(area.value).join(" ") !== ids(area.defaultValue).join(" ")) {
        body.communities = ids(area.value);
        if (!body.communities.length) {
          status.textContent = "A warning needs a community; withdraw it instead."; return;
        }
      }
      if (!body.level && !body.text && !body.communities) {
        status.textContent = "Nothing changed."; return;
      }
    } else if (action !== "confirm") {
      const reason = card.querySelector("input.reason").value.trim();
      if (!reason) { status.textContent = "A reason is needed to " + action + "."; return; }
      body.reason = reason;
    }
    status.textContent = "…";
    const answer = await fetch("proposals/" + encodeURIComponent(card.dataset.id) + "/" + action,
      { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    if (answer.ok) { location.reload(); return; }
    const detail = await answer.json().catch(() => ({}));
    status.textContent = "Refused (" + answer.status + "): " +
      (typeof detail.detail === "string" ? detail.detail : JSON.stringify(detail.detail));
  });
}
"""


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "—" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _card(
    proposal: ProposalView, zone: ZoneInfo, levels: Sequence[str], area_map: AreaMap | None
) -> str:
    """One proposal's card; ``levels`` are its hazard's level names, lowest first."""
    lead = "—" if proposal.lead_time is None else f"{proposal.lead_time:.0f} min"
    colour = _LEVEL_COLOURS.get(proposal.level, "#888888")
    lifts = proposal.action == "cancel"
    # The change is the public's: from the level in force (the lifecycle's previous level
    # may never have gone out, or may be a step it took while a lowering waited).
    before = proposal.in_force.level if proposal.in_force else proposal.previous_level
    change = (
        f"{escape(before)} → {'lifted' if lifts else escape(proposal.level)}"
        if before
        else escape(proposal.level)
    )
    public = (
        "nothing in force"
        if proposal.in_force is None
        else f"<b>{escape(proposal.in_force.level)}</b> ({escape(proposal.in_force.msg_type)} "
        f"of {escape(_local(proposal.in_force.sent, zone))}), in force until "
        f"{escape(_local(proposal.in_force.expires, zone))}"
        + (", renewed while this waits" if proposal.in_force.renewed else "")
    )
    evidence = "".join(
        f"<tr><td>{escape(key)}</td><td>{escape(value)}</td></tr>"
        for key, value in sorted(proposal.evidence.items())
    )
    history = "".join(
        f"<li>{escape(_local(entry.at, zone))}: {escape(entry.action)} by {escape(entry.by)}"
        f"{' — ' + escape(entry.detail) if entry.detail else ''}</li>"
        for entry in proposal.audit
    )
    count = f"{proposal.communities} communit{'y' if proposal.communities == 1 else 'ies'}"
    text = f'<div class="text">{escape(proposal.text)}</div>' if proposal.text else ""
    options = "".join(
        f'<option value="{escape(name)}"{" selected" if name == proposal.level else ""}>'
        f"{escape(name)}</option>"
        for name in (levels or [proposal.level])
    )
    issued, onset = _local(proposal.issue_time, zone), _local(proposal.onset, zone)
    expires = _local(proposal.expires, zone)
    drawn = "" if area_map is None else area_map.svg(proposal.community_ids)
    # Lifting a signal: confirm or withdraw it (withdrawing keeps the signal), edit the text.
    confirm_label = "Confirm: lift the signal" if lifts else "Confirm and send"
    withdraw_label = "Withdraw: keep the signal" if lifts else "Withdraw"
    level_field = "" if lifts else f'<label>level <select class="level">{options}</select></label>'
    area_field = (
        ""
        if lifts
        else '<label>communities (ids; remove or add)<br><textarea class="area-edit" rows="3" '
        f'cols="60">{escape(" ".join(proposal.community_ids))}</textarea></label><br>'
    )
    return f"""
<section class="card" data-id="{escape(proposal.id)}" data-state="{escape(proposal.state)}"
         data-level="{escape(proposal.level)}" data-text="{escape(proposal.text)}"
         style="--level: {colour}">
  {drawn}
  <h2>{escape(proposal.hazard)} {change} — {escape(proposal.action)} — {escape(proposal.area_name)}
    <span class="meta">({escape(proposal.area)}, {count})</span></h2>
  <p class="meta">state <b>{escape(proposal.state)}</b> · issue {escape(issued)}
    · expected onset {escape(onset)} · lead time {escape(lead)} · expires {escape(expires)}</p>
  <p class="meta in-force">the public has: {public}</p>
  <table class="evidence">{evidence}</table>
  {text}
  <p>
    <button data-action="confirm">{confirm_label}</button>
    <input class="reason" placeholder="reason (to hold or withdraw)" size="32">
    <button data-action="hold">Hold</button>
    <button data-action="cancel">{withdraw_label}</button>
    <span class="status error" role="status"></span>
  </p>
  <details><summary>edit</summary><p>
    {level_field}
    <textarea class="text-edit" rows="2" cols="60" placeholder="message text (optional)"
      >{escape(proposal.text)}</textarea></p><p>
    {area_field}
    <button data-action="edit">Save changes</button></p></details>
  <details><summary>history</summary><ul>{history}</ul></details>
</section>"""


def console_page(
    proposals: Sequence[ProposalView],
    now: datetime,
    timezone: str,
    region_name: str,
    levels: Mapping[str, Sequence[str]] | None = None,
    signed_in: str | None = None,
    area_map: AreaMap | None = None,
    health: HealthReport | None = None,
) -> str:
    """The console's HTML: the given proposals (``ProposalView``), newest issue first.

    Parameters
    ----------
    proposals
        The proposals waiting (:class:`yujing.api.ProposalView`).
    now
        When the page is made (aware), shown in local time.
    timezone
        The region's IANA timezone, for every time shown.
    region_name
        Shown in the title.
    levels
        Per hazard, the level names a forecaster may choose when editing, lowest first.
    signed_in
        The user the signing-in proxy names (``create_app``'s ``identity_header``): the
        forecaster field shows it and cannot be changed.
    area_map
        Draws each proposal's area on the region (:class:`AreaMap`); none without it.
    health
        The warning service's health; a banner lists the checks that are not ok.
    """
    zone = ZoneInfo(timezone)
    ordered = sorted(proposals, key=lambda p: p.issue_time, reverse=True)
    cards = "".join(
        _card(p, zone, (levels or {}).get(p.hazard, ()), area_map) for p in ordered
    ) or ('<p id="none">No proposal waits for a forecaster.</p>')
    name_field = "" if signed_in is None else f' value="{escape(signed_in)}" readonly'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>yujing console — {escape(region_name)}</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>Proposed warnings — {escape(region_name)}</h1>
  <span class="meta">{len(ordered)} waiting · page of {escape(_local(now, zone))}
    · <a href="console">refresh</a></span>
  <label>Forecaster <input id="forecaster" autocomplete="name"{name_field}></label></header>
{_health_banner(health)}<main>{cards}</main>
<script>{_SCRIPT}</script>
</body></html>
"""


def _health_banner(health: HealthReport | None) -> str:
    """The checks that are not ok, above the proposals (nothing when all are ok)."""
    if health is None or health.status == "ok":
        return ""
    problems = "".join(
        f"<li><b>{escape(c.name)}</b>: {escape(c.detail)}</li>"
        for c in health.checks
        if c.status != "ok"
    )
    title = (
        "The warning service is failing: confirmed warnings may not reach anyone"
        if health.status == "failing"
        else "The warning service needs attention"
    )
    return (
        f'<section class="health {health.status}" role="alert"><b>{title}</b>'
        f"<ul>{problems}</ul></section>\n"
    )

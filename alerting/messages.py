"""From a lifecycle decision to its CAP 1.2 message, in Simplified Chinese and English.

:func:`decision_to_cap` writes one :class:`~alerting.cap.CapAlert` per decision: ``Alert``
for a first issue, ``Update`` (referencing the previous message of the same area) for an
upgrade, downgrade, extension or change of area, ``Cancel`` for a cancellation. The area is
the union of the communities at the warned level (their polygons from the community layer),
simplified and written as closed rings with at most 6 decimals, with the area's
administrative code (GB/T 2260) as geocode. Identifiers come from
:func:`~alerting.cap.cap_identifier`, so re-running a cycle re-creates the same message.

Severity by the level's rank (1 blue Minor, 2 yellow Moderate, 3 orange Severe, 4 red
Extreme; an advisory, rank 0, Minor); urgency Immediate when the expected onset is within
the hour, else Expected; certainty Likely (the level's probability reached the model's
warning threshold, at least 0.3 by default, and the forecaster or the policy confirmed it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import xarray as xr

from alerting.cap import CapAlert, CapArea, CapInfo, CapReference, cap_identifier
from alerting.lifecycle import Decision

__all__ = ["HAZARD_NAMES", "ZONE_NAMES", "MessageContext", "decision_to_cap", "local_clock_zh"]

_SEVERITY = {0: "Minor", 1: "Minor", 2: "Moderate", 3: "Severe", 4: "Extreme"}
HAZARD_NAMES = {
    "typhoon": ("台风", "Typhoon"),
    "rainstorm": ("暴雨", "Rainstorm"),
    "heatwave": ("高温", "Heat"),
    "waterlogging": ("内涝", "Waterlogging"),
}
"""Chinese and English names of the hazards in messages (others are written as named)."""
_LEVEL_NAMES = {
    "white": "白色",
    "blue": "蓝色",
    "yellow": "黄色",
    "orange": "橙色",
    "red": "红色",
}
_ACTIONS_EN = {
    "issue": "issued",
    "upgrade": "upgraded",
    "downgrade": "downgraded",
    "extend": "extended",
    "update": "updated",
    "cancel": "cancelled",
}
_ACTIONS_ZH = {
    "issue": "发布",
    "upgrade": "升级",
    "downgrade": "降级",
    "extend": "延续",
    "update": "更新",
    "cancel": "解除",
}


@dataclass(frozen=True)
class MessageContext:
    """What every message of a deployment shares."""

    sender: str
    """CAP sender, e.g. ``yujing@440300.example``."""
    sender_code: str
    """National identifier prefix: admin code + agency code, 14 digits."""
    sender_name: str
    region_name: str
    timezone: str
    communities: xr.Dataset
    """The community layer (``community_id``, ``geometry_wkt``)."""
    status: str = "Actual"
    instructions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Per level of the hazard's scheme, what to do (Chinese, English): the CAP
    ``instruction``; a level without one points to the signal's defence guidelines."""


_GUIDELINES = (
    "请按照预警信号防御指引做好防御。",
    "Follow the defence guidelines of the warning signal.",
)
_CANCELLED = (
    "预警已解除，请继续关注最新天气信息。",
    "The warning is over; keep following the latest weather information.",
)


def _area_polygons(
    context: MessageContext, communities: tuple[str, ...]
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Closed (lat, lon) rings of the union of ``communities``, simplified, ≤ 6 decimals."""
    if not communities:
        return ()
    layer = context.communities
    chosen = np.isin(layer["community_id"].values.astype(str), np.array(communities))
    shapes = shapely.from_wkt(layer["geometry_wkt"].values[chosen])
    union = shapely.unary_union(shapes).simplify(0.001, preserve_topology=True)
    rings = []
    for polygon in getattr(union, "geoms", [union]):
        if polygon.geom_type != "Polygon" or polygon.is_empty:
            continue
        exterior = shapely.set_precision(polygon, 1e-6).exterior
        points = tuple((round(lat, 6), round(lon, 6)) for lon, lat in exterior.coords)
        if len(points) >= 4 and shapely.Polygon([(b, a) for a, b in points]).is_valid:
            rings.append(points)
    return tuple(rings)


ZONE_NAMES = {"Asia/Shanghai": ("北京时间", "Beijing time"), "Asia/Hong_Kong": ("香港时间", "HKT")}
"""Chinese and English names of the clocks of the regions whose warnings are written in
Chinese; other regions' times are given as local time with their UTC offset."""


def local_clock_zh(timezone: str, at: datetime) -> str:
    """How a Chinese text names the region's clock: its name in :data:`ZONE_NAMES`, else
    the local time with its UTC offset at ``at`` (e.g. ``当地时间 UTC+01:00``)."""
    if timezone in ZONE_NAMES:
        return ZONE_NAMES[timezone][0]
    offset = at.astimezone(ZoneInfo(timezone)).strftime("%z")
    return f"当地时间 UTC{offset[:3]}:{offset[3:]}"


def decision_to_cap(decision: Decision, context: MessageContext) -> CapAlert:
    """The CAP 1.2 message of ``decision`` (see the module docstring)."""
    zone = ZoneInfo(context.timezone)
    hazard_zh, hazard_en = HAZARD_NAMES.get(decision.hazard, (decision.hazard,) * 2)
    level_zh = _LEVEL_NAMES.get(decision.level, decision.level)
    rank = decision.rank
    identifier = cap_identifier(
        context.sender_code, decision.hazard, decision.area, decision.issue_time, 0
    )
    references: tuple[CapReference, ...] = ()
    msg_type = "Alert"
    if decision.action != "issue" and decision.previous_issue_time is not None:
        msg_type = "Cancel" if decision.action == "cancel" else "Update"
        previous = cap_identifier(
            context.sender_code, decision.hazard, decision.area, decision.previous_issue_time, 0
        )
        references = (CapReference(context.sender, previous, decision.previous_issue_time),)
    onset = decision.onset
    urgency = (
        "Immediate" if onset is None or onset - decision.issue_time <= timedelta(hours=1)
        else "Expected"
    )  # fmt: skip
    expires = decision.expires
    if expires <= decision.issue_time:
        expires = decision.issue_time + timedelta(minutes=30)  # a Cancel stays 30 min
    polygons = _area_polygons(context, decision.communities)
    # An administrative code (GB/T 2260: 6-digit county, 9-digit street, 12-digit
    # community) is the geocode of the national profile; any other area id is ours.
    official = decision.area.isdigit() and len(decision.area) in (6, 9, 12)
    geocodes = (("GB/T 2260" if official else "yujing:area", decision.area),)
    area_zh = CapArea(f"{context.region_name}{decision.area_name}", polygons, (), geocodes)
    area_en = CapArea(f"{decision.area_name} ({decision.area}), {context.region_name}",
                      polygons, (), geocodes)  # fmt: skip
    local_onset = onset.astimezone(zone).strftime("%m-%d %H:%M") if onset else "—"
    clock_zh = local_clock_zh(context.timezone, onset or decision.issue_time)
    criterion = decision.evidence.get("criterion", "")
    instruction_zh, instruction_en = (
        _CANCELLED
        if decision.action == "cancel"
        else context.instructions.get(decision.level, _GUIDELINES)
    )
    action_zh, action_en = _ACTIONS_ZH[decision.action], _ACTIONS_EN[decision.action]
    common = {
        "categories": ("Met",),
        "urgency": urgency,
        "severity": _SEVERITY.get(rank, "Unknown"),
        "certainty": "Likely",
        "expires": expires,
        "effective": decision.issue_time,
        "onset": onset,
        "sender_name": context.sender_name,
        "parameters": (
            ("yujing:level", decision.level),
            ("yujing:communities", str(len(decision.communities))),
            ("yujing:model", decision.evidence.get("model", "")),
        ),
    }
    zh = CapInfo(
        language="zh-CN",
        event=f"{hazard_zh}{level_zh}预警",
        headline=f"{context.region_name}{decision.area_name}{hazard_zh}{level_zh}预警{action_zh}",
        description=(
            f"{decision.area_name}{len(decision.communities)}个社区达到{hazard_zh}{level_zh}"
            f"预警标准（{criterion}），预计开始时间 {local_onset}（{clock_zh}）。"
            if decision.action != "cancel"
            else f"{decision.area_name}{hazard_zh}预警解除。"
        ),
        instruction=instruction_zh,
        areas=(area_zh,),
        **common,  # type: ignore[arg-type]
    )
    en = CapInfo(
        language="en-US",
        event=f"{hazard_en} {decision.level} warning",
        headline=f"{hazard_en} {decision.level} warning {action_en} for {decision.area_name}",
        description=(
            f"{len(decision.communities)} communities of {decision.area_name} are expected to "
            f"meet the {decision.level} criterion ({criterion}); expected onset "
            f"{local_onset} local time."
            if decision.action != "cancel"
            else f"The {hazard_en.lower()} warning for {decision.area_name} is cancelled."
        ),
        instruction=instruction_en,
        areas=(area_en,),
        **common,  # type: ignore[arg-type]
    )
    return CapAlert(
        identifier=identifier,
        sender=context.sender,
        sent=decision.issue_time.replace(microsecond=0),
        status=context.status,  # type: ignore[arg-type]
        msg_type=msg_type,  # type: ignore[arg-type]
        scope="Public",
        infos=(zh, en),
        references=references,
        note=f"yujing decision {decision.action}, sequence {decision.sequence}",
    )

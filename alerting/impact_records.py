"""What an impact assessment gives back: a forecast for an asset and rule, in two languages,
or the reason it could not be assessed (see :mod:`alerting.impact`).

A forecast with ``met=False`` is a rule evaluated and *not* met: sent on the thread of an
impact forecast sent before, it tells the subscriber the impact is no longer forecast
(``"status": "ended"`` in its JSON).

>>> from datetime import UTC, datetime
>>> forecast = ImpactForecast(
...     hazard="typhoon", subscriber_id="yantian-port", asset_id="terminal-gate",
...     asset_name="码头闸口", rule_position=0, variable="wsgsmax", comparison=">=",
...     threshold="17.2 m s-1", within="12 h", probability=0.6, value=None, units=None,
...     first_time=datetime(2018, 9, 16, 4, 40, tzinfo=UTC),
...     issue_time=datetime(2018, 9, 16, 1, tzinfo=UTC), communities=("cell-1",),
...     basis="exceedance_probability[threshold=17.2 m s-1 (gust Beaufort 8), window=12 h]",
...     model="typhoon-ensemble 0.6.0")
>>> forecast.subject("en-US")
'Typhoon impact forecast for 码头闸口: gust >= 17.2 m s-1 within 12 h, probability 60 %'
>>> forecast.state_key
'yantian-port/terminal-gate/typhoon/0:p6:t2018-09-16T05Z:exact'
>>> from dataclasses import replace
>>> ended = replace(forecast, probability=0.1, first_time=None, met=False)
>>> ended.state_key, json.loads(ended.to_json())["status"]
('yantian-port/terminal-gate/typhoon/0:ended', 'ended')
>>> ended.subject("en-US")[:52]
'Typhoon impact forecast ended for 码头闸口: gust >= 17.2'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from alerting.messages import HAZARD_NAMES, ZONE_NAMES
from alerting.subscriptions.request import VARIABLES, Rule
from ingest.units import parse_duration, parse_quantity

__all__ = [
    "LANGUAGES",
    "Bound",
    "ImpactForecast",
    "Unassessed",
    "parse_threshold",
    "parse_window",
    "rule_threshold",
]

Bound = Literal["exact", "upper", "lower"]
LANGUAGES = ("zh-CN", "en-US")
_VARIABLE_NAMES = {
    "pr": ("雨强", "rain rate"),
    "sfcWind": ("10 分钟平均风速", "10-min mean wind"),
    "wsgsmax": ("阵风", "gust"),
    "heat_index": ("体感温度", "heat index"),
    "tas": ("气温", "air temperature"),
    "water_depth": ("积水深度", "water depth"),
    "probability": ("概率", "probability"),
}
_QUALIFIERS = {"exact": ("", ""), "upper": ("≤ ", "at most "), "lower": ("≥ ", "at least ")}


# -- the records -----------------------------------------------------------------------------


def _iso(time: datetime | None) -> str | None:
    return None if time is None else time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ImpactForecast:
    """A subscriber's rule met at one of its assets, from one hazard result.

    Parameters
    ----------
    hazard, subscriber_id, asset_id, asset_name
        Whose asset, for which hazard.
    rule_position
        Position of the rule among all the subscriber's rules, as stored
        (:attr:`AssetMatch.rule_positions`).
    variable, comparison, threshold, within
        The rule as written (``"17.2 m s-1"``, ``"12 h"``).
    probability
        Probability of meeting the rule (``None`` for a deterministic rule).
    value, units
        Deterministic value in the variable's stored unit (``None`` for a probability).
    first_time
        Expected time the threshold is first reached (aware UTC), ``None`` if unknown.
    issue_time
        When this forecast is issued (aware UTC).
    communities
        The asset's communities the rule was evaluated over.
    basis
        Which result variable answered, and how.
    model
        The model, its version and the time it was run for.
    bound
        ``"exact"``; ``"upper"`` when the probability is an upper bound taken at a lower
        computed threshold or a longer window; ``"lower"`` for a lower bound taken at a
        higher threshold or a shorter window (module docstring).
    expires
        When the rule's window, counted from the time the model was run for, ends (aware
        UTC): past it the forecast speaks only of the past, and is not pushed late.
        ``None``: unknown (never expires).
    met
        ``False``: the rule was evaluated and is not met (the probability or value is the
        one the cycle found); such a record ends an impact forecast sent before.
    """

    hazard: str
    subscriber_id: str
    asset_id: str
    asset_name: str
    rule_position: int
    variable: str
    comparison: str
    threshold: str
    within: str
    probability: float | None
    value: float | None
    units: str | None
    first_time: datetime | None
    issue_time: datetime
    communities: tuple[str, ...]
    basis: str
    model: str
    bound: Bound = "exact"
    expires: datetime | None = None
    met: bool = True

    @property
    def state_key(self) -> str:
        """A short key that changes only when the impact meaningfully changes.

        Probability in tenths (or value in tenths of the threshold), first time rounded
        to the hour, and the bound; a caller sends a forecast only when its key is new.
        A rule not met has the key ``<where>:ended``.
        """
        where = f"{self.subscriber_id}/{self.asset_id}/{self.hazard}/{self.rule_position}"
        if not self.met:
            return f"{where}:ended"
        if self.probability is not None:
            band = f"p{math.floor(self.probability * 10 + 1e-9)}"
        else:
            limit = parse_threshold(self.threshold, VARIABLES[self.variable].units)
            value = self.value if self.value is not None else math.nan
            scaled = value * 10 / limit if limit > 0 else value
            band = f"v{math.floor(scaled + 1e-9)}" if math.isfinite(scaled) else "v?"
        when = "t?"
        if self.first_time is not None:
            hour = (self.first_time.astimezone(UTC) + timedelta(minutes=30)).replace(
                minute=0, second=0, microsecond=0
            )
            when = f"t{hour:%Y-%m-%dT%H}Z"
        return f"{where}:{band}:{when}:{self.bound}"

    def to_json(self) -> bytes:
        """The forecast as UTF-8 JSON: sorted keys, ISO-8601 UTC times, units named.

        The same forecast always gives the same bytes.
        """
        data: dict[str, Any] = {
            "asset_id": self.asset_id,
            "asset_name": self.asset_name,
            "basis": self.basis,
            "bound": self.bound,
            "communities": list(self.communities),
            "comparison": self.comparison,
            "expires": _iso(self.expires),
            "first_time": _iso(self.first_time),
            "hazard": self.hazard,
            "issue_time": _iso(self.issue_time),
            "model": self.model,
            "probability": self.probability,
            "probability_units": None if self.probability is None else "1",
            "rule_position": self.rule_position,
            "state_key": self.state_key,
            "status": "forecast" if self.met else "ended",
            "subscriber_id": self.subscriber_id,
            "threshold": self.threshold,
            "units": self.units,
            "value": self.value,
            "variable": self.variable,
            "within": self.within,
        }
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")

    def subject(self, language: str) -> str:
        """One line for ``language`` (``zh-CN`` or ``en-US``)."""
        _check_language(language)
        zh = language == "zh-CN"
        hazard = HAZARD_NAMES.get(self.hazard, (self.hazard, self.hazard))[0 if zh else 1]
        variable = _VARIABLE_NAMES.get(self.variable, (self.variable, self.variable))
        hours = _hours(self.within)
        if zh:
            rule = f"{variable[0]} {self.comparison} {self.threshold}（{hours} 小时内）"
            if not self.met:
                return f"{hazard}影响预报解除 {self.asset_name}：{rule}不再预报，{self._amount(zh)}"
            return f"{hazard}影响预报 {self.asset_name}：{rule}，{self._amount(zh)}"
        rule = f"{variable[1]} {self.comparison} {self.threshold} within {self.within}"
        if not self.met:
            return (
                f"{hazard} impact forecast ended for {self.asset_name}: {rule} no longer "
                f"forecast, {self._amount(zh)}"
            )
        return f"{hazard} impact forecast for {self.asset_name}: {rule}, {self._amount(zh)}"

    def text(self, languages: tuple[str, ...], timezone: str = "Asia/Shanghai") -> str:
        """A short message in each of ``languages``, times in local ``timezone``."""
        for language in languages:
            _check_language(language)
        zone = ZoneInfo(timezone)
        local_zh, local_en = ZONE_NAMES.get(timezone, (timezone, timezone))
        parts = []
        for language in languages:
            zh = language == "zh-CN"
            lines = [self.subject(language)]
            issued = self.issue_time.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            first = (
                None
                if self.first_time is None or not self.met
                else self.first_time.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            )
            count = len(self.communities)
            if zh:
                if first is not None:
                    lines.append(f"预计最早出现时间：{first}（{local_zh}）")
                if not self.met:
                    lines.append("本次预报已不满足该规则，此前发送的影响预报解除。")
                lines.append(f"涉及 {count} 个社区/网格。发布时间：{issued}（{local_zh}）")
                if self.bound != "exact":
                    kind = "上限" if self.bound == "upper" else "下限"
                    lines.append(f"注：概率为{kind}估计（模式未计算该阈值或时段）。")
                lines.append(f"依据：{self.model}；{self.basis}")
            else:
                if first is not None:
                    lines.append(f"Expected first at {first} ({local_en}).")
                if not self.met:
                    lines.append(
                        "This cycle's forecast no longer meets the rule: the impact forecast "
                        "sent before is ended."
                    )
                lines.append(f"{count} communities affected. Issued {issued} ({local_en}).")
                if self.bound != "exact":
                    lines.append(
                        f"Note: the probability is {'an' if self.bound == 'upper' else 'a'} "
                        f"{self.bound} bound (the model did not compute this threshold or "
                        "window)."
                    )
                lines.append(f"Basis: {self.model}; {self.basis}")
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def _amount(self, zh: bool) -> str:
        if self.probability is not None:
            percent = f"{self.probability * 100:.0f} %"
            qualifier = _QUALIFIERS[self.bound]
            prefix = qualifier[0 if zh else 1]
            return f"概率 {prefix}{percent}" if zh else f"probability {prefix}{percent}"
        value = f"{self.value:.1f} {self.units}" if self.value is not None else "?"
        return f"预计最大 {value}" if zh else f"expected up to {value}"


@dataclass(frozen=True)
class Unassessed:
    """A rule of an asset that the hazard result cannot answer, and why."""

    subscriber_id: str
    asset_id: str
    rule_position: int
    reason: str


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {list(LANGUAGES)}")


@lru_cache(maxsize=4096)
def parse_window(text: str) -> timedelta:
    """:func:`parse_duration`, remembered: thousands of rules share a few windows."""
    return parse_duration(text)


@lru_cache(maxsize=4096)
def parse_threshold(text: str, units: str) -> float:
    """:func:`parse_quantity`, remembered: thousands of rules share a few thresholds."""
    return parse_quantity(text, units)


def rule_threshold(rule: Rule) -> float:
    """The rule's threshold in its variable's stored unit (as ``rule.threshold_value``)."""
    return parse_threshold(rule.threshold, VARIABLES[rule.variable].units)


def _hours(within: str) -> str:
    return f"{parse_window(within).total_seconds() / 3600:g}"

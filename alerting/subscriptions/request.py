"""The subscription request: who subscribes, which assets, which rules, which channels.

A sector operator sends one JSON object::

    {"subscriber": {"id": "yantian-port", "name": "...", "organisation": "...",
                    "sector": "port"},
     "assets": [{"id": "terminal", "name": "...", "geometry": {GeoJSON}, "buffer": "1 km"}],
     "rules": [{"hazard": "typhoon", "variable": "wsgsmax", "comparison": ">=",
                "threshold": "17.2 m s-1", "within": "12 h", "min_probability": 0.3}],
     "channels": [{"kind": "webhook", "url": "https://...", "languages": ["zh-CN"]}]}

Every rule applies to every asset of the subscriber. A rule's threshold is written with
units and must have the dimension of its variable:

============  ============  =======================  ==============================
variable      stored unit   accepted, e.g.           hazards
============  ============  =======================  ==============================
pr            mm h-1        ``40 mm h-1``            rainstorm, typhoon, waterlogging
sfcWind       m s-1         ``17.2 m s-1``, ``62 km h-1``  typhoon
wsgsmax       m s-1         ``17.2 m s-1``           typhoon
heat_index    degC          ``41 degC``, ``314 K``   heatwave
tas           degC          ``35 degC``              heatwave
water_depth   m             ``0.3 m``, ``30 cm``     waterlogging
probability   1             ``0.3 1``, ``30 %``      all
============  ============  =======================  ==============================

``pr`` is a *rain rate*: an accumulation such as ``50 mm`` is refused (its window would be
ambiguous); write ``50 mm h-1`` for a rate. ``within`` is the lead-time window, a positive
duration of at most 72 h. Text is kept as written (so a stored request reads back equal);
:attr:`Rule.threshold_value` and :attr:`Rule.within_duration` give the converted values.

Validation collects every problem it finds into one
:class:`~alerting.subscriptions.errors.SubscriptionError`, each naming its field path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from alerting.subscriptions.channels import Channel
from alerting.subscriptions.errors import BODY, Problem, SubscriptionError
from alerting.subscriptions.geometry import EARTH, Geometry, RegionBounds
from ingest.units import UnitsError, parse_duration, parse_quantity

__all__ = [
    "HAZARDS",
    "MAX_WITHIN",
    "SECTORS",
    "SLUG_PATTERN",
    "VARIABLES",
    "Asset",
    "Hazard",
    "Rule",
    "Sector",
    "Subscriber",
    "SubscriptionRequest",
    "Variable",
    "VariableSpec",
    "parse_request",
    "parse_request_json",
]

Sector = Literal["metro", "roads", "port", "power", "water", "health", "construction", "other"]
Hazard = Literal["rainstorm", "typhoon", "heatwave", "waterlogging"]
Variable = Literal["pr", "sfcWind", "wsgsmax", "heat_index", "tas", "water_depth", "probability"]
SECTORS: tuple[str, ...] = get_args(Sector)
HAZARDS: tuple[str, ...] = get_args(Hazard)
MAX_WITHIN = timedelta(hours=72)
MAX_BUFFER_M = 100_000.0
MAX_BODY_BYTES = 4_000_000

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"
"""What a subscriber, asset or rule id looks like (``yantian-port``)."""
Slug = Annotated[str, Strict(), Field(pattern=SLUG_PATTERN)]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("is blank; write a name people will recognise")
    return text


Name = Annotated[str, Strict(), Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


@dataclass(frozen=True)
class VariableSpec:
    """What a rule's threshold on one variable must look like.

    Parameters
    ----------
    units
        Unit the threshold is converted to (and the dimension it must have).
    kind
        What the quantity is, for messages (``wind speed``).
    example
        A threshold written correctly.
    lower, upper
        Plausible range in ``units``; outside it the threshold is refused.
    hazards
        Hazards whose forecasts provide the variable.
    """

    units: str
    kind: str
    example: str
    lower: float
    upper: float
    hazards: frozenset[str]


_ALL = frozenset(HAZARDS)
VARIABLES: dict[str, VariableSpec] = {
    "pr": VariableSpec(
        "mm h-1",
        "rain rate",
        "40 mm h-1",
        0.0,
        500.0,
        frozenset({"rainstorm", "typhoon", "waterlogging"}),
    ),
    "sfcWind": VariableSpec(
        "m s-1", "wind speed", "17.2 m s-1", 0.0, 120.0, frozenset({"typhoon"})
    ),
    "wsgsmax": VariableSpec(
        "m s-1", "wind speed", "17.2 m s-1", 0.0, 150.0, frozenset({"typhoon"})
    ),
    "heat_index": VariableSpec(
        "degC", "temperature", "41 degC", -60.0, 80.0, frozenset({"heatwave"})
    ),
    "tas": VariableSpec("degC", "temperature", "35 degC", -60.0, 60.0, frozenset({"heatwave"})),
    "water_depth": VariableSpec(
        "m", "water depth", "0.3 m", 0.0, 20.0, frozenset({"waterlogging"})
    ),
    "probability": VariableSpec("1", "probability", "0.3 1", 0.0, 1.0, _ALL),
}
"""Threshold rules per variable (see the module docstring's table)."""

_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Subscriber(_Frozen):
    """Who subscribes: an id slug (``yantian-port``), names and the sector."""

    id: Slug
    name: Name
    organisation: Name
    sector: Sector


class Asset(_Frozen):
    """One asset: a GeoJSON geometry and an optional buffer distance around it."""

    id: Slug
    name: Name
    geometry: Geometry
    buffer: Annotated[str, Strict(), Field(max_length=64)] | None = None

    @field_validator("geometry", mode="after")
    @classmethod
    def _inside_region(cls, geometry: Geometry, info: ValidationInfo) -> Geometry:
        region = (info.context or {}).get("region", EARTH)
        problem = (
            region.problem(geometry.to_shapely()) if isinstance(region, RegionBounds) else None
        )
        if problem is not None:
            raise ValueError(problem)
        return geometry

    @field_validator("buffer", mode="after")
    @classmethod
    def _buffer_is_distance(cls, buffer: str | None) -> str | None:
        if buffer is None:
            return None
        try:
            metres = parse_quantity(buffer, "m")
        except UnitsError:
            raise ValueError(
                f"{buffer!r} is not a distance; write e.g. '{_magnitude(buffer, '1')} km'"
            ) from None
        if not 0.0 <= metres <= MAX_BUFFER_M:
            raise ValueError(f"{buffer!r} is outside 0..100 km; give a buffer such as '1 km'")
        return buffer

    @property
    def buffer_m(self) -> float:
        """The buffer in metres (0 when none is given)."""
        return 0.0 if self.buffer is None else parse_quantity(self.buffer, "m")


class Rule(_Frozen):
    """Notify when ``variable`` (``comparison``) ``threshold`` within the lead-time window."""

    hazard: Hazard
    variable: Variable
    comparison: Literal[">=", ">"]
    threshold: Annotated[str, Field(max_length=64)]
    within: Annotated[str, Field(max_length=64)]
    min_probability: (
        Annotated[float, Strict(), AllowInfNan(False), Field(ge=0.0, le=1.0)] | None
    ) = None

    @field_validator("variable", mode="after")
    @classmethod
    def _variable_fits_hazard(cls, variable: str, info: ValidationInfo) -> str:
        hazard = info.data.get("hazard")
        spec = VARIABLES[variable]
        if hazard is not None and hazard not in spec.hazards:
            offered = sorted(name for name, other in VARIABLES.items() if hazard in other.hazards)
            raise ValueError(
                f"{hazard} forecasts do not provide {variable!r}; choose one of {offered}"
            )
        return variable

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_has_units(cls, threshold: Any, info: ValidationInfo) -> Any:
        variable = info.data.get("variable")
        if variable is None:
            return threshold  # the variable's own problem is reported
        spec = VARIABLES[variable]
        if not isinstance(threshold, str):
            raise ValueError(f"{threshold!r} has no unit; write e.g. '{spec.example}'")
        try:
            value = parse_quantity(threshold, spec.units)
        except UnitsError:
            number, unit = spec.example.split(maxsplit=1)
            example = f"{_magnitude(threshold, number)} {unit}"
            raise ValueError(
                f"{threshold!r} is not a {spec.kind}; write e.g. '{example}'"
            ) from None
        if not spec.lower <= value <= spec.upper:
            raise ValueError(
                f"{threshold!r} is outside the plausible range {spec.lower:g}..{spec.upper:g} "
                f"{spec.units}; check the number and its unit"
            )
        return threshold

    @field_validator("within", mode="before")
    @classmethod
    def _within_is_window(cls, within: Any) -> Any:
        if not isinstance(within, str):
            raise ValueError(f"{within!r} has no unit; write a lead-time window such as '12 h'")
        try:
            duration = parse_duration(within)
        except UnitsError:
            raise ValueError(
                f"{within!r} is not a positive duration; write a lead-time window such as '12 h'"
            ) from None
        if duration > MAX_WITHIN:
            raise ValueError(f"{within!r} is longer than 72 h, the longest forecast lead time")
        return within

    @property
    def threshold_value(self) -> float:
        """The threshold in the variable's stored unit (:data:`VARIABLES`)."""
        return parse_quantity(self.threshold, VARIABLES[self.variable].units)

    @property
    def within_duration(self) -> timedelta:
        """The lead-time window."""
        return parse_duration(self.within)

    def exceeded_by(self, value: float) -> bool:
        """Return whether ``value`` (in the stored unit) meets the rule's comparison."""
        threshold = self.threshold_value
        return value >= threshold if self.comparison == ">=" else value > threshold


def _unique_asset_ids(assets: tuple[Asset, ...]) -> tuple[Asset, ...]:
    seen: dict[str, int] = {}
    for index, asset in enumerate(assets):
        if asset.id in seen:
            raise ValueError(
                f"asset id {asset.id!r} is used by assets[{seen[asset.id]}] and assets[{index}]; "
                "give each asset its own id"
            )
        seen[asset.id] = index
    return assets


class SubscriptionRequest(_Frozen):
    """A subscriber's whole set: assets, rules and channels (see the module docstring)."""

    subscriber: Subscriber
    assets: Annotated[
        tuple[Asset, ...], Field(min_length=1, max_length=10_000), AfterValidator(_unique_asset_ids)
    ]
    rules: Annotated[tuple[Rule, ...], Field(min_length=1, max_length=100)]
    channels: Annotated[tuple[Channel, ...], Field(min_length=1, max_length=20)]


def _magnitude(text: Any, default: str) -> str:
    match = _NUMBER.match(text) if isinstance(text, str) else None
    return match.group(1) if match is not None else default


_EXPECTED_TAGS = {
    "kind": "'webhook', 'mqtt', 'email'",
    "type": "'Point', 'LineString', 'Polygon'",
}
_TAGS = frozenset({"webhook", "mqtt", "email", "Point", "LineString", "Polygon"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif (
            part in _TAGS
            and index > 0
            and (isinstance(loc[index - 1], int) or loc[index - 1] == "geometry")
        ):
            continue  # a discriminated union's tag, not a field
        else:
            path += f".{part}" if path else part
    return path or BODY


def _problem(error: ErrorDetails) -> Problem:
    path = _field_path(tuple(error["loc"]))
    kind = error["type"]
    if kind == "missing":
        return Problem(path, "is required; add it")
    if kind == "extra_forbidden":
        return Problem(path, "is not a field here; remove it or check its spelling")
    if kind == "string_pattern_mismatch":  # only ids have a pattern
        return Problem(
            path,
            f"{error.get('input')!r} is not an id: use 2-64 of a-z, 0-9 and '-', starting with "
            "a letter or digit, e.g. 'yantian-port'",
        )
    if path == BODY and kind == "model_type":
        return Problem(path, "must be a JSON object with subscriber, assets, rules and channels")
    context = error.get("ctx", {})
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = context["discriminator"].strip("'")
        expected = context.get("expected_tags") or _EXPECTED_TAGS.get(tag, "")
        path = f"{path}.{tag}" if path != BODY else tag
        if kind == "union_tag_not_found":
            return Problem(path, f"is required: one of {expected}")
        return Problem(path, f"{context['tag']!r} is not one of {expected}")
    if kind in ("too_short", "too_long") and isinstance(error.get("input"), list | tuple):
        bound = context.get("min_length" if kind == "too_short" else "max_length")
        limit = "at least" if kind == "too_short" else "at most"
        return Problem(path, f"has {len(error['input'])} items; give {limit} {bound}")
    if kind in ("tuple_type", "list_type"):
        return Problem(path, f"must be a JSON array, not {type(error.get('input')).__name__}")
    message = error["msg"].removeprefix("Value error, ")
    if kind != "value_error":
        shown = repr(error.get("input"))
        message += f" (got {shown})" if len(shown) <= 60 else ""
    return Problem(path, message)


def _follows_from_others(error: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    """Whether ``error`` is a list being too short only because its items failed."""
    loc = tuple(error["loc"])
    return error["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in errors
    )


def parse_request(
    data: Any, *, region: RegionBounds = EARTH, source: str = "subscription request"
) -> SubscriptionRequest:
    """Validate a decoded request (a mapping) into a :class:`SubscriptionRequest`.

    Parameters
    ----------
    data
        The request as decoded JSON.
    region
        Assets must lie inside it (default: anywhere on Earth).
    source
        Name of the request for messages.

    Raises
    ------
    SubscriptionError
        With every problem found, each naming its field path.
    """
    try:
        return SubscriptionRequest.model_validate(data, context={"region": region})
    except ValidationError as err:
        errors = err.errors()
        raise SubscriptionError(
            [_problem(error) for error in errors if not _follows_from_others(error, errors)],
            source,
        ) from None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_request_json(
    body: bytes | str,
    *,
    region: RegionBounds = EARTH,
    source: str = "subscription request",
    max_bytes: int = MAX_BODY_BYTES,
) -> SubscriptionRequest:
    """Decode a raw JSON body (UTF-8) and validate it with :func:`parse_request`.

    Duplicate keys, ``NaN``/``Infinity`` and bodies over ``max_bytes`` are refused.

    Raises
    ------
    SubscriptionError
        If the body is not JSON (the problem's field is ``(body)``) or the request is invalid.
    """
    if not isinstance(body, bytes | str):
        raise SubscriptionError(
            [Problem(BODY, f"the body is not JSON text but {type(body).__name__}")], source
        )
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise SubscriptionError(
            [Problem(BODY, f"the body is {size} bytes, over the {max_bytes}; split the assets")],
            source,
        )
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(
            text, object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError too
        raise SubscriptionError(
            [Problem(BODY, f"the body is not JSON ({err}); send one UTF-8 JSON object")], source
        ) from None
    return parse_request(data, region=region, source=source)

"""Validated, frozen configuration of the region, community layer, signal schemes and risk.

These models are built by :func:`yujing.settings.load_settings` from YAML; they are passed
into the functions that use them, never read from a global. Quantities are written with
units in YAML (``"50 mm"``, ``"3 h"``, ``"10 m"``) and converted once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ingest.contracts import CANONICAL_UNITS
from ingest.units import UnitsError, parse_duration, parse_quantity

__all__ = [
    "CRITERION_UNITS",
    "CYCLES",
    "CYCLE_INTERVALS",
    "HEAT_VARIABLES",
    "WIND_AVERAGING_PERIODS",
    "CommunityAttribute",
    "CommunityLayerConfig",
    "Criterion",
    "DemConfig",
    "DistrictLayerConfig",
    "Duration",
    "ExistingPath",
    "Frozen",
    "GridSpec",
    "HazardConfig",
    "HotspotConfig",
    "KelvinPerKilometre",
    "Kilometres",
    "Metres",
    "MillimetresPerHour",
    "RegionConfig",
    "RiskConfig",
    "SignalLevel",
    "SignalScheme",
    "VectorLayerConfig",
    "VulnerabilityIndicator",
    "resolve_option_paths",
    "resolve_path",
]


class Frozen(BaseModel):
    """Base of every configuration object: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def resolve_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve ``{data_root}`` and paths relative to the configuration file; require existence."""
    context = info.context or {}
    text = str(value)
    if "{data_root}" in text:
        text = text.replace("{data_root}", str(context.get("data_root", "{data_root}")))
    path = Path(text).expanduser()
    if not path.is_absolute() and "base" in context:
        path = Path(context["base"]) / path
    path = path.resolve()
    if context.get("check_paths", True) and not path.exists():
        raise ValueError(
            f"{path} does not exist; fix the path (relative paths are relative to the "
            "configuration file; '{data_root}' is the shared data folder, set YUJING_DATA_ROOT)"
        )
    return path


def resolve_option_paths(
    data: Any, kind: str, options_of: Callable[[str], type[BaseModel]], info: ValidationInfo
) -> Any:
    """``data`` with the path-typed entries of its ``options`` resolved by :func:`resolve_path`.

    ``data[kind]`` names the registered reader or model whose ``Options`` class
    (``options_of(name)``) says which options are paths. An unknown name is left for the
    caller's own check to report.
    """
    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        return data
    try:
        fields = options_of(str(data.get(kind))).model_fields
    except ValueError:
        return data
    options = dict(data["options"])
    for key, field in fields.items():
        if options.get(key) is not None and "Path" in str(field.annotation):
            options[key] = resolve_path(options[key], info)
    return {**data, "options": options}


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except UnitsError as err:
        raise ValueError(str(err)) from None


def _in_units(units: str) -> Callable[[Any], float]:
    """A validator parsing ``"<number> <unit>"`` into a float in ``units``."""

    def parse(value: Any) -> float:
        try:
            return parse_quantity(value, units)
        except UnitsError as err:
            raise ValueError(str(err)) from None

    return parse


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA timezone; use e.g. 'Asia/Shanghai' or 'Europe/Amsterdam'"
        ) from None
    return value


ExistingPath = Annotated[Path, BeforeValidator(resolve_path)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
Metres = Annotated[float, BeforeValidator(_in_units("m"))]
Kilometres = Annotated[float, BeforeValidator(_in_units("km"))]
MillimetresPerHour = Annotated[float, BeforeValidator(_in_units("mm h-1"))]
KelvinPerKilometre = Annotated[float, BeforeValidator(_in_units("K km-1"))]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class GridSpec(Frozen):
    """A regular analysis grid: cell (row j, column i) spans
    ``x_origin + dx·[i, i+1]`` by ``y_origin + dy·[j, j+1]`` in ``crs`` units.

    ``dy`` is negative when row 0 is the northern (top) row, as in most radar products.
    """

    crs: str = "EPSG:4326"
    x_origin: float
    y_origin: float
    dx: float = Field(gt=0)
    dy: float
    nx: int = Field(gt=0)
    ny: int = Field(gt=0)
    source: str = Field(min_length=3, description="who defines this grid")

    @field_validator("dy")
    @classmethod
    def _dy_not_zero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("dy must not be 0 (negative when row 0 is the top row)")
        return value

    @field_validator("crs")
    @classmethod
    def _crs_known(cls, value: str) -> str:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_user_input(value)
        except CRSError:
            raise ValueError(
                f"{value!r} is not a CRS pyproj understands (EPSG code or proj string)"
            ) from None
        return value


class VectorLayerConfig(Frozen):
    """A GeoJSON polygon layer and how to read it."""

    path: ExistingPath
    crs: str = Field(
        "WGS84",
        description="'WGS84' (EPSG:4326), 'GCJ-02' (converted on load), or an EPSG code",
    )
    source: str = Field(min_length=3)


class DistrictLayerConfig(VectorLayerConfig):
    """District polygons plus the official code list they must match (GB/T 2260)."""

    code_property: str = "adcode"
    name_property: str = "name"
    codes_csv: ExistingPath | None = None
    subdistrict_codes_csv: ExistingPath | None = None


class DemConfig(Frozen):
    """A digital elevation model for static community attributes."""

    path: ExistingPath
    low_lying_threshold: Metres
    low_lying_source: str = Field(min_length=3, description="why this threshold")
    source: str = Field(min_length=3)
    depression_min_cells: int = Field(
        2,
        ge=1,
        description=(
            "closed depressions of fewer DEM pixels are noise, not hollows "
            "(depression_fraction; hazard_models.terrain)"
        ),
    )


class HotspotConfig(Frozen):
    """A CSV of point hotspots (e.g. official waterlogging points) with geocodes to check."""

    path: ExistingPath
    lat_column: str = "lat"
    lon_column: str = "lon"
    district_column: str = "district"
    max_offset: Metres = Field(description="how far outside its stated district a point may lie")
    district_aliases: dict[str, str] = Field(
        default_factory=dict, description="district names in the CSV -> names in the layer"
    )
    source: str = Field(min_length=3)


class CommunityAttribute(Frozen):
    """An exposure or vulnerability attribute supplied by configuration, with its source."""

    units: str
    source: str = Field(min_length=3)
    by_district: dict[str, float] = Field(default_factory=dict)


class CommunityLayerConfig(Frozen):
    """How the community layer is made.

    ``grid_cells``: every analysis-grid cell inside the outline is a community (block 1);
    ``grid_blocks``: blocks of ``block_size`` × ``block_size`` cells;
    ``geojson``: user-supplied community polygons (``layer``).
    """

    kind: Literal["grid_cells", "grid_blocks", "geojson"]
    min_inside_fraction: float = Field(0.5, gt=0, le=1)
    block_size: int = Field(1, ge=1)
    layer: VectorLayerConfig | None = None
    id_property: str = "id"
    name_property: str = "name"
    district_property: str | None = None
    subdistrict_property: str | None = None
    dem: DemConfig | None = None
    waterlogging_points: HotspotConfig | None = None
    attributes: dict[str, CommunityAttribute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _layer_for_geojson(self) -> CommunityLayerConfig:
        if self.kind == "geojson" and self.layer is None:
            raise ValueError("kind 'geojson' needs 'layer: {path: ..., crs: ..., source: ...}'")
        if self.kind != "geojson" and self.layer is not None:
            raise ValueError(f"'layer' is only used with kind 'geojson', not {self.kind!r}")
        if self.kind == "grid_cells" and self.block_size != 1:
            raise ValueError("kind 'grid_cells' has block_size 1; use kind 'grid_blocks'")
        return self


class RegionConfig(Frozen):
    """The region: its name, timezone, analysis grid, outline and districts."""

    name: str = Field(min_length=1)
    code: str = Field(min_length=1, description="short code used in identifiers, e.g. 440300")
    timezone: TimeZoneName
    grid: GridSpec
    outline: VectorLayerConfig | None = None
    districts: DistrictLayerConfig | None = None


CRITERION_UNITS: dict[str, str] = {
    **CANONICAL_UNITS,
    "storm_distance": "km",
    "pr_excess": "mm",
    "heat_index": "degC",
}
"""Variables a criterion may test, with their units: the CF variables, the distance from a
tropical cyclone's centre (for signals such as Hong Kong's No. 1, "within 800 km"), the
rainfall beyond the drainage capacity over a window (``pr_excess``, waterlogging) and the
NWS heat index (``heat_index``, heat)."""

HEAT_VARIABLES = ("tas", "heat_index")
"""Criterion variables tested as 24-h maxima over whole days (the heat model)."""

WIND_AVERAGING_PERIODS = ("1 min", "2 min", "3 min", "10 min")


class Criterion(Frozen):
    """``variable over window (comparison) threshold``.

    For rainfall the window is an accumulation (``pr over 3 h >= 50 mm``); for wind and
    storm distance it is the look-ahead (``sfcWind within 24 h >= 17.2 m s-1``: the highest
    value in the next 24 h); for temperature and heat index a whole number of days, each
    of whose 24-h maxima must meet the threshold (``tas over 3 d >= 35 degC``: the daily
    maximum reaches 35 °C on 3 consecutive days). A wind criterion says which
    ``averaging_period`` its threshold refers to (CMA and Shenzhen count 2-min means, Hong
    Kong 10-min means).
    """

    variable: str = "pr"
    window: Duration
    threshold: str = Field(description="with units, e.g. '50 mm'")
    comparison: Literal[">=", ">", "<=", "<"] = ">="
    averaging_period: str | None = None

    @property
    def threshold_value(self) -> float:
        """The threshold in the canonical units of :attr:`variable`."""
        return parse_quantity(self.threshold, CRITERION_UNITS[self.variable])

    @model_validator(mode="after")
    def _threshold_has_units(self) -> Criterion:
        if self.variable not in CRITERION_UNITS:
            raise ValueError(
                f"variable {self.variable!r} unknown; use one of {sorted(CRITERION_UNITS)}"
            )
        try:
            self.threshold_value  # noqa: B018 - parse to validate
        except UnitsError as err:
            raise ValueError(f"threshold: {err}") from None
        wind = self.variable in ("sfcWind", "wsgsmax")
        if self.averaging_period is not None:
            if not wind:
                raise ValueError(f"averaging_period applies to winds, not to {self.variable!r}")
            if self.averaging_period not in WIND_AVERAGING_PERIODS:
                raise ValueError(
                    f"averaging_period {self.averaging_period!r} is not one of "
                    f"{list(WIND_AVERAGING_PERIODS)}"
                )
        return self

    def describe(self) -> str:
        """Human form, e.g. ``pr over 3 h >= 50 mm``, ``sfcWind within 24 h >= 17.2 m s-1``,
        ``24-h maximum tas >= 35 degC on 3 consecutive days``."""
        hours = self.window.total_seconds() / 3600
        if self.variable in HEAT_VARIABLES:
            days = f" on {hours / 24:g} consecutive days" if hours > 24 else ""
            return f"24-h maximum {self.variable} {self.comparison} {self.threshold}{days}"
        window = f"{hours:g} h" if hours >= 1 else f"{hours * 60:g} min"
        how = "over" if self.variable in ("pr", "pr_excess") else "within"
        period = f" ({self.averaging_period} mean)" if self.averaging_period else ""
        return f"{self.variable}{period} {how} {window} {self.comparison} {self.threshold}"


class LevelInstruction(Frozen):
    """What people should do at a warning level, in each language of the messages."""

    zh: str = Field(min_length=4, description="Simplified Chinese (the zh-CN CAP info)")
    en: str = Field(min_length=4, description="English (the en-US CAP info)")


class SignalLevel(Frozen):
    """One level of a signal scheme: met when any of its criteria is met."""

    name: str
    label: str | None = None
    instruction: LevelInstruction | None = Field(
        None,
        description="what to do at this level (the CAP instruction); without it the message "
        "points to the signal's defence guidelines",
    )
    rank: int = Field(
        ge=0,
        le=4,
        description="1 blue, 2 yellow, 3 orange, 4 red; 0 an advisory below the warnings "
        "(Shenzhen's white typhoon signal, Hong Kong's standby No. 1)",
    )
    criteria: list[Criterion] = Field(min_length=1)


class SignalScheme(Frozen):
    """A warning-signal scheme for one hazard, with its source named."""

    hazard: str
    source: str = Field(min_length=3)
    partition: Literal["community", "subdistrict", "district"] = "community"
    levels: list[SignalLevel] = Field(min_length=1)
    instruction_source: str | None = Field(
        None, min_length=3, description="where the levels' instructions come from"
    )

    @model_validator(mode="after")
    def _ranks_increase(self) -> SignalScheme:
        ranks = [level.rank for level in self.levels]
        if ranks != sorted(set(ranks)):
            raise ValueError(f"levels must be listed by strictly increasing rank, got {ranks}")
        instructed = [level.name for level in self.levels if level.instruction is not None]
        if instructed and self.instruction_source is None:
            raise ValueError(
                f"levels {instructed} give an instruction but the scheme names no "
                "instruction_source; say where the instructions come from"
            )
        return self

    def instructions(self) -> dict[str, tuple[str, str]]:
        """What to do per level that says so: ``{level: (Chinese, English)}``."""
        return {
            level.name: (level.instruction.zh, level.instruction.en)
            for level in self.levels
            if level.instruction is not None
        }


CYCLES = ("nowcast", "daily")
"""Which scheduled cycle runs a hazard: the fast warning cycle (every radar interval) or the
daily outlook (heat)."""

CYCLE_INTERVALS = {"nowcast": timedelta(minutes=6), "daily": timedelta(days=1)}
"""How often each scheduled cycle runs: the schedules of ``dags/yujing_warning_cycle.py``
(``*/6 * * * *``) and ``dags/yujing_heat_outlook.py`` (``0 6 * * *``), checked against them
by ``tests/test_dags.py``. A warning's lifecycle must outlast them
(:meth:`alerting.lifecycle.LifecyclePolicy.lapse_risks`)."""


class HazardConfig(Frozen):
    """A hazard to run: its registered model, signal scheme, inputs and model options, and
    the scheduled ``cycle`` that runs it (``nowcast``, the default: the fast warning cycle;
    ``daily``: the daily outlook). ``yujing run`` runs every hazard unless told a cycle."""

    model: str
    scheme: str
    inputs: dict[str, str] = Field(description="model input name -> source name")
    options: dict[str, Any] = Field(default_factory=dict)
    cycle: Literal["nowcast", "daily"] = "nowcast"

    @model_validator(mode="before")
    @classmethod
    def _option_paths(cls, data: Any, info: ValidationInfo) -> Any:
        """Resolve the model's path options (``{data_root}``, relative to the file)."""
        from hazard_models.interface import get_model

        return resolve_option_paths(data, "model", lambda name: get_model(name).Options, info)


class VulnerabilityIndicator(Frozen):
    """A community attribute that marks high vulnerability when above a value."""

    attribute: str
    high_above: float
    source: str = Field(min_length=3)


class RiskConfig(Frozen):
    """How hazard level and vulnerability combine into a risk level (0-4).

    ``matrix[class][hazard_level]`` is the risk level; class is ``normal`` or ``high``.
    """

    source: str = Field(min_length=3)
    vulnerability: list[VulnerabilityIndicator] = Field(default_factory=list)
    matrix: dict[Literal["normal", "high"], list[int]] = Field(
        default_factory=lambda: {"normal": [0, 1, 2, 3, 4], "high": [0, 1, 2, 3, 4]}  # type: ignore[arg-type]
    )
    applies_to: list[str] = Field(default_factory=list, description="hazards using vulnerability")

    @field_validator("matrix")
    @classmethod
    def _matrix_shape(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        for name, row in value.items():
            if len(row) != 5 or any(not 0 <= level <= 4 for level in row):
                raise ValueError(f"matrix row {name!r} must have 5 levels in 0..4, got {row}")
            if row[0] != 0 or row != sorted(row):
                raise ValueError(f"matrix row {name!r} must start at 0 and not decrease")
        return value

"""Configuration of station quality control: frozen, validated, every threshold with its unit.

Thresholds are written with their units (``"60 degC"``, ``"5 degC"`` per ``"1 h"``,
``"25 km"``) and checked here, once, against the variable's canonical unit
(:data:`ingest.contracts.CANONICAL_UNITS`). The kernels receive plain floats through
:meth:`QcConfig.limits`.

Defaults and where they come from
---------------------------------
=========  ==========================  =====================  ===================================
variable   plausible range             step / spike per 1 h   persistence
=========  ==========================  =====================  ===================================
tas        -80 .. 60 degC [1]_         5 degC / 3 degC [2]_   within 0.1 degC [1]_ for 12 h [2]_
hurs       0 .. 100 % [1]_             --                     --
pr         0 .. record for the         --                     the same non-zero amount for 12 h
           interval [3]_                                      (our choice; zero is dry weather)
psl        850 .. 1090 hPa [3]_        --                     --
sfcWind    0 .. 75 m s-1 [1]_          20 m s-1 [1]_          within 0.1 m s-1 for 3 h, calm
                                                              exempt [2]_
wsgsmax    0 .. 150 m s-1 [1]_         --                     --
=========  ==========================  =====================  ===================================

The buddy check is on for ``tas`` only by default (radius 25 km, at least 3 buddies,
flag beyond 4 robust standard deviations, spread at least 1 degC), after the buddy check
of TITAN [4]_ made robust (median and median absolute deviation instead of mean and
standard deviation). For rainfall, whose field is intermittent, and for the other
variables, give a buddy check in the configuration where the network is dense enough.

WMO guidance is written for 1-minute AWS samples; the step limits of [1]_ are limits
*between consecutive samples*, which is looser than needed for hourly data but never
wrong. Where no cited limit exists (the dashes), the test is off until configured.
The temperature persistence test takes WMO's minimum variability (0.1 degC, [1]_) over
EPA's 12 hours: EPA's own 0.5 degC flagged 4 % of the hours of ERA5 grid points in a
maritime March (overcast nights, coasts), 0.1 degC none (``tests/test_qc.py``). The
3 degC spike limit is WMO's step limit between samples [1]_.

References
----------
.. [1] WMO, 2010: Guide to the Global Observing System (WMO-No. 488), Appendix VI.2,
   "Guidelines on quality control procedures for data from automatic weather stations":
   plausible-value limits (air temperature -80 to +60 degC, relative humidity 0-100 %,
   wind speed 0-75 m s-1, gust 0-150 m s-1), maximum variability between samples
   (air temperature 3 degC, wind speed 20 m s-1) and minimum variability of air
   temperature (0.1 degC).
.. [2] US EPA, 2000: Meteorological Monitoring Guidance for Regulatory Modeling
   Applications (EPA-454/R-99-005), section 8, suggested data-screening criteria:
   temperature changing more than 5 degC from the previous hour, or varying less than
   0.5 degC over 12 consecutive hours; wind speed varying less than 0.1 m s-1 over 3
   consecutive hours.
.. [3] WMO World Weather and Climate Extremes Archive (https://wmo.asu.edu): rainfall
   305 mm in 1 h (Holt, Missouri, 1947), 1144 mm in 12 h and 1825 mm in 24 h (Foc-Foc,
   La Reunion, 1966), 3930 mm in 72 h (Commerson, La Reunion, 2007); lowest sea-level
   pressure 870 hPa (Typhoon Tip, 1979), highest 1083.8 hPa (Agata, Siberia, 1968).
.. [4] Baserud, L., C. Lussana, T. N. Nipen, I. A. Seierstad, L. Oram and T. Aspelien,
   2020: TITAN automatic spatial quality control of meteorological in-situ observations.
   Adv. Sci. Res., 17, 153-163, doi:10.5194/asr-17-153-2020.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.contracts import CANONICAL_UNITS
from ingest.units import UnitsError, parse_duration, parse_quantity

__all__ = [
    "BuddyCheck",
    "PersistenceCheck",
    "QcConfig",
    "VariableLimits",
    "VariableQc",
]

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _difference(text: str, units: str) -> float:
    """Parse a *difference* (``"9 degF"`` → 5 degC), not an absolute value.

    For the affine conversions of temperature a difference converts as ``f(x) - f(0)``.
    """
    zero = _NUMBER.sub("0", text, count=1)
    return parse_quantity(text, units) - parse_quantity(zero, units)


def _is_duration(value: str) -> str:
    parse_duration(value)  # UnitsError is a ValueError: pydantic reports it with its key
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersistenceCheck(_Frozen):
    """Stuck-sensor test: a value that stays within ``tolerance`` for ``window`` or longer.

    Parameters
    ----------
    window
        Duration, e.g. ``"12 h"``; a run of reports spanning at least this long is flagged.
    tolerance
        Largest spread (max - min) of a run that still counts as unchanged, e.g. ``"0.5 degC"``.
    exempt_at_or_below
        Runs whose value is at or below this (``"0 mm"``: dry weather, ``"0 m s-1"``: calm)
        persist legitimately and are never flagged.
    min_reports
        A run also needs at least this many reports, so that two equal daily totals are
        not a "stuck" gauge just because a day is longer than the window.
    """

    window: str
    tolerance: str
    exempt_at_or_below: str | None = None
    min_reports: int = Field(default=3, ge=2)

    _window = field_validator("window")(_is_duration)


class BuddyCheck(_Frozen):
    """Spatial buddy check: each value against the robust mean of its neighbours.

    Parameters
    ----------
    radius
        Neighbours lie within this great-circle distance, e.g. ``"25 km"``.
    min_buddies
        Fewer usable neighbours than this at a time → ``buddy_not_checked``.
    threshold
        Flag when ``|value - median| > threshold × max(spread, min_spread)``, where spread is
        the scaled median absolute deviation of the neighbours (1.4826 · MAD).
    min_spread
        Lower bound of the spread, a difference in the variable's unit (e.g. ``"1 degC"``),
        so that identical neighbours do not make every small difference a failure.
    """

    radius: str
    min_buddies: int = Field(default=3, ge=1)
    threshold: float = Field(default=4.0, gt=0)
    min_spread: str


class VariableQc(_Frozen):
    """Quality-control settings of one CF variable.

    Parameters
    ----------
    valid_min, valid_max
        Plausible range, e.g. ``"-80 degC"`` and ``"60 degC"``. For ``pr`` leave
        ``valid_max`` unset and give ``max_by_interval``.
    max_by_interval
        ``pr`` only: the largest plausible amount per accumulation interval
        (``{"1 h": "305 mm", "1 day": "1825 mm"}``). The entry with the shortest interval
        not shorter than the data's is used: a record over a longer interval bounds any
        shorter one inside it.
    step
        Largest change between consecutive reports at most ``step_per`` apart.
    step_per
        Time span the step and spike limits refer to (default ``"1 h"``); reports farther
        apart are not compared (a gap is not a step).
    spike
        A report that differs from *both* neighbours by more than this, in the same
        direction (up and back), is a spike.
    persistence
        Stuck-sensor test, or ``None``.
    buddy
        Spatial buddy check, or ``None``.
    """

    valid_min: str
    valid_max: str | None = None
    max_by_interval: dict[str, str] | None = None
    step: str | None = None
    step_per: str = "1 h"
    spike: str | None = None
    persistence: PersistenceCheck | None = None
    buddy: BuddyCheck | None = None

    _step_per = field_validator("step_per")(_is_duration)

    @model_validator(mode="after")
    def _one_maximum(self) -> VariableQc:
        if (self.valid_max is None) == (self.max_by_interval is None):
            raise ValueError(
                "give exactly one of valid_max (e.g. '60 degC') and max_by_interval "
                "(pr only, e.g. {'1 h': '305 mm'})"
            )
        for interval in self.max_by_interval or {}:
            parse_duration(interval)
        return self


@dataclass(frozen=True)
class VariableLimits:
    """The thresholds of one variable as plain floats in its canonical unit (seconds, km)."""

    valid_min: float
    valid_max: float
    step: float | None
    step_per: float
    spike: float | None
    persistence_window: float | None
    persistence_tolerance: float
    persistence_exempt: float | None
    persistence_min_reports: int
    buddy_radius_km: float | None
    buddy_min: int
    buddy_threshold: float
    buddy_min_spread: float


def _default_variables() -> dict[str, VariableQc]:
    return {
        "tas": VariableQc(
            valid_min="-80 degC",
            valid_max="60 degC",
            step="5 degC",
            spike="3 degC",
            persistence=PersistenceCheck(window="12 h", tolerance="0.1 degC"),
            buddy=BuddyCheck(radius="25 km", min_buddies=3, threshold=4.0, min_spread="1 degC"),
        ),
        "hurs": VariableQc(valid_min="0 %", valid_max="100 %"),
        "pr": VariableQc(
            valid_min="0 mm",
            max_by_interval={
                "1 h": "305 mm",
                "12 h": "1144 mm",
                "24 h": "1825 mm",
                "72 h": "3930 mm",
            },
            persistence=PersistenceCheck(
                window="12 h", tolerance="0 mm", exempt_at_or_below="0 mm"
            ),
        ),
        "psl": VariableQc(valid_min="850 hPa", valid_max="1090 hPa"),
        "sfcWind": VariableQc(
            valid_min="0 m s-1",
            valid_max="75 m s-1",
            step="20 m s-1",
            persistence=PersistenceCheck(
                window="3 h", tolerance="0.1 m s-1", exempt_at_or_below="0 m s-1"
            ),
        ),
        "wsgsmax": VariableQc(valid_min="0 m s-1", valid_max="150 m s-1"),
    }


class QcConfig(_Frozen):
    """Quality-control configuration: one :class:`VariableQc` per CF variable name.

    Examples
    --------
    >>> config = QcConfig()
    >>> config.limits("tas", interval=None).valid_max
    60.0
    >>> tas = VariableQc(valid_min="-40 degF", valid_max="140 degF", step="9 degF")
    >>> limits = QcConfig(variables={"tas": tas}).limits("tas", interval=None)
    >>> round(limits.valid_max, 6), round(limits.step, 6)
    (60.0, 5.0)
    """

    variables: dict[str, VariableQc] = Field(default_factory=_default_variables)

    @model_validator(mode="after")
    def _units_fit_the_variables(self) -> QcConfig:
        for name, settings in self.variables.items():
            if name not in CANONICAL_UNITS:
                raise ValueError(
                    f"variables.{name}: not a CF variable of the station contract; use one of "
                    f"{', '.join(sorted(CANONICAL_UNITS))}"
                )
            if settings.max_by_interval is not None and name != "pr":
                raise ValueError(f"variables.{name}.max_by_interval: only for pr; use valid_max")
            try:
                self._parse(name, settings, interval=None)
            except UnitsError as err:
                raise ValueError(
                    f"variables.{name}: {err} (the unit of {name} is {CANONICAL_UNITS[name]!r})"
                ) from None
        return self

    def lookback(self) -> timedelta:
        """How far before a report the checks look (the longest persistence window, or
        step span, plus one step span): a report QC'd with this much earlier data gets the
        flags it would get with all of it.

        >>> QcConfig().lookback()
        datetime.timedelta(seconds=46800)
        """
        spans = [parse_duration(v.step_per) for v in self.variables.values()]
        windows = [
            parse_duration(v.persistence.window)
            for v in self.variables.values()
            if v.persistence is not None
        ]
        return max([*windows, *spans]) + max(spans)

    def limits(self, name: str, interval: timedelta | None) -> VariableLimits:
        """Return the thresholds of ``name`` as floats in its canonical unit.

        Parameters
        ----------
        name
            CF variable name, e.g. ``"tas"``.
        interval
            Accumulation interval of the data (``pr`` only; ``None`` otherwise).

        Raises
        ------
        KeyError
            If ``name`` has no settings.
        ValueError
            If the ``pr`` interval is longer than every entry of ``max_by_interval``.
        """
        return self._parse(name, self.variables[name], interval)

    @staticmethod
    def _parse(name: str, settings: VariableQc, interval: timedelta | None) -> VariableLimits:
        units = CANONICAL_UNITS[name]
        if settings.max_by_interval is not None:
            maxima = sorted(
                (parse_duration(span), parse_quantity(amount, units))
                for span, amount in settings.max_by_interval.items()
            )
            if interval is None:
                valid_max = maxima[-1][1]
            else:
                fitting = [amount for span, amount in maxima if span >= interval]
                if not fitting:
                    raise ValueError(
                        f"variables.{name}.max_by_interval: no entry covers the data's "
                        f"interval of {interval}; add one (e.g. the record for that duration)"
                    )
                valid_max = fitting[0]
        else:
            valid_max = parse_quantity(settings.valid_max, units)
        valid_min = parse_quantity(settings.valid_min, units)
        if valid_max <= valid_min:
            raise UnitsError(f"valid_max {valid_max} is not above valid_min {valid_min}")
        persistence, buddy = settings.persistence, settings.buddy
        for label, text in (
            ("step", settings.step),
            ("spike", settings.spike),
            ("persistence.tolerance", None if persistence is None else persistence.tolerance),
            ("buddy.min_spread", None if buddy is None else buddy.min_spread),
        ):
            if text is not None and _difference(text, units) < 0:
                raise UnitsError(f"{label} {text!r} is negative; give a size, e.g. '5 {units}'")
        return VariableLimits(
            valid_min=valid_min,
            valid_max=valid_max,
            step=None if settings.step is None else _difference(settings.step, units),
            step_per=parse_duration(settings.step_per).total_seconds(),
            spike=None if settings.spike is None else _difference(settings.spike, units),
            persistence_window=(
                None if persistence is None else parse_duration(persistence.window).total_seconds()
            ),
            persistence_tolerance=(
                0.0 if persistence is None else _difference(persistence.tolerance, units)
            ),
            persistence_exempt=(
                None
                if persistence is None or persistence.exempt_at_or_below is None
                else parse_quantity(persistence.exempt_at_or_below, units)
            ),
            persistence_min_reports=2 if persistence is None else persistence.min_reports,
            buddy_radius_km=None if buddy is None else parse_quantity(buddy.radius, "km"),
            buddy_min=1 if buddy is None else buddy.min_buddies,
            buddy_threshold=1.0 if buddy is None else buddy.threshold,
            buddy_min_spread=0.0 if buddy is None else _difference(buddy.min_spread, units),
        )

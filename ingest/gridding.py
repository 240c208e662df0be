"""Station observations → a grid, by inverse-distance weighting (Shepard 1968).

Method
    The value at a cell centre ``c`` is ``sum_j w_j v_j / sum_j w_j`` with
    ``w_j = d(c, s_j) ** -power`` over the stations ``s_j`` that are usable at that time
    (:func:`ingest.qc.usable_observations`: present, ``good`` for the source, no QC
    failure) among the ``max_neighbours`` stations nearest to ``c`` within ``radius``.
    ``d`` is the great-circle (haversine) distance, found with a scikit-learn ball tree.
    A cell closer than ``exact_within`` to a usable station takes that station's value
    (the IDW limit ``d → 0``), so the analysis is exact at the stations. Where fewer than
    ``min_stations`` usable stations contribute the cell is NaN: no value is guessed.
    ``n_stations`` counts the contributing stations per cell and time.

Build once, apply many
    :func:`build_idw_weights` finds the neighbours and distances once per (station set,
    grid); :meth:`IdwWeights.grid` applies them to every time step through one
    ``xr.apply_ufunc(dask="parallelized")`` (chunks along ``time`` run in parallel). A
    station missing at a time step is left out and the remaining weights renormalised;
    it is not replaced by a farther station (that would need a new neighbour search).

Target grid
    Any grid given as 2-D arrays of cell-centre longitude and latitude, with the dims and
    coordinates to attach (e.g. the Shenzhen lon/lat grid or the KNMI polar-stereographic
    radar grid); ingest does not depend on the hazard models' ``AnalysisGrid``.

Choice of method
    IDW is local, exact at stations, needs no fitted model and is bounded by the values it
    averages (it never creates a maximum the gauges did not see). Its known faults are
    "bull's-eyes" around isolated stations and no use of the field's spatial structure.
    Ordinary kriging removes both at the cost of fitting a variogram per time step; for
    rainfall a better cheap option is to merge gauges with radar (e.g. gauge-adjusted radar
    or kriging with external drift), which belongs with the radar products, not here.

References
----------
Shepard, D., 1968: A two-dimensional interpolation function for irregularly-spaced data.
Proc. 23rd ACM National Conference, 517-524, doi:10.1145/800186.810616.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import sparse

from ingest.contracts import validate_gridded_field, validate_station_obs
from ingest.errors import ContractError
from ingest.qc import usable_observations
from ingest.units import parse_quantity

__all__ = ["IdwConfig", "IdwWeights", "build_idw_weights", "grid_stations"]

_EARTH_RADIUS_KM = 6371.0088


class IdwConfig(BaseModel):
    """Settings of the inverse-distance weighting.

    Parameters
    ----------
    power
        Exponent of the inverse distance (Shepard 1968 uses 2).
    radius
        Search radius with its unit, e.g. ``"20 km"``; choose it for the network's density.
    max_neighbours
        At most this many nearest stations per cell.
    min_stations
        Fewer usable stations than this at a cell and time → NaN.
    exact_within
        A cell centre this close to a usable station takes the station's value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    power: float = Field(default=2.0, gt=0)
    radius: str = "20 km"
    max_neighbours: int = Field(default=8, ge=1)
    min_stations: int = Field(default=1, ge=1)
    exact_within: str = "1 m"

    @field_validator("radius", "exact_within")
    @classmethod
    def _is_length(cls, value: str) -> str:
        if parse_quantity(value, "km") < 0:
            raise ValueError(f"{value!r} is negative; give a distance such as '20 km'")
        return value

    def radius_km(self) -> float:
        """The search radius in km."""
        return parse_quantity(self.radius, "km")

    def exact_km(self) -> float:
        """The exactness distance in km."""
        return parse_quantity(self.exact_within, "km")


@dataclass(frozen=True)
class IdwWeights:
    """Neighbours and distances from grid cells to stations, built once.

    Attributes
    ----------
    neighbours
        ``(n_cell, k)`` station indices, nearest first, ``-1`` where none within the radius.
    distance_km
        ``(n_cell, k)`` great-circle distances (km), ``inf`` where ``neighbours`` is ``-1``.
    grid_shape
        Shape of the target grid (``n_cell`` is its product).
    n_station
        Number of stations of the set the weights were built for.
    config
        The settings used.
    """

    neighbours: np.ndarray
    distance_km: np.ndarray
    grid_shape: tuple[int, ...]
    n_station: int
    config: IdwConfig

    def normalised(self, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights for one or more time steps, given which stations are usable.

        Parameters
        ----------
        usable
            ``(..., n_station)`` booleans.

        Returns
        -------
        tuple of np.ndarray
            ``(..., n_cell, k)`` weights (summing to 1 over ``k`` where a cell has at least
            ``min_stations`` usable neighbours, 0 elsewhere) and ``(..., n_cell)`` counts of
            the contributing stations (0 where the cell is NaN).
        """
        padded = np.concatenate([usable, np.zeros((*usable.shape[:-1], 1), bool)], axis=-1)
        valid = padded[..., self.neighbours]  # -1 (no neighbour) picks the False column
        count = valid.sum(axis=-1)
        exact = valid & (self.distance_km <= self.config.exact_km())
        with np.errstate(divide="ignore"):
            inverse = np.where(valid, self.distance_km**-self.config.power, 0.0)
        has_exact = exact.any(axis=-1, keepdims=True)
        raw = np.where(has_exact, exact.astype(float), inverse)
        total = raw.sum(axis=-1, keepdims=True)
        enough = (count >= self.config.min_stations)[..., np.newaxis]
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = np.where(enough & (total > 0), raw / total, 0.0)
        return weights, np.where(enough[..., 0], count, 0)

    def matrix(self, usable: np.ndarray) -> sparse.csr_array:
        """The weights of one time step as a sparse ``(n_cell, n_station)`` matrix."""
        weights, _ = self.normalised(np.asarray(usable, dtype=bool))
        rows = np.repeat(np.arange(self.neighbours.shape[0]), self.neighbours.shape[1])
        keep = weights.ravel() > 0
        return sparse.csr_array(
            (weights.ravel()[keep], (rows[keep], self.neighbours.ravel()[keep])),
            shape=(self.neighbours.shape[0], self.n_station),
        )

    def _kernel(self, values: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., n_station)`` → gridded values and counts ``(..., *grid_shape)``.

        Time steps are done one at a time, so memory stays at one ``(n_cell, k)`` array.
        """
        lead = values.shape[:-1]
        flat_values = values.reshape(-1, self.n_station)
        flat_usable = (usable & np.isfinite(values)).reshape(-1, self.n_station)
        n_cell = self.neighbours.shape[0]
        estimate = np.full((flat_values.shape[0], n_cell), np.nan)
        count = np.zeros((flat_values.shape[0], n_cell), dtype=np.int32)
        for step, (row, use) in enumerate(zip(flat_values, flat_usable, strict=True)):
            weights, contributing = self.normalised(use)
            gathered = np.append(np.where(use, row, 0.0), 0.0)[self.neighbours]
            has_value = contributing > 0
            estimate[step, has_value] = (weights * gathered).sum(axis=-1)[has_value]
            count[step] = contributing
        return estimate.reshape(*lead, *self.grid_shape), count.reshape(*lead, *self.grid_shape)

    def grid(
        self, values: xr.DataArray, usable: xr.DataArray, grid_dims: tuple[str, ...]
    ) -> tuple[xr.DataArray, xr.DataArray]:
        """Apply the weights to every time step of ``values`` (dims include ``station``).

        Returns the gridded values and ``n_stations``, with ``grid_dims`` replacing
        ``station``. Lazy when ``values`` is dask-backed.
        """
        if values.sizes["station"] != self.n_station:
            raise ContractError(
                "station observations",
                "station",
                f"has {values.sizes['station']} stations, the weights were built for "
                f"{self.n_station}",
                "build the weights again for this station set (build_idw_weights)",
            )
        sizes = dict(zip(grid_dims, self.grid_shape, strict=True))
        estimate, count = xr.apply_ufunc(
            self._kernel,
            values,
            usable,
            input_core_dims=[["station"], ["station"]],
            output_core_dims=[list(grid_dims), list(grid_dims)],
            dask="parallelized",
            output_dtypes=[np.float64, np.int32],
            dask_gufunc_kwargs={"output_sizes": sizes, "allow_rechunk": True},
        )
        return estimate, count


def build_idw_weights(
    station_lon: np.ndarray,
    station_lat: np.ndarray,
    target_lon: np.ndarray,
    target_lat: np.ndarray,
    config: IdwConfig | None = None,
) -> IdwWeights:
    """Find, once, each cell's nearest stations within the radius and their distances.

    Parameters
    ----------
    station_lon, station_lat
        ``(n_station,)`` degrees.
    target_lon, target_lat
        Cell-centre coordinates (degrees), any shape (usually ``(ny, nx)``).
    config
        IDW settings; default :class:`IdwConfig` ``()``.
    """
    from sklearn.neighbors import BallTree

    config = IdwConfig() if config is None else config
    target_lon, target_lat = np.asarray(target_lon, float), np.asarray(target_lat, float)
    if target_lon.shape != target_lat.shape:
        raise ValueError(
            f"target_lon {target_lon.shape} and target_lat {target_lat.shape} differ in shape; "
            "give both as 2-D arrays of cell centres"
        )
    stations = np.radians(np.column_stack([station_lat, station_lon]).astype(float))
    cells = np.radians(np.column_stack([target_lat.ravel(), target_lon.ravel()]))
    k = min(config.max_neighbours, len(stations))
    distance, index = BallTree(stations, metric="haversine").query(cells, k=k)
    distance_km = distance * _EARTH_RADIUS_KM
    outside = distance_km > config.radius_km()
    return IdwWeights(
        neighbours=np.where(outside, -1, index).astype(np.intp),
        distance_km=np.where(outside, np.inf, distance_km),
        grid_shape=target_lon.shape,
        n_station=len(stations),
        config=config,
    )


def grid_stations(
    obs: xr.Dataset,
    name: str,
    target_lon: np.ndarray,
    target_lat: np.ndarray,
    coords: Mapping[str, Any] | None = None,
    config: IdwConfig | None = None,
    weights: IdwWeights | None = None,
    grid_dims: tuple[str, str] = ("y", "x"),
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Grid the station variable ``name`` of ``obs`` by inverse-distance weighting.

    Parameters
    ----------
    obs
        Station observations (contract), with ``<name>_flag`` and, if QC ran, ``<name>_qc``.
    name
        The variable, e.g. ``"pr"``.
    target_lon, target_lat
        2-D cell-centre longitude and latitude of the target grid, dims ``grid_dims``.
    coords
        Coordinates to attach, e.g. ``{"y": ..., "x": ...}`` (``lat``/``lon`` are added).
    config
        IDW settings (ignored when ``weights`` is given).
    weights
        Weights from :func:`build_idw_weights` for these stations and this grid, to reuse.
    grid_dims
        Names of the grid dims.
    attrs
        Dataset attributes to set, e.g. ``{"crs": "+proj=stere ..."}``.

    Returns
    -------
    xr.Dataset
        A gridded field (contract): ``name`` on ``(time, *grid_dims)`` with the units,
        ``standard_name`` and ``cell_methods`` of the stations' variable, and
        ``n_stations`` (int32, stations contributing per cell and time).
    """
    validate_station_obs(obs)
    if name not in obs.data_vars:
        raise ContractError("station observations", name, "is missing", "grid a variable it has")
    if weights is None:
        weights = build_idw_weights(
            np.asarray(obs["lon"].values),
            np.asarray(obs["lat"].values),
            target_lon,
            target_lat,
            config,
        )
    usable = usable_observations(obs, name)
    estimate, count = weights.grid(obs[name], usable, grid_dims)
    source = obs[name].attrs
    kept = ("standard_name", "long_name", "units", "cell_methods", "averaging_period")
    field_attrs = {key: source[key] for key in kept if key in source}
    config_used = weights.config
    field_attrs["comment"] = (
        f"inverse-distance weighting (Shepard 1968): power {config_used.power:g}, radius "
        f"{config_used.radius}, at most {config_used.max_neighbours} stations, at least "
        f"{config_used.min_stations}; stations with a reader flag other than good or a QC "
        "failure left out"
    )
    dataset = xr.Dataset(
        {
            name: estimate.transpose("time", *grid_dims).assign_attrs(field_attrs),
            "n_stations": count.transpose("time", *grid_dims).assign_attrs(
                units="1", long_name=f"number of stations contributing to {name}"
            ),
        },
        coords={
            **dict(coords or {}),
            "lat": (grid_dims, np.asarray(target_lat, float), {"units": "degrees_north"}),
            "lon": (grid_dims, np.asarray(target_lon, float), {"units": "degrees_east"}),
        },
        attrs=dict(attrs or {}),
    )
    return validate_gridded_field(dataset, [name])

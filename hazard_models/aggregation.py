"""Grid → community aggregation: sparse weights built once, applied every cycle.

Weights ``W`` (communities × source cells) hold, for each community, the share of its area
covered by each grid cell (rows sum to 1). Applying them is one sparse matrix product per
time step, wrapped in :func:`xarray.apply_ufunc` with ``dask="parallelized"`` so it runs
lazily on chunked fields. Missing cells (NaN) are left out and the remaining weights are
renormalised; the covered share is reported as ``coverage`` so nothing is invented.

Stations map to communities the same way: each community takes the nearest station within
a radius (a one-hot row), computed with a haversine ball tree (scikit-learn).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import shapely
import xarray as xr
from scipy import sparse

from hazard_models.errors import RegionError
from hazard_models.grid import AnalysisGrid
from ingest.storage import write_bytes_atomic

__all__ = [
    "AggregationWeights",
    "all_station_weights",
    "nearest_station_weights",
    "overlap_weights",
]

_EARTH_RADIUS_KM = 6371.0088
Statistic = Literal["mean", "max"]


@dataclass(frozen=True)
class AggregationWeights:
    """Sparse weights from source cells (grid or stations) to communities.

    Attributes
    ----------
    matrix
        CSR array, shape ``(n_community, n_source)``, rows summing to 1.
    source_dims
        Dimensions of the source field that are flattened, e.g. ``("y", "x")``.
    source_shape
        Their sizes.
    """

    matrix: sparse.csr_array
    source_dims: tuple[str, ...]
    source_shape: tuple[int, ...]

    @property
    def n_community(self) -> int:
        """Number of communities (rows)."""
        return int(self.matrix.shape[0])

    def _kernel(self, values: np.ndarray, statistic: Statistic) -> np.ndarray:
        flat = values.reshape(*values.shape[: values.ndim - len(self.source_dims)], -1)
        lead = flat.shape[:-1]
        flat = flat.reshape(int(np.prod(lead)), flat.shape[-1])  # also with no source cell
        if statistic == "max":
            indptr = self.matrix.indptr
            has_cells = np.diff(indptr) > 0
            result = np.full((flat.shape[0], self.n_community), np.nan)
            if has_cells.any():
                gathered = flat[:, self.matrix.indices]
                result[:, has_cells] = np.fmax.reduceat(gathered, indptr[:-1][has_cells], axis=1)
        else:
            valid = np.isfinite(flat)
            total = (self.matrix @ np.where(valid, flat, 0.0).T).T
            covered = (self.matrix @ valid.T.astype(float)).T
            with np.errstate(invalid="ignore", divide="ignore"):
                result = np.where(covered > 0, total / covered, np.nan)
        return result.reshape(*lead, self.n_community)

    def aggregate(self, values: np.ndarray, statistic: Statistic = "mean") -> np.ndarray:
        """:meth:`apply` on a numpy array ``(…, *source_shape)`` → ``(…, community)``,
        for kernels that already run inside a dask task."""
        return self._kernel(values, statistic)

    def restricted(self, cells: np.ndarray) -> AggregationWeights:
        """These weights over the flat source indices ``cells`` alone (a 1-D source
        ``cell``, in the order given): every other source cell counts as missing, so
        either statistic equals :meth:`apply` on a field that is NaN outside ``cells``."""
        matrix = sparse.csr_array(self.matrix[:, np.asarray(cells)])
        return AggregationWeights(matrix, ("cell",), (len(cells),))

    def _coverage_kernel(self, values: np.ndarray) -> np.ndarray:
        flat = values.reshape(*values.shape[: values.ndim - len(self.source_dims)], -1)
        lead = flat.shape[:-1]
        valid = np.isfinite(flat.reshape(-1, flat.shape[-1])).astype(float)
        return (self.matrix @ valid.T).T.reshape(*lead, self.n_community)

    def _check(self, field: xr.DataArray) -> None:
        for dim, size in zip(self.source_dims, self.source_shape, strict=True):
            if field.sizes.get(dim) != size:
                raise RegionError(
                    f"field {field.name!r} has {dim}={field.sizes.get(dim)}, the aggregation "
                    f"weights expect {size}; regrid the field to the analysis grid first"
                )

    def _apply(
        self, field: xr.DataArray, kernel: Callable[[np.ndarray], np.ndarray]
    ) -> xr.DataArray:
        self._check(field)
        return xr.apply_ufunc(
            kernel,
            field,
            input_core_dims=[list(self.source_dims)],
            output_core_dims=[["community"]],
            dask="parallelized",
            output_dtypes=[float],
            dask_gufunc_kwargs={
                "output_sizes": {"community": self.n_community},
                "allow_rechunk": True,
            },
        )

    def apply(self, field: xr.DataArray, statistic: Statistic = "mean") -> xr.DataArray:
        """Aggregate ``field`` to communities (area-weighted ``mean`` or ``max``).

        Missing source values are left out; a community with none gets NaN.
        """
        result = self._apply(field, lambda values: self._kernel(values, statistic))
        return result.assign_attrs(field.attrs).rename(field.name)

    def coverage(self, field: xr.DataArray) -> xr.DataArray:
        """Share (0-1) of each community's weight that has data in ``field``."""
        result = self._apply(field, self._coverage_kernel)
        return result.assign_attrs(units="1", long_name="share of community area with data")

    def save(self, path: Path) -> Path:
        """Write the weights atomically to an ``.npz`` file."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            data=self.matrix.data,
            indices=self.matrix.indices,
            indptr=self.matrix.indptr,
            shape=np.asarray(self.matrix.shape),
            source_dims=np.asarray(self.source_dims),
            source_shape=np.asarray(self.source_shape),
        )
        return write_bytes_atomic(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> AggregationWeights:
        """Read weights written by :meth:`save`."""
        with np.load(path) as stored:
            matrix = sparse.csr_array(
                (stored["data"], stored["indices"], stored["indptr"]),
                shape=tuple(stored["shape"]),
            )
            return cls(
                matrix=matrix,
                source_dims=tuple(str(d) for d in stored["source_dims"]),
                source_shape=tuple(int(s) for s in stored["source_shape"]),
            )


def overlap_weights(grid: AnalysisGrid, polygons: np.ndarray) -> AggregationWeights:
    """Area-overlap weights of grid cells for polygons given in the grid's CRS.

    Each weight is ``area(cell ∩ polygon) · f(cell)``, normalised per polygon, where ``f`` is
    the cell's relative true area (:meth:`AnalysisGrid.area_factor`).

    Raises
    ------
    RegionError
        If a polygon overlaps no grid cell (outside the grid, or the wrong CRS).
    """
    boxes = grid.cell_boxes()
    tree = shapely.STRtree(boxes)
    poly_index, cell_index = tree.query(polygons, predicate="intersects")
    overlap = shapely.area(shapely.intersection(polygons[poly_index], boxes[cell_index]))
    overlap = overlap * grid.area_factor()[cell_index]
    keep = overlap > 1e-12 * shapely.area(boxes[0])
    poly_index, cell_index, overlap = poly_index[keep], cell_index[keep], overlap[keep]
    totals = np.bincount(poly_index, weights=overlap, minlength=len(polygons))
    empty = np.flatnonzero(totals == 0)
    if empty.size:
        raise RegionError(
            f"{empty.size} polygon(s) (first: number {empty[0]}) overlap no cell of the analysis "
            "grid; check that the layer covers the region and that its CRS is declared right"
        )
    matrix = sparse.csr_array(
        (overlap / totals[poly_index], (poly_index, cell_index)), shape=(len(polygons), grid.size)
    )
    matrix.sort_indices()
    return AggregationWeights(matrix=matrix, source_dims=("y", "x"), source_shape=grid.shape)


def all_station_weights(n_community: int, n_station: int) -> AggregationWeights:
    """Weights by which every station counts for every community (equal shares).

    For a source of named areas without coordinates (HKO's district rainfall) warned over a
    region as a whole: the areal maximum is then the highest reading of any station, the
    mean the average of those reporting.
    """
    if n_station < 1:
        raise RegionError("the station input has no stations; check the source's contents")
    matrix = sparse.csr_array(np.full((n_community, n_station), 1.0 / n_station))
    return AggregationWeights(matrix=matrix, source_dims=("station",), source_shape=(n_station,))


def nearest_station_weights(
    community_lon: np.ndarray,
    community_lat: np.ndarray,
    station_lon: np.ndarray,
    station_lat: np.ndarray,
    radius_km: float,
) -> tuple[AggregationWeights, np.ndarray]:
    """One-hot weights mapping each community to its nearest station within ``radius_km``.

    Returns the weights and the distance (km) to the chosen station (NaN where none is
    within the radius; such communities get a zero row, hence NaN values and 0 coverage).
    """
    from sklearn.neighbors import BallTree

    stations = np.radians(np.column_stack([station_lat, station_lon]))
    targets = np.radians(np.column_stack([community_lat, community_lon]))
    distance, index = BallTree(stations, metric="haversine").query(targets, k=1)
    distance_km = distance[:, 0] * _EARTH_RADIUS_KM
    inside = distance_km <= radius_km
    rows = np.flatnonzero(inside)
    matrix = sparse.csr_array(
        (np.ones(rows.size), (rows, index[inside, 0])),
        shape=(len(community_lon), len(station_lon)),
    )
    matrix.sort_indices()
    weights = AggregationWeights(
        matrix=matrix, source_dims=("station",), source_shape=(len(station_lon),)
    )
    return weights, np.where(inside, distance_km, np.nan)

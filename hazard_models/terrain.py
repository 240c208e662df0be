"""Terrain maths on a DEM: closed depressions, where water that is not drained collects.

:func:`fill_depressions` gives the *priority-flood* filled surface (Barnes, Lehman and
Mulla 2014): the lowest surface above the DEM with no closed hollow, so that every cell can
drain to the map's edge or to a missing (outlet) cell. It is computed as a morphological
reconstruction by erosion of the DEM from its outlets (Soille 2004, sect. 6.3.7), which
yields the same surface. :func:`depression_labels` numbers the 4-connected groups of
cells the fill raises: the closed depressions, each spilling at its filled level.

The share of a community's DEM pixels that lie in a depression (``depression_fraction``,
:mod:`hazard_models.community`) ranks Shenzhen's communities by the official 2019
waterlogging points better than the share of low-lying land or the mean elevation does
(``docs/waterlogging_terrain.md``, ``benchmarks/waterlogging_terrain.py``).

References
----------
Barnes, R., Lehman, C. and Mulla, D. (2014): Priority-flood: An optimal depression-filling
and watershed-labeling algorithm for digital elevation models. Computers & Geosciences 62,
117-127. doi:10.1016/j.cageo.2013.04.024.
Soille, P. (2004): Morphological Image Analysis, 2nd ed. Springer, Berlin.

>>> import numpy as np
>>> dem = np.array([[5.0, 5, 5, 5], [5, 2, 3, 5], [5, 5, 4, 5], [5, 5, 5, 5]])
>>> fill_depressions(dem, np.zeros(dem.shape, bool))[1:3, 1:3]
array([[5., 5.],
       [5., 5.]])
>>> depression_labels(dem, fill_depressions(dem, np.zeros(dem.shape, bool)))[1]
1
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["depression_labels", "fill_depressions"]

_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def fill_depressions(elevation: np.ndarray, outlet: np.ndarray) -> np.ndarray:
    """The lowest surface above ``elevation`` with no closed depression (same units).

    Parameters
    ----------
    elevation
        2-D DEM; values at outlet cells are ignored (NaN allowed there).
    outlet
        Boolean mask of the cells where water leaves the map (missing data, the sea).
        The border always drains.

    Returns
    -------
    numpy.ndarray
        The filled surface; at outlet cells, a value below every elevation.

    Notes
    -----
    With :math:`f` the DEM and the marker :math:`m` equal to :math:`f` on the outlets and
    the border and to :math:`\\max f` elsewhere, the filled surface is the reconstruction
    by erosion :math:`R^\\varepsilon_f(m)`: :math:`m` eroded repeatedly (4-connected, so
    water does not leak through a diagonal gap) and kept above :math:`f` until stable.
    """
    from skimage.morphology import reconstruction

    if elevation.ndim != 2 or outlet.shape != elevation.shape:
        raise ValueError(
            f"fill_depressions: elevation {elevation.shape} and outlet {outlet.shape} must be "
            "the same 2-D shape"
        )
    land = elevation[~outlet]
    if land.size == 0 or not np.isfinite(land).all():
        raise ValueError(
            "fill_depressions: every non-outlet cell needs a finite elevation; mark missing "
            "cells as outlets"
        )
    surface = np.where(outlet, land.min() - 1.0, elevation).astype(np.float64)
    drains = outlet.copy()
    drains[[0, -1], :] = True
    drains[:, [0, -1]] = True
    seed = np.where(drains, surface, surface.max())
    return np.asarray(reconstruction(seed, surface, method="erosion", footprint=_FOUR_CONNECTED))


def depression_labels(
    elevation: np.ndarray, filled: np.ndarray, min_cells: int = 1
) -> tuple[np.ndarray, int]:
    """Number the closed depressions ``1 … n`` (0 elsewhere) and count them.

    A depression is a 4-connected group of cells the fill raised (``filled > elevation``);
    groups of fewer than ``min_cells`` cells are dropped (a one-pixel pit of a 30 m DEM is
    more often noise than a hollow). NaN elevations are never in a depression.
    """
    with np.errstate(invalid="ignore"):
        raised = filled > elevation
    labels, count = ndimage.label(raised, structure=_FOUR_CONNECTED)
    if count and min_cells > 1:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        keep = sizes >= min_cells
        keep[0] = False
        renumber = np.zeros(count + 1, dtype=np.int64)
        renumber[keep] = np.arange(1, int(keep.sum()) + 1)
        labels, count = renumber[labels], int(keep.sum())
    return labels.astype(np.int32), int(count)

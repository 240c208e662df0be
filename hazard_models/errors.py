"""Exceptions of the hazard models and the region::

ingest.errors.YujingError
├── ingest.errors.DataError
│   └── RegionError            the region, grid or community layer is unusable
│       └── GeometryError      a polygon is empty, invalid or in the wrong CRS
└── ModelError                 a model cannot run on what it was given
"""

from __future__ import annotations

from ingest.errors import DataError, YujingError

__all__ = ["GeometryError", "ModelError", "RegionError"]


class RegionError(DataError):
    """The region, analysis grid or community layer cannot be built."""


class GeometryError(RegionError):
    """A polygon is empty, invalid, or its coordinates are in another CRS than declared."""


class ModelError(YujingError):
    """A hazard model cannot run on the inputs or options it was given."""

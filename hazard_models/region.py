"""The region: analysis grid, community layer and aggregation weights, built once and cached.

Building the community layer (clipping thousands of cells to a detailed coastline,
rasterising them on a 30 m DEM) takes seconds; every cycle then only applies the cached
sparse weights. The cache key is a hash of the configuration *and* of the bytes of every
file it reads, so editing a file or a setting rebuilds, and nothing stale is reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from hazard_models.aggregation import AggregationWeights
from hazard_models.community import build_community_layer
from hazard_models.config import CommunityLayerConfig, RegionConfig
from hazard_models.grid import AnalysisGrid
from ingest.contracts import validate_community_layer
from ingest.storage import write_netcdf_atomic

__all__ = ["Region", "load_region", "region_cache_key"]

_CACHE_VERSION = "2"  # 2: depression_fraction


@dataclass(frozen=True)
class Region:
    """Everything a hazard model needs to know about where it runs."""

    config: RegionConfig
    grid: AnalysisGrid
    communities: xr.Dataset
    weights: AggregationWeights

    @property
    def name(self) -> str:
        """The region's name."""
        return self.config.name


def _file_digest(path: Path, cache: dict[Path, str]) -> str:
    if path not in cache:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        cache[path] = digest.hexdigest()
    return cache[path]


def region_cache_key(region: RegionConfig, communities: CommunityLayerConfig) -> str:
    """Hash of the configuration and of the content of every file it refers to."""
    documents = [region.model_dump(mode="json"), communities.model_dump(mode="json")]
    digests: dict[Path, str] = {}

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith("/") and Path(value).is_file():
            _file_digest(Path(value), digests)

    walk(documents)
    payload = json.dumps(
        {
            "version": _CACHE_VERSION,
            "config": documents,
            "files": {str(k): v for k, v in sorted(digests.items())},
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_region(
    region: RegionConfig, communities: CommunityLayerConfig, cache_dir: Path | None = None
) -> Region:
    """Build the region, or load it from ``cache_dir`` when an identical build is cached."""
    grid = AnalysisGrid(region.grid)
    if cache_dir is None:
        layer, weights = build_community_layer(region, communities, grid)
        return Region(config=region, grid=grid, communities=layer, weights=weights)
    folder = Path(cache_dir) / f"region-{region_cache_key(region, communities)}"
    layer_path, weights_path = folder / "communities.nc", folder / "weights.npz"
    if layer_path.exists() and weights_path.exists():
        with xr.open_dataset(layer_path) as stored:
            layer = validate_community_layer(stored.load())
        weights = AggregationWeights.load(weights_path)
    else:
        layer, weights = build_community_layer(region, communities, grid)
        weights.save(weights_path)
        write_netcdf_atomic(layer, layer_path)
    return Region(config=region, grid=grid, communities=layer, weights=weights)

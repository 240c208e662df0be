"""Shared fixtures: the real data folder and regions built once per test session.

The data are the real files of ``../shared/data`` (``YUJING_DATA_ROOT`` overrides); a
missing folder fails the run loudly instead of skipping tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    configured = os.environ.get("YUJING_DATA_ROOT")
    root = Path(configured) if configured else REPO.parent / "shared" / "data"
    if not (root / "SOURCES.md").exists():
        raise RuntimeError(
            f"shared data not found at {root}; set YUJING_DATA_ROOT to the shared data folder"
        )
    return root.resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real-data folder."""
    return _data_root()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the session's region builds."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def shenzhen_settings(data_root: Path):  # type: ignore[no-untyped-def]
    """Settings of configs/shenzhen.yaml."""
    from yujing.settings import load_settings

    return load_settings(REPO / "configs" / "shenzhen.yaml", data_root=data_root)


@pytest.fixture(scope="session")
def shenzhen_region(shenzhen_settings, cache_dir: Path):  # type: ignore[no-untyped-def]
    """The Shenzhen region with its default community layer (built once)."""
    from hazard_models.region import load_region

    return load_region(shenzhen_settings.region, shenzhen_settings.communities, cache_dir)

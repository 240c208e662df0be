"""Shared fixtures: the real data folder and regions built once per test session.

The data are the real files of ``../shared/data`` (``YUJING_DATA_ROOT`` overrides); a
missing folder fails the run loudly instead of skipping tests.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xarray as xr
import yaml

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


DeployedConfig = Callable[..., Path]


@pytest.fixture
def deployed_config(tmp_path: Path, data_root: Path) -> DeployedConfig:
    """Write a copy of ``configs/<name>`` for a test run outside the repository.

    ``deployed_config(name, edit=None, alert_database=None)`` returns the path of the copy in
    ``tmp_path``: the data root made absolute, outputs, cache and ingest store in
    ``tmp_path``, ``alerting.database`` set to ``alert_database`` when given, then
    ``edit(document)`` applied to the parsed YAML.
    """

    def write(
        name: str,
        edit: Callable[[dict[str, Any]], None] | None = None,
        alert_database: str | None = None,
    ) -> Path:
        document = yaml.safe_load((REPO / "configs" / name).read_text("utf-8"))
        document["data_root"] = str(data_root)
        document["output"] = {
            "directory": str(tmp_path / "out"),
            "cache_directory": str(tmp_path / "cache"),
            "store_directory": str(tmp_path / "store"),
        }
        if alert_database is not None:
            document["alerting"]["database"] = alert_database
        if edit is not None:
            edit(document)
        config = tmp_path / name
        config.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
        return config

    return write


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


@pytest.fixture(scope="session")
def knmi_crop(data_root: Path):  # type: ignore[no-untyped-def]
    """100 x 100 km of the KNMI radar grid around the event's wettest pixel (SOURCES.md 7.1),
    and a region on exactly that part of the grid with 10 x 10 km blocks."""
    from hazard_models.config import CommunityLayerConfig, RegionConfig
    from hazard_models.region import load_region
    from ingest.readers import read_source

    radar = read_source("knmi-hdf5", data_root / "radar/knmi_20100826", {}, "knmi")
    crop = radar.isel(y=slice(350, 450), x=slice(250, 350))
    region = load_region(
        RegionConfig.model_validate(
            {
                "name": "KNMI crop",
                "code": "NL-CROP",
                "timezone": "Europe/Amsterdam",
                "grid": {
                    "crs": radar.attrs["crs"],
                    "x_origin": 250_000,
                    "y_origin": -4_000_000,
                    "dx": 1000,
                    "dy": -1000,
                    "nx": 100,
                    "ny": 100,
                    "source": "rows 350-449, columns 250-349 of the KNMI RAD_NL25 grid",
                },
            }
        ),
        CommunityLayerConfig.model_validate({"kind": "grid_blocks", "block_size": 10}),
    )
    return crop, region


# -- real hazard results without netCDF: the Mangkhut fixture -------------------------------

MANGKHUT = REPO / "tests" / "fixtures" / "alerting" / "mangkhut_results.json.gz"
_TIMES = ("valid_time", "onset_time", "arrival_time")


def _decode(data: dict[str, Any]) -> xr.Dataset:
    dataset = xr.Dataset.from_dict(data)
    if "lead_time" in dataset.coords:
        lead = [str(value).replace(", ", " ") for value in dataset["lead_time"].values]
        dataset = dataset.assign_coords(
            lead_time=pd.to_timedelta(lead).astype("timedelta64[ns]").to_numpy()
        )
    for name in _TIMES:
        if name in dataset.variables:
            values = pd.to_datetime(dataset[name].values.ravel(), errors="raise")
            dataset[name] = (
                dataset[name].dims,
                values.astype("datetime64[ns]").to_numpy().reshape(dataset[name].shape),
                dataset[name].attrs,
            )
    return dataset


@pytest.fixture(scope="session")
def mangkhut() -> tuple[dict[datetime, xr.Dataset], xr.Dataset]:
    """Typhoon-ensemble results for Mangkhut 2018 over three Shenzhen districts, by issue
    time, and their community layer (fixture cut by make_mangkhut_results.py)."""
    with gzip.open(MANGKHUT, "rt", encoding="utf-8") as handle:
        payload = json.load(handle)
    results = {
        datetime.fromisoformat(issue): _decode(data) for issue, data in payload["results"].items()
    }
    return results, xr.Dataset.from_dict(payload["communities"])


@pytest.fixture(scope="session")
def mangkhut_policy() -> Any:
    """The lifecycle policy the tests run on the Mangkhut results: typhoon windows already
    look ahead, 3 h minimum duration, 5 h before a downgrade, 12 h validity, red confirmed
    by a forecaster."""
    from alerting.lifecycle import LifecyclePolicy

    return LifecyclePolicy(
        look_ahead=timedelta(0),
        min_duration=timedelta(hours=3),
        downgrade_after=timedelta(hours=5),
        validity=timedelta(hours=12),
        confirm_levels=("red",),
    )


@pytest.fixture(scope="session")
def mangkhut_context(mangkhut: tuple[dict[datetime, xr.Dataset], xr.Dataset]) -> Any:
    """The CAP message context of Shenzhen's typhoon warnings on the Mangkhut fixture's
    communities (a test sender)."""
    from alerting.messages import MessageContext

    return MessageContext(
        sender="yujing@440300.example",
        sender_code="44030041600000",
        sender_name="yujing 深圳 (test)",
        region_name="深圳市",
        timezone="Asia/Shanghai",
        communities=mangkhut[1],
    )


@contextmanager
def _dask_processes(folder: Path, workers: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` workers of two threads, as separate processes
    started as a deployment starts them; the scheduler's address."""
    scheduler_file = folder / "scheduler.json"
    dask_cli = str(Path(sys.executable).with_name("dask"))
    log = (folder / "cluster.log").open("w")
    processes = [
        subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {folder / 'cluster.log'}")
            time.sleep(0.2)
        address = str(json.loads(scheduler_file.read_text())["address"])
        if workers:
            processes.append(
                subprocess.Popen(
                    [dask_cli, "worker", "--scheduler-file", str(scheduler_file), "--nthreads",
                     "2", "--nworkers", str(workers), "--no-dashboard", "--memory-limit",
                     "6GB", "--local-directory", str(folder / "worker")],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
            from distributed import Client

            with Client(address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a dask scheduler with one worker of two threads (processes)."""
    with _dask_processes(tmp_path_factory.mktemp("dask"), workers=1) as address:
        yield address


@pytest.fixture
def dask_scheduler_without_workers(tmp_path: Path) -> Iterator[str]:
    """The address of a dask scheduler whose workers are all gone."""
    with _dask_processes(tmp_path, workers=0) as address:
        yield address

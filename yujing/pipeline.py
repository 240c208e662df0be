"""One cycle: read the sources, run every configured hazard model, write the results.

This is the plain function each Airflow task and each CLI command calls; it holds no
state between cycles beyond the cached region.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models import get_model
from hazard_models.region import Region, load_region
from hazard_models.risk import RISK_COLOURS
from ingest.errors import YujingError
from ingest.qc import quality_control
from ingest.readers import read_source
from ingest.storage import write_bytes_atomic, write_netcdf_atomic
from ingest.store import PartitionStore
from yujing.ingest import batch_notes, read_window
from yujing.settings import Settings

_LOG = logging.getLogger(__name__)

__all__ = [
    "CycleResult",
    "Loader",
    "as_delivered",
    "available_at",
    "district_summary",
    "load_input",
    "read_configured",
    "run_cycle",
    "verify_nowcasts",
]


@dataclass
class CycleResult:
    """What one cycle produced."""

    issue_time: datetime
    results: dict[str, xr.Dataset] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    summaries: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    errors: dict[str, YujingError] = field(default_factory=dict)
    """The exceptions behind ``failures`` (a replay stops on a look-ahead)."""
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Per hazard that produced a result, what its inputs' reading left out ("knmi_radar:
    rejected_files: …") and the reports its model did not use (failed QC); hazards with
    nothing to note are absent."""


def load_input(
    settings: Settings,
    name: str,
    issue_time: datetime,
    store: PartitionStore | None = None,
) -> xr.Dataset:
    """What source ``name`` held at ``issue_time``: steps whose label plus the source's
    ``latency`` is not after it.

    With a ``store``, the partitions of the last ``history`` available at ``issue_time``
    (the ingest must have run, and quality-controlled station reports); without, the
    source itself is read: from a folder whose files are named in time only the files of
    the last ``history`` (:func:`yujing.ingest.read_window`), so that a live cycle's cost
    does not grow with the folder. Station observations read so get the quality control
    ingest gives them (the source's ``qc``), run on what had arrived by ``issue_time``, so
    that a live warning never rests on a report ingest would have flagged. A file of the
    folder that cannot be read is left out (the reader's ``rejected_files``,
    :func:`yujing.ingest.batch_notes`).
    """
    source = settings.sources[name]
    if store is not None:
        return store.open_range(
            name, start=issue_time - source.history, end=issue_time, as_of=issue_time
        )
    dataset, notes = read_window(settings, name, issue_time - source.read_window(), issue_time)
    for note in notes:
        _LOG.info("source %r at %s: %s", name, f"{issue_time:%Y-%m-%dT%H:%MZ}", note)
    return as_delivered(settings, name, dataset, issue_time)


def as_delivered(
    settings: Settings, name: str, dataset: xr.Dataset, issue_time: datetime
) -> xr.Dataset:
    """Source ``name``'s ``dataset`` as it stood at ``issue_time``: cut to what had
    arrived (:func:`available_at`, the source's latency) and, for station observations,
    quality-controlled on that alone (the source's ``qc``; a spike test never sees the
    report after), as ingest checks it."""
    source = settings.sources[name]
    dataset = available_at(dataset, issue_time, source.latency)
    if source.contract == "station observations":
        dataset = quality_control(dataset, source.qc)
    return dataset


def read_configured(settings: Settings, name: str) -> xr.Dataset:
    """Source ``name`` read whole by its configured reader, from its configured path."""
    source = settings.sources[name]
    return read_source(source.reader, settings.source_path(name), source.options, name)


def available_at(
    dataset: xr.Dataset, issue_time: datetime, latency: timedelta = timedelta(0)
) -> xr.Dataset:
    """What a source had delivered by ``issue_time``: the steps (along ``time`` and
    ``reference_time``) labelled at or before ``issue_time - latency``.

    A source that records when each step arrived (an ``available_at`` coordinate along
    ``time``, e.g. the poll time of HKO's district rainfall) is also cut on that: a step
    is there once it arrived by ``issue_time``, and a step that never arrived (NaT) is not.
    """
    issue = np.datetime64(issue_time.astimezone(UTC).replace(tzinfo=None), "ns")
    limit = issue - np.timedelta64(latency)
    for dim in ("time", "reference_time"):
        if dim in dataset.dims:
            dataset = dataset.sel({dim: dataset[dim] <= limit})
    arrival = dataset.coords.get("available_at")
    if arrival is not None and arrival.dims == ("time",):
        dataset = dataset.isel(time=np.flatnonzero(arrival.values <= issue))
    return dataset


Loader = Callable[[str, datetime], xr.Dataset]
"""What a cycle reads: ``loader(source_name, issue_time)`` gives the source as of then."""


def _count_equal(level: int) -> Callable[[pd.Series], int]:
    return lambda values: int((values == level).sum())


def district_summary(result: xr.Dataset) -> pd.DataFrame:
    """Per district: communities, how many have data, how many at each risk level, the
    highest hazard level and the largest accumulation per window (rain), the largest
    ensemble-mean 10-min wind over the forecast (typhoon), or the highest 24-h maximum
    temperature now and the temperature over the forecast (heat)."""
    at_issue = result.isel(lead_time=0)
    table = pd.DataFrame(
        {
            "district": np.where(
                result["district_name"].values == "", "(none)", result["district_name"].values
            ),
            "has_data": np.isfinite(at_issue["probability"].values).any(axis=-1),
            "risk_level": at_issue["risk_level"].values,
            "hazard_level": at_issue["hazard_level"].values,
        }
    )
    if "accumulation" in result:
        for window in result["window"].values:
            table[f"max {window} mm"] = at_issue["accumulation"].sel(window=window).values
    if "wind_speed" in result:
        table["max wind m/s"] = result["wind_speed"].max("lead_time").values
    if "tas_max" in result:
        table["max 24-h tas degC"] = at_issue["tas_max"].values
        table["max tas degC"] = result["tas"].max("lead_time").values
    grouped = table.groupby("district", sort=True)
    summary = pd.DataFrame(
        {
            "communities": grouped.size(),
            "with data": grouped["has_data"].sum(),
            **{
                f"risk {RISK_COLOURS[level]}": grouped["risk_level"].agg(_count_equal(level))
                for level in range(1, 5)
            },
            "highest hazard": grouped["hazard_level"].max().map(lambda v: RISK_COLOURS[int(v)]),
        }
    )
    for column in [c for c in table.columns if c.startswith("max ")]:
        summary[column] = grouped[column].max().round(1)
    return summary


def run_cycle(
    settings: Settings,
    issue_time: datetime,
    output_dir: Path | None = None,
    region: Region | None = None,
    store: PartitionStore | None = None,
    loader: Loader | None = None,
    cycle: str | None = None,
) -> CycleResult:
    """Run every configured hazard for ``issue_time`` (only those of ``cycle``, ``nowcast``
    or ``daily``, when given) and write NetCDF plus a summary.

    A hazard whose inputs or model fail (a :class:`~ingest.errors.YujingError`: bad or
    missing data, a grid that changed) is recorded in ``failures`` and the other hazards
    still run. Inputs come from ``loader`` when given (a replay's cache of each source,
    cut at the issue time), else from ``store`` (what the ingest stored, as of
    ``issue_time``), else from the sources directly; each source once per cycle, however
    many hazards read it. Whatever the route, the model refuses data after the issue time
    and leaves out station reports flagged by their source or QC. What the reading left
    out or flagged is in ``notes``. Outputs go to
    ``<output>/<region code>/<hazard>/<YYYYmmddTHHMMZ>.nc`` (and ``.txt``), written
    atomically; re-running the same cycle rewrites the same files.
    """
    issue_time = issue_time.astimezone(UTC)
    region = region or load_region(settings.region, settings.communities, settings.cache_directory)
    folder = Path(output_dir) if output_dir is not None else settings.output_directory
    selected = settings.hazards_in(cycle)
    done = CycleResult(issue_time=issue_time)
    stamp = issue_time.strftime("%Y%m%dT%H%MZ")
    read: dict[str, xr.Dataset | YujingError] = {}

    def source_at_issue(name: str) -> xr.Dataset:
        # Hazards sharing a source (four read the radar in the KNMI demo) read it once.
        if name not in read:
            try:
                read[name] = (
                    loader(name, issue_time)
                    if loader is not None
                    else load_input(settings, name, issue_time, store)
                )
            except YujingError as err:
                read[name] = err
        outcome = read[name]
        if isinstance(outcome, YujingError):
            raise outcome
        return outcome

    for hazard_name, hazard in selected.items():
        try:
            inputs = {
                input_name: source_at_issue(source) for input_name, source in hazard.inputs.items()
            }
            # QC's counts over the whole read are left to the "left out" line below: what
            # QC cost this hazard's own windows.
            notes = [
                f"{source}: {note}"
                for input_name, source in hazard.inputs.items()
                for note in batch_notes(inputs[input_name], qc=False)
            ]
            model = get_model(hazard.model)(
                settings.signal_schemes[hazard.scheme], hazard.options, settings.risk
            )
            result = model.run(inputs, region, issue_time)
        except YujingError as err:
            # One hazard's bad input must not cost the other hazards their cycle; the
            # failure is reported (CLI exit status 1), never replaced by a made-up result.
            done.failures[hazard_name] = str(err)
            done.errors[hazard_name] = err
            _LOG.error("hazard %r failed at %s: %s", hazard_name, issue_time, err)
            continue
        if "excluded_reports" in result.attrs:
            notes.append(f"left out: {result.attrs['excluded_reports']}")
        for note in notes:
            _LOG.warning("hazard %r at %s: %s", hazard_name, stamp, note)
        if notes:
            done.notes[hazard_name] = notes
        target = folder / settings.region.code / hazard_name / f"{stamp}.nc"
        write_netcdf_atomic(result, target)
        summary = district_summary(result)
        write_bytes_atomic(target.with_suffix(".txt"), summary.to_string().encode() + b"\n")
        done.results[hazard_name] = result
        done.paths[hazard_name] = target
        done.summaries[hazard_name] = summary
    return done


def verify_nowcasts(settings: Settings, cycle: CycleResult) -> dict[str, pd.DataFrame]:
    """Score each radar nowcast of ``cycle`` against the frames that came after it.

    For every hazard run by ``rainstorm-nowcast``: the forecast is remade from the frames
    available at the issue time (the source's latency applied), then compared with the
    later frames of the same source (CSI at 1 and 5 mm/h, FSS) alongside Eulerian
    persistence, and the ensemble's pixel probabilities of 1 mm/h are scored (Brier score,
    skill against the base rate, reliability). Written beside the result as
    ``<stamp>_skill.csv`` and ``<stamp>_reliability.csv``; the returned tables are keyed by
    hazard and ``"<hazard> probability"``. Only for
    past events: a live cycle has no later frames, and no score is made for missing ones.
    """
    from hazard_models.rainstorm.skill import nowcast_skill, probability_skill

    tables = {}
    for name, hazard in settings.hazards.items():
        if hazard.model != "rainstorm-nowcast" or name not in cycle.paths:
            continue
        source_name = hazard.inputs["radar"]
        source = settings.sources[source_name]
        radar = read_configured(settings, source_name)
        options = hazard.options
        table = nowcast_skill(
            radar,
            cycle.issue_time - source.latency,
            motion=str(options.get("motion", "lucas-kanade")),
            motion_frames=int(options.get("motion_frames", 3)),
        )
        target = cycle.paths[name].with_name(cycle.paths[name].stem + "_skill.csv")
        write_bytes_atomic(target, table.to_csv(float_format="%.4f").encode())
        tables[name] = table
        scores, reliability = probability_skill(
            radar,
            cycle.issue_time - source.latency,
            motion=str(options.get("motion", "lucas-kanade")),
            motion_frames=int(options.get("motion_frames", 3)),
            members=int(options.get("members", 20)),
            seed=int(options.get("seed", 0)),
        )
        reliable = cycle.paths[name].with_name(cycle.paths[name].stem + "_reliability.csv")
        write_bytes_atomic(reliable, reliability.to_csv(index=False).encode())
        tables[f"{name} probability"] = scores
    return tables

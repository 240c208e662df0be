"""``yujing replay``: real typhoons replayed cycle by cycle with the baseline forecaster.

Events: ``configs/events/mangkhut-2018.yaml`` and ``saola-2023.yaml`` (JMA best tracks,
SOURCES.md §1.2-1.3), shortened here to a few cycles; the full replays are run by the README's
command.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from yujing.cli import main
from yujing.errors import ConfigError
from yujing.replay import load_event, replay

EVENTS = Path(__file__).resolve().parents[1] / "configs" / "events"


def _shortened(tmp_path: Path, name: str, start: str, end: str, members: int = 10) -> Path:
    document = yaml.safe_load((EVENTS / f"{name}.yaml").read_text("utf-8"))
    document.update(settings=str(EVENTS.parent / "shenzhen.yaml"), start=start, end=end)
    document.pop("short_start", None)
    document.pop("short_end", None)
    for change in document["hazards"].values():
        change["options"] = {"members": members}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def test_bundled_events_load(data_root: Path) -> None:
    for path in sorted(EVENTS.glob("*.yaml")):
        event, settings = load_event(path, data_root=data_root)
        assert event.name == path.stem
        assert set(settings.hazards) == set(event.hazards)
        assert len(event.issue_times()) >= 10


def test_mangkhut_replay_escalates_without_future_fixes(tmp_path: Path, data_root: Path) -> None:
    path = _shortened(tmp_path, "mangkhut-2018", "2018-09-15T13:00Z", "2018-09-16T01:00Z")
    event, settings = load_event(path, data_root=data_root)
    result = replay(event, settings, output=tmp_path / "out")
    assert result.failures == {}
    table = pd.read_csv(result.folder / "summary.csv")
    assert set(table["hazard"]) == {"typhoon", "typhoon_analysis"}  # the forecast, its truth
    table = table[table["hazard"] == "typhoon"]
    assert list(table["issue_time"]) == [
        "2018-09-15T13:00Z",
        "2018-09-15T19:00Z",
        "2018-09-16T01:00Z",
    ]
    # As Mangkhut closed in, the highest signal rose (Shenzhen's own went to red on the 16th).
    order = ["none", "white", "blue", "yellow", "orange", "red"]
    ranks = [order.index(signal) for signal in table["signal"]]
    assert ranks == sorted(ranks) and ranks[-1] >= order.index("orange")
    assert table["max P(red)"].iloc[-1] > table["max P(red)"].iloc[0]
    for stamp, issue in zip(("20180915T1300Z", "20180916T0100Z"), ("12:00", "00:00"), strict=True):
        written = result.folder / "440300" / "typhoon" / f"{stamp}.nc"
        with xr.open_dataset(written) as cycle:
            # Each cycle's forecast starts from the fix known one hour before the issue time.
            assert cycle.attrs["forecast_reference_time"].endswith(f"T{issue}Z")
            assert "trained on JMA best tracks to 2018-01-01" in cycle.attrs["forecast_agency"]


def test_saola_replay_runs_with_a_model_trained_before_2023(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _shortened(tmp_path, "saola-2023", "2023-09-01T07:00Z", "2023-09-01T07:00Z")
    status = main(["replay", str(path), "--output", str(tmp_path / "out"), "--data-root",
                   str(data_root)])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "Super Typhoon Saola" in printed
    table = pd.read_csv(tmp_path / "out" / "saola-2023" / "summary.csv")
    assert table["signal"].iloc[0] in ("orange", "red")  # 70 km from Futian that evening
    with xr.open_dataset(
        tmp_path / "out" / "saola-2023" / "440300" / "typhoon" / "20230901T0700Z.nc"
    ) as cycle:
        assert "trained on JMA best tracks to 2023-01-01" in cycle.attrs["forecast_agency"]


def test_event_errors_name_the_key(tmp_path: Path, data_root: Path) -> None:
    document = yaml.safe_load((EVENTS / "mangkhut-2018.yaml").read_text("utf-8"))
    document["settings"] = str(EVENTS.parent / "shenzhen.yaml")
    document["hazards"] = {
        "typhoon": {"inputs": {"track": "jma_nosuchstorm"}, "options": {"members": 0}},
        "typhoon_analysis": {},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_event(path, data_root=data_root)
    message = str(raised.value)
    assert "2 problem(s)" in message
    assert "hazards.typhoon.inputs.track: 'jma_nosuchstorm' is not a source" in message
    assert "hazards.typhoon.options.members: Input should be greater than or equal to 1" in message
    document["hazards"] = {"typhoon": {}, "typhoon_analysis": {}}
    document["start"] = "2018-09-14T01:00"  # no zone
    path.write_text(yaml.safe_dump(document), "utf-8")
    with pytest.raises(ConfigError, match="start"):
        load_event(path, data_root=data_root)
    document["start"] = "2018-09-14T01:00Z"
    document["every"] = "12 h"  # longer than the renewal window (extend_before 6 h)
    path.write_text(yaml.safe_dump(document), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_event(path, data_root=data_root)
    assert (
        "alerting.policy.typhoon.extend_before: 6 h is shorter than the 12 h between cycles"
    ) in str(raised.value)

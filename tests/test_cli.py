"""The yujing command line, end to end on the real Shenzhen configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from yujing.cli import main

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "shenzhen.yaml"


def test_help_lists_the_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "yujing.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "config" in done.stdout and "run" in done.stdout


def test_config_check_passes_and_a_broken_copy_fails(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(CONFIG), "--data-root", str(data_root), "--no-region"]) == 0
    broken = tmp_path / "shenzhen.yaml"
    text = CONFIG.read_text(encoding="utf-8").replace('threshold: "100 mm"', 'threshold: "100"')
    broken.write_text(
        text.replace("data_root: ../../shared/data", f"data_root: {data_root}"), encoding="utf-8"
    )
    assert main(["config", "check", str(broken)]) == 2
    error = capsys.readouterr().err
    assert str(broken) in error
    assert "levels.3.criteria.0" in error and "write it like '100 mm'" in error


def test_run_writes_netcdf_and_summary_and_is_repeatable(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = [
        "run",
        "--config",
        str(CONFIG),
        "--at",
        "2023-09-08T11:00+08:00",
        "--output",
        str(tmp_path),
        "--data-root",
        str(data_root),
    ]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "福田区" in printed and "max 3 h mm" in printed
    result_path = tmp_path / "440300" / "rainstorm" / "20230908T0300Z.nc"
    with xr.open_dataset(result_path) as first:
        first = first.load()
    assert first.attrs["issue_time"] == "2023-09-08T03:00:00Z"
    # NASA POWER hours beginning 00, 01, 02 UTC (labelled 01-03Z): 10.73 + 9.39 + 6.12 mm
    three_hours = first["accumulation"].sel(window="3 h").isel(lead_time=0).values
    assert np.nanmax(three_hours) == pytest.approx(10.73 + 9.39 + 6.12)
    assert (tmp_path / "440300" / "rainstorm" / "20230908T0300Z.txt").exists()
    assert main(arguments) == 0
    with xr.open_dataset(result_path) as second:
        xr.testing.assert_identical(second.load(), first)


def test_naive_issue_time_is_refused(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "run",
                "--config",
                str(CONFIG),
                "--at",
                "2023-09-08T11:00",
                "--data-root",
                str(data_root),
            ]
        )
        == 2
    )
    assert "has no timezone" in capsys.readouterr().err


def test_operator_issues_lists_and_revokes_subscriber_tokens(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alerting.subscriptions import SubscriptionStore

    database = f"sqlite:///{tmp_path / 'alerts.db'}"
    with SubscriptionStore(database) as store:
        store.upgrade()
    common = ["--database", database]

    assert main(["subscribers", "token", "futian-metro", *common, "--by", "ops-1"]) == 0
    issued = capsys.readouterr()
    token = issued.out.strip()
    assert issued.out == token + "\n" and "shown only now" in issued.err
    assert main(["subscribers", "list", *common]) == 0
    listed = capsys.readouterr().out
    assert "futian-metro" in listed and "(not registered)" in listed and token[:10] in listed
    assert main(["subscribers", "token", "Futian Metro", *common]) == 2
    assert "is not an id" in capsys.readouterr().err

    with SubscriptionStore(database) as store:
        assert store.authenticate(token) == "futian-metro"
    assert main(["subscribers", "revoke", "futian-metro", *common, "--by", "ops-2"]) == 0
    assert "revoked 1" in capsys.readouterr().out
    assert main(["subscribers", "revoke", "futian-metro", *common]) == 1
    with SubscriptionStore(database) as store:
        assert store.authenticate(token) is None
        (record,) = store.tokens()
        assert (record.created_by, record.revoked_by) == ("ops-1", "ops-2")


def test_operator_prints_the_webhook_secret_the_dispatcher_signs_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alerting.delivery.webhook import subscriber_secret

    master = bytes(range(32))
    key_file = tmp_path / "webhook.key"
    key_file.write_text(master.hex(), encoding="ascii")
    printed = []
    for subscriber_id in ("futian-metro", "yantian-port"):
        arguments = ["subscribers", "webhook-secret", subscriber_id]
        assert main([*arguments, "--webhook-key-file", str(key_file)]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == subscriber_secret(master, "futian-metro").hex() + "\n"
    assert printed[0] != printed[1]
    monkeypatch.delenv("YUJING_WEBHOOK_KEY", raising=False)
    assert main(["subscribers", "webhook-secret", "futian-metro"]) == 2
    assert "no webhook master key" in capsys.readouterr().err

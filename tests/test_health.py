"""Health of the warning service (:mod:`alerting.health`) and ``yujing alerts status``.

The thresholds here are the defaults of :class:`yujing.settings.WatchdogConfig`; the times
are the Mangkhut (2018) cycle times the API tests use. The store-backed checks on a real
alerting state are in ``tests/test_feed_api.py``.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from alerting import health
from alerting.health import assess
from yujing.cli import main
from yujing.settings import WatchdogConfig

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2018, 9, 16, 1, 20, tzinfo=UTC)
WATCH = WatchdogConfig()


def _assess(**changes: object) -> health.HealthReport:
    arguments: dict[str, object] = {
        "max_age": {"typhoon": WATCH.cycle_max_age["nowcast"]},
        "last_cycles": {"typhoon": datetime(2018, 9, 16, 1, 18, tzinfo=UTC)},
        "next_due": None,
        "delivery_max_lag": WATCH.delivery_max_lag,
        "recent_dead_letters": 0,
        "dead_letter_window": WATCH.dead_letter_window,
    }
    arguments.update(changes)
    return assess(NOW, **arguments)  # type: ignore[arg-type]


def test_the_defaults_are_three_missed_nowcasts_and_a_day() -> None:
    assert WATCH.cycle_max_age == {"nowcast": timedelta(minutes=20), "daily": timedelta(hours=26)}
    assert WATCH.delivery_max_lag == timedelta(minutes=10)
    with pytest.raises(ValueError, match="not scheduled cycles"):
        WatchdogConfig.model_validate({"cycle_max_age": {"hourly": "1 h"}})


def test_a_fresh_cycle_and_an_idle_outbox_are_ok() -> None:
    report = _assess()
    assert (report.status, report.exit_code) == ("ok", 0)
    assert [(c.name, c.status) for c in report.checks] == [
        ("cycle:typhoon", "ok"),
        ("dispatcher", "ok"),
        ("dead letters", "ok"),
        ("review", "ok"),
    ]
    assert report.checks[0].detail == (
        "newest cycle 2018-09-16T01:18:00Z is 2 min old, at most 20 min"
    )


def test_a_stopped_cycle_fails_at_its_limit_not_before() -> None:
    at_limit = _assess(last_cycles={"typhoon": NOW - timedelta(minutes=20)})
    beyond = _assess(last_cycles={"typhoon": NOW - timedelta(minutes=20, seconds=1)})
    never = _assess(last_cycles={})
    assert at_limit.status == "ok"
    assert (beyond.status, beyond.exit_code) == ("failing", 2)
    assert "more than 20 min" in beyond.checks[0].detail
    assert (never.checks[0].status, never.checks[0].detail) == (
        "failing",
        "no cycle has been recorded",
    )


def test_a_dispatcher_that_does_not_drain_fails_and_dead_letters_degrade() -> None:
    late = _assess(next_due=NOW - timedelta(minutes=45))
    on_time = _assess(next_due=NOW - timedelta(minutes=9))
    dead = _assess(recent_dead_letters=3)
    assert late.status == "failing"
    assert "45 min overdue" in late.checks[1].detail and "yujing dispatch" in late.checks[1].detail
    assert on_time.status == "ok"
    assert (dead.status, dead.exit_code) == ("degraded", 1)
    assert dead.checks[2].detail.startswith("3 deliveries of the last 24.0 h were given up")
    both = _assess(next_due=NOW - timedelta(hours=3), recent_dead_letters=3)
    assert both.status == "failing" and "3.0 h overdue" in both.checks[1].detail


def test_naive_time_is_refused_and_the_example_holds() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        assess(
            datetime(2018, 9, 16),
            max_age={},
            last_cycles={},
            next_due=None,
            delivery_max_lag=WATCH.delivery_max_lag,
            recent_dead_letters=0,
            dead_letter_window=WATCH.dead_letter_window,
        )
    failed, attempted = doctest.testmod(health)
    assert (failed, attempted > 0) == (0, True)


def test_alerts_status_exits_failing_before_any_cycle(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ERA5 heat demo's store, migrated but never cycled: its daily heat hazard fails."""
    document = yaml.safe_load((REPO / "configs" / "era5-uk-demo.yaml").read_text("utf-8"))
    document["data_root"] = str(data_root.resolve())
    document["alerting"]["database"] = f"sqlite:///{tmp_path / 'alerts.db'}"
    document["output"] = {"directory": str(tmp_path / "out")}
    config = tmp_path / "era5-uk-demo.yaml"
    config.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    common = ["--config", str(config)]
    assert main(["alerts", "upgrade", *common]) == 0
    capsys.readouterr()

    assert main(["alerts", "status", *common]) == 2
    printed = capsys.readouterr().out
    assert "warning service: failing" in printed
    assert "cycle:heatwave" in printed and "no cycle has been recorded" in printed
    assert main(["alerts", "requeue", *common, "--by", "ops-1"]) == 0
    assert "requeued 0 dead letters" in capsys.readouterr().out


def test_a_proposal_waiting_past_the_limit_fails_review() -> None:
    from alerting.outbox.records import AwaitingReview

    red = AwaitingReview("p-1", "typhoon", "440303", "red", NOW - timedelta(minutes=16))
    orange = AwaitingReview("p-2", "typhoon", "440304", "orange", NOW - timedelta(minutes=4))
    late = _assess(awaiting=[orange, red])
    soon = _assess(awaiting=[orange])
    assert (late.status, late.checks[3].status) == ("failing", "failing")
    assert late.checks[3].detail == (
        "2 proposals wait for a forecaster; red typhoon for area 440303 has waited 16 min, "
        "more than 15 min: open /console"
    )
    assert (soon.status, soon.checks[3].detail) == (
        "ok",
        "1 proposals wait for a forecaster, the longest 4 min (orange typhoon for area 440304)",
    )

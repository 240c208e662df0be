"""Configuration: both bundled configs load; broken copies fail naming file, key and fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from yujing.errors import ConfigError
from yujing.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def test_bundled_configs_load(data_root: Path) -> None:
    shenzhen = load_settings(REPO / "configs/shenzhen.yaml", data_root=data_root)
    knmi = load_settings(REPO / "configs/knmi-demo.yaml", data_root=data_root)
    assert shenzhen.region.timezone == "Asia/Shanghai"
    assert knmi.region.timezone == "Europe/Amsterdam"
    red = shenzhen.signal_schemes["cma-rainstorm"].levels[-1].criteria[0]
    assert red.threshold_value == 100.0 and red.window.total_seconds() == 3 * 3600
    with pytest.raises(Exception, match="frozen"):
        shenzhen.region.name = "elsewhere"  # type: ignore[misc]


def _broken(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    document = yaml.safe_load((REPO / "configs/shenzhen.yaml").read_text(encoding="utf-8"))
    document["data_root"] = str(REPO.parent / "shared" / "data")
    # The copy lives in tmp_path: make the one path relative to configs/ absolute.
    options = document["sources"]["hko_current_weather"]["options"]
    options["station_metadata"] = str(REPO / "configs" / options["station_metadata"])
    edit(document)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _problems(path: Path, data_root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, data_root=data_root)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_misspelt_key_names_the_key_and_suggests_the_fix(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["region"]["timezon"] = d["region"].pop("timezone")

    message = _problems(_broken(tmp_path, edit), data_root)
    assert "region.timezon: unknown key (did you mean 'timezone'?)" in message
    assert "region.timezone: is required; add it" in message


def test_threshold_without_unit_or_with_wrong_unit(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["signal_schemes"]["cma-rainstorm"]["levels"][0]["criteria"][0]["threshold"] = "50 kg"
        d["signal_schemes"]["cma-rainstorm"]["levels"][1]["criteria"][0]["window"] = 6

    message = _problems(_broken(tmp_path, edit), data_root)
    assert "signal_schemes.cma-rainstorm.levels.0.criteria.0" in message
    assert "'50 kg' has unit 'kg', which cannot be converted to 'mm'" in message
    assert "signal_schemes.cma-rainstorm.levels.1.criteria.0.window" in message
    assert "6 has no unit" in message


def test_missing_file_and_bad_timezone(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["communities"]["dem"]["path"] = "{data_root}/dem/no_such_dem.tif"
        d["region"]["timezone"] = "China/Shenzhen"

    message = _problems(_broken(tmp_path, edit), data_root)
    assert "communities.dem.path" in message and "no_such_dem.tif does not exist" in message
    assert "region.timezone" in message and "not an IANA timezone" in message


def test_wrong_references_are_reported(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["hazards"]["rainstorm"]["scheme"] = "cma"

    message = _problems(_broken(tmp_path, edit), data_root)
    assert "'cma' is not a signal scheme; use one of" in message

    def bad_option(d):  # type: ignore[no-untyped-def]
        d["hazards"]["rainstorm"]["options"]["station_radius"] = "42"

    message = _problems(_broken(tmp_path, bad_option), data_root)
    assert "options.station_radius" in message and "'42' is not '<number> <unit>'" in message

    def unknown_reader(d):  # type: ignore[no-untyped-def]
        d["sources"]["nasa_power_futian"]["reader"] = "nasa-power"

    message = _problems(_broken(tmp_path, unknown_reader), data_root)
    assert "unknown reader 'nasa-power'; available readers:" in message


def test_unknown_crs_of_the_grid(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["region"]["grid"]["crs"] = "EPSG:999999"

    assert "region.grid.crs" in _problems(_broken(tmp_path, edit), data_root)


def test_not_yaml_and_missing_config(tmp_path: Path, data_root: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: [unclosed", encoding="utf-8")
    assert "is not valid YAML" in _problems(bad, data_root)
    assert "does not exist" in _problems(tmp_path / "absent.yaml", data_root)


def test_alerting_section_is_checked_against_hazards_and_levels(
    tmp_path: Path, data_root: Path
) -> None:
    def unknown_hazard(d):  # type: ignore[no-untyped-def]
        d["alerting"]["hazards"] = ["typhoon", "heatwave"]

    message = _problems(_broken(tmp_path, unknown_hazard), data_root)
    assert "alerting: 'heatwave' is not a configured hazard" in message

    def unknown_level(d):  # type: ignore[no-untyped-def]
        d["alerting"]["policy"]["typhoon"]["confirm_levels"] = ["red", "black"]

    message = _problems(_broken(tmp_path, unknown_level), data_root)
    assert "alerting.policy.typhoon.confirm_levels: ['black'] are not levels" in message

    def bad_code(d):  # type: ignore[no-untyped-def]
        d["alerting"]["sender_code"] = "440300"

    assert "alerting.sender_code" in _problems(_broken(tmp_path, bad_code), data_root)


def test_warning_without_an_alerting_section_names_it(tmp_path: Path, data_root: Path) -> None:
    from yujing.warn import warning_cycle

    path = _broken(tmp_path, lambda d: d.pop("alerting"))
    settings = load_settings(path, data_root=data_root)
    with pytest.raises(ConfigError, match="alerting: is not configured"):
        warning_cycle(settings, datetime(2018, 9, 16, 1, tzinfo=UTC))
    deployed = load_settings(REPO / "configs/shenzhen.yaml", data_root=data_root)
    assert deployed.alert_database == f"sqlite:///{deployed.output_directory / 'alerts.db'}"


def test_per_level_warn_probabilities_must_name_the_schemes_levels(
    tmp_path: Path, data_root: Path
) -> None:
    """configs/knmi-demo.yaml's radar nowcast (Hong Kong's amber/red/black scheme) with a
    probability per level: accepted when every level is named, refused naming the key and
    the levels when one is misspelt."""
    document = yaml.safe_load((REPO / "configs/knmi-demo.yaml").read_text(encoding="utf-8"))
    document["data_root"] = str(data_root)
    options = document["hazards"]["rainstorm_nowcast"]["options"]
    path = tmp_path / "knmi-demo.yaml"

    options["warn_probability"] = {"amber": 0.5, "red": 0.3, "black": 0.2}
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert load_settings(path, data_root=data_root).hazards["rainstorm_nowcast"].options[
        "warn_probability"
    ] == {"amber": 0.5, "red": 0.3, "black": 0.2}

    options["warn_probability"] = {"amber": 0.5, "red": 0.3, "blak": 0.2}
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    message = _problems(path, data_root)
    assert "hazards.rainstorm_nowcast.options.warn_probability: names ['blak']" in message
    assert "lacks ['black']" in message


def test_level_instructions_need_their_source(tmp_path: Path, data_root: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["signal_schemes"]["shenzhen-typhoon"].pop("instruction_source")
        d["signal_schemes"]["cma-rainstorm"]["levels"][0]["instruction"] = {"zh": "注意防范暴雨"}

    message = _problems(_broken(tmp_path, edit), data_root)
    assert "signal_schemes.shenzhen-typhoon" in message
    assert "give an instruction but the scheme names no instruction_source" in message
    assert "signal_schemes.cma-rainstorm.levels.0.instruction.en: is required" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "alerting.policy.typhoon.extend_before",
            "5 min",
            "alerting.policy.typhoon.extend_before: 5 min is shorter than the 6 min between "
            "cycles, so a warning can expire before any cycle renews it; set extend_before to "
            "at least 6 min (typhoon runs in the nowcast cycle)",
        ),
        (  # the daily cycle: neither the 12 h validity nor the 6 h renewal window suffice
            "hazards.typhoon.cycle",
            "daily",
            "alerting.policy.typhoon.validity: 12 h is shorter than the 24 h between cycles",
        ),
        (
            "alerting.watchdog.cycle_max_age.nowcast",
            "6 h",
            "alerting.policy.typhoon.extend_before: a warning in force can expire 6 h after the "
            "last cycle, before the watchdog pages at 6 h (cycle_max_age); set extend_before "
            "above 6 h, or cycle_max_age below 6 h",
        ),
    ],
)
def test_a_policy_under_which_a_warning_could_lapse_unseen_is_refused(
    tmp_path: Path, data_root: Path, key: str, value: str, expected: str
) -> None:
    """A warning is renewed only by a cycle within extend_before of its expiry, and when
    cycles stop the watchdog must page before the message in force expires."""

    def edit(d):  # type: ignore[no-untyped-def]
        *parents, leaf = key.split(".")
        for parent in parents:
            d = d[parent]
        d[leaf] = value

    assert expected in _problems(_broken(tmp_path, edit), data_root)

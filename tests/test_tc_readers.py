"""Tropical-cyclone track readers on the real files of ``../shared/data/tc`` (SOURCES.md §1).

Expected values are read off the raw files (file and line cited) or converted by hand with
1 kt = 0.514444 m s-1 and 1 nmi = 1.852 km. Bad-input tests write corrupted copies of the
real files into ``tmp_path``. Fixtures in ``tests/fixtures/tc`` are described in its README.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ingest.contracts import validate_tc_track
from ingest.errors import ContractError, SourceError
from ingest.readers import atcf, jma_besttrack, read_source, tc_bulletin
from ingest.readers.atcf import read_atcf_tracks
from ingest.readers.jma_besttrack import read_jma_best_tracks
from ingest.readers.tc_bulletin import read_cma_bulletins, read_yaml_bulletin
from ingest.tracks import continuous_longitude

FIXTURES = Path(__file__).parent / "fixtures" / "tc"
JMA_2015 = "tc/jma_rsmc_bst_2015_2021jul.txt"
JMA_2021 = "tc/jma_rsmc_bst_2021aug_2025_southchina.txt"
JMA_ZIP = "tc/jma_rsmc_bst_all_1951_2019mar.zip"
JTWC_MANGKHUT = "tc/jtwc_bwp262018_mangkhut.dat"
SUMMARY = "tc/jma_storms_within600km_shenzhen_2000_2025_summary.csv"
ADECK_WP = FIXTURES / "adeck_wp172023_jtwc_geoips.dat"
ADECK_AL = FIXTURES / "adeck_al992023_ofcl_geoips.dat"
CMA_YINXING = FIXTURES / "cma_wtpq20_babj_yinxing_2024110712.txt"
CMA_PABUK = FIXTURES / "cma_wtpq20_babj_pabuk_2024122418_cca.txt"
YAML_YINXING = FIXTURES / "cma_yinxing_2024110712.yaml"
KT = 0.514444  # m s-1 per knot
NMI = 1.852  # km per nautical mile


def utc(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


def distance_km(lat1: object, lon1: object, lat2: object, lon2: object) -> np.ndarray:
    """Great-circle distance on a sphere of radius 6371 km (haversine)."""
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return np.asarray(2 * 6371.0 * np.arcsin(np.sqrt(h)))


@pytest.fixture(scope="module")
def jma_2015(data_root: Path) -> dict[str, xr.Dataset]:
    return read_jma_best_tracks(data_root / JMA_2015)


@pytest.fixture(scope="module")
def jma_2021(data_root: Path) -> dict[str, xr.Dataset]:
    return read_jma_best_tracks(data_root / JMA_2021)


@pytest.fixture(scope="module")
def jma_archive(data_root: Path) -> dict[str, xr.Dataset]:
    return read_jma_best_tracks(data_root / JMA_ZIP)


@pytest.fixture(scope="module")
def jtwc_mangkhut(data_root: Path) -> xr.Dataset:
    return read_atcf_tracks(data_root / JTWC_MANGKHUT)["BEST"]


def test_the_three_readers_are_registered() -> None:
    names = {jma_besttrack.JmaBestTrackReader.name, atcf.AtcfReader.name}
    assert names | {tc_bulletin.TcBulletinReader.name} == {"jma-besttrack", "atcf", "tc-bulletin"}
    assert tc_bulletin.TcBulletinReader.contract == "tropical cyclone track"


# --------------------------------------------------------------------------- JMA


def test_jma_mangkhut_fix_as_published(jma_2015: dict[str, xr.Dataset]) -> None:
    track = jma_2015["1822"]
    assert track.attrs["storm_name"] == "MANGKHUT"
    assert track.attrs["agency"] == "RSMC Tokyo (JMA)" and track.attrs["is_forecast"] == 0
    assert track.sizes["time"] == 46  # header line 3769: "046" data lines
    # line 3780: "18090900 002 5 148 1552  975     065     90060 0060 90180 0180"
    fix = track.sel(time=utc("2018-09-09T00:00"))
    assert (float(fix.lat), float(fix.lon), float(fix.psl_min)) == (14.8, 155.2, 975.0)
    assert float(fix.vmax) == pytest.approx(65 * KT, abs=1e-3)
    assert track["vmax"].attrs["averaging_period"] == "10 min"
    assert int(fix.grade) == 5
    assert track["wind_threshold_kt"].values.tolist() == [30.0, 50.0]
    np.testing.assert_allclose(track["wind_threshold"], [30 * KT, 50 * KT], atol=1e-3)
    radii = fix.sel(wind_threshold=50 * KT, method="nearest")
    assert float(radii.wind_radius_long) == pytest.approx(60 * NMI)
    assert float(radii.wind_radius_short) == pytest.approx(60 * NMI)
    assert int(radii.wind_radius_long_direction) == 9  # symmetric circle
    r30 = fix.sel(wind_threshold=30 * KT, method="nearest")
    assert float(r30.wind_radius_long) == pytest.approx(180 * NMI)
    # line 3770: "18090612 002 2 118 1702 1008     000" -> wind not given, no radii
    first = track.isel(time=0)
    assert np.isnan(float(first.vmax)) and np.isnan(first.wind_radius_long.values).all()
    assert (first.wind_radius_long_direction.values == -1).all()
    assert np.isnan(track["rmw"].values).all()
    validate_tc_track(track)


def test_jma_saola_2023_with_reader_options(data_root: Path) -> None:
    track = read_source("jma-besttrack", data_root / JMA_2021, {"storm": "saola"}, "jma")
    assert track.attrs["storm_id"] == "2309" and track.sizes["time"] == 51  # line 356
    # line 399: "23090112 002 5 220 1144  950     085     90050 0050 90090 0090"
    fix = track.sel(time=utc("2023-09-01T12:00"))
    assert (float(fix.lat), float(fix.lon), float(fix.psl_min)) == (22.0, 114.4, 950.0)
    assert float(fix.vmax) == pytest.approx(85 * KT, abs=1e-3)
    np.testing.assert_allclose(fix.wind_radius_long.values, [90 * NMI, 50 * NMI])
    assert read_source("jma-besttrack", data_root / JMA_2021, {"storm": "2309"}, "j").identical(
        track
    )


def test_jma_zip_archive_and_names_reused(data_root: Path) -> None:
    # SAOLA was used in 2005 (0517), 2012 (1209) and 2017 (1722) in the archive.
    with pytest.raises(SourceError, match=r"3 storms are named 'SAOLA'.*add 'year'"):
        read_source("jma-besttrack", data_root / JMA_ZIP, {"storm": "SAOLA"}, "jma")
    saola = read_source("jma-besttrack", data_root / JMA_ZIP, {"storm": "Saola", "year": 2012}, "j")
    assert saola.attrs["storm_id"] == "1209" and saola.sizes["time"] == 46  # header "046"
    with pytest.raises(SourceError, match="no storm with international number or name"):
        read_source("jma-besttrack", data_root / JMA_ZIP, {"storm": "NOSUCH"}, "jma")


def test_jma_archive_reads_every_storm(jma_archive: dict[str, xr.Dataset]) -> None:
    assert len(jma_archive) == 1784  # headers "66666" in bst_all.txt
    assert list(jma_archive)[:2] == ["5101", "5102"] and list(jma_archive)[-1] == "1902"
    # 1951 lines carry no wind and no radii (72-column records)
    assert np.isnan(jma_archive["5101"]["vmax"].values).all()
    # 7 archive lines give a shortest radius above the longest: the fix is kept, the radii not
    nina = jma_archive["9511"]
    assert nina.attrs["line_problem_count"] == 2
    assert (
        "line 45276: shortest 30-kt radius 120 nmi exceeds the longest 80 nmi"
        in (nina.attrs["line_problems"])
    )
    assert sum(t.attrs["line_problem_count"] for t in jma_archive.values()) == 7


def test_jma_against_the_derived_summary(
    data_root: Path,
    jma_2015: dict[str, xr.Dataset],
    jma_2021: dict[str, xr.Dataset],
    jma_archive: dict[str, xr.Dataset],
) -> None:
    # SOURCES.md 1.5: the summary of the 172 storms near Shenzhen 2000-2025, made from the same
    # raw files; lifetime wind 0 kt means no wind given at any fix.
    by_file = {
        "jma_rsmc_bst_2015_2021jul.txt": jma_2015,
        "jma_rsmc_bst_2021aug_2025_southchina.txt": jma_2021,
        "jma_rsmc_bst_all_1951_2019mar.zip": jma_archive,
    }
    summary = pd.read_csv(data_root / SUMMARY, dtype={"jma_id": str})
    assert len(summary) == 172
    for row in summary.itertuples():
        track = by_file[row.source_file][row.jma_id]
        assert track.attrs["storm_name"] == row.name
        assert track.sizes["time"] == row.n_fixes
        assert track["time"].values[0] == utc(row.first_fix_utc[:-1])
        assert track["time"].values[-1] == utc(row.last_fix_utc[:-1])
        peak = np.nanmax(track["vmax"].values) / KT if track["vmax"].notnull().any() else 0
        assert peak == pytest.approx(row.lifetime_vmax_kt, abs=1e-3), row.jma_id
        assert float(track["psl_min"].min()) == row.lifetime_min_pres_hpa


def test_dateline_crossing_keeps_a_continuous_longitude(
    jma_2015: dict[str, xr.Dataset],
) -> None:
    # Halola 1512 entered the JMA area from the central Pacific: lines 499-500 of the 2015
    # file read "15071218 ... 126 1807" and "15071300 ... 130 1798" (180.7 E, then 179.8 E).
    halola = jma_2015["1512"]
    assert halola["lon"].values[:2].tolist() == [180.7, 179.8]
    # the same positions in the -180..180 convention (-179.3 = 180.7 E) come back continuous
    assert continuous_longitude([-179.3, 179.8, 178.8]).tolist() == [180.7, 179.8, 178.8]
    assert continuous_longitude([175.0, -175.0]).tolist() == [175.0, 185.0]
    assert continuous_longitude([-65.1, -65.8]).tolist() == [-65.1, -65.8]


def test_jma_malformed_line_is_left_out_and_recorded(
    data_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = (data_root / JMA_2021).read_text().splitlines(keepends=True)
    assert lines[398].startswith("23090112 002 5 220 1144")  # line 399 (Saola)
    lines[398] = lines[398][:15] + "2X0" + lines[398][18:]
    corrupted = tmp_path / "bst.txt"
    corrupted.write_text("".join(lines))
    with caplog.at_level(logging.WARNING, logger="ingest.tracks"):
        tracks = read_jma_best_tracks(corrupted, "jma")
    assert len(tracks) == 32  # every storm is still read
    saola = tracks["2309"]
    assert saola.sizes["time"] == 50 and utc("2023-09-01T12:00") not in saola["time"].values
    assert (
        saola.attrs["line_problems"] == "line 399: latitude '2X0' (columns 16-18) is not a number"
    )
    assert "line 399" in caplog.text
    assert tracks["2311"].attrs["line_problem_count"] == 0


def test_jma_header_count_mismatch_and_wrong_format(data_root: Path, tmp_path: Path) -> None:
    text = (data_root / JMA_2021).read_text()
    header = "66666 2309  051 0011 2309 0 6                SAOLA"
    wrong_count = tmp_path / "count.txt"
    wrong_count.write_text(text.replace(header, header.replace(" 051 ", " 052 ")))
    with pytest.raises(SourceError, match=r"line 356: .* announces 52 data lines, but line 408"):
        read_jma_best_tracks(wrong_count, "jma")
    truncated = tmp_path / "truncated.txt"
    truncated.write_text("".join(text.splitlines(keepends=True)[:380]))
    with pytest.raises(SourceError, match=r"announces 51 data lines.*truncated"):
        read_jma_best_tracks(truncated, "jma")
    with pytest.raises(SourceError, match=r"line 1 should be a storm header starting with '66666'"):
        read_jma_best_tracks(data_root / JTWC_MANGKHUT, "jma")
    with pytest.raises(SourceError, match="file not found"):
        read_jma_best_tracks(tmp_path / "missing.txt", "jma")


# --------------------------------------------------------------------------- ATCF


def test_jtwc_mangkhut_best_track(jtwc_mangkhut: xr.Dataset) -> None:
    track = jtwc_mangkhut
    assert track.attrs["agency"] == "JTWC" and track.attrs["storm_id"] == "WP262018"
    assert track.attrs["storm_name"] == "MANGKHUT" and track.attrs["is_forecast"] == 0
    assert track["vmax"].attrs["averaging_period"] == "1 min"
    assert track.sizes["time"] == 44  # 109 lines, one to three per time
    # lines 90-92: 2018091512, 192N, 1182E, 95 kt, 952 hPa, RMW 20 nmi, 34/50/64-kt NEQ radii
    fix = track.sel(time=utc("2018-09-15T12:00"))
    assert (float(fix.lat), float(fix.lon), float(fix.psl_min)) == (19.2, 118.2, 952.0)
    assert float(fix.vmax) == pytest.approx(95 * KT, abs=1e-3)
    assert float(fix.rmw) == pytest.approx(20 * NMI)
    assert float(fix.poci) == 999.0 and float(fix.roci) == pytest.approx(225 * NMI)
    np.testing.assert_allclose(
        fix.wind_radius_quadrant.values,
        np.array([[260, 200, 200, 260], [152, 114, 114, 152], [83, 62, 62, 83]]) * NMI,
    )
    assert track["quadrant"].values.tolist() == ["NE", "SE", "SW", "NW"]
    assert track["rmw"].notnull().all()
    # line 1: RAD 0 -> no radii at all that time
    assert np.isnan(track["wind_radius_quadrant"].isel(time=0).values).all()


def test_jma_and_jtwc_agree_on_mangkhut(
    jma_2015: dict[str, xr.Dataset], jtwc_mangkhut: xr.Dataset
) -> None:
    jma = jma_2015["1822"]
    common = np.intersect1d(jma["time"].values, jtwc_mangkhut["time"].values)
    assert len(common) == 44
    a, b = jma.sel(time=common), jtwc_mangkhut.sel(time=common)
    gaps = distance_km(a.lat, a.lon, b.lat, b.lon)
    # two agencies' best tracks of one storm: a few tens of km apart, never 100 km
    assert gaps.max() < 100 and np.median(gaps) < 25
    assert (jma["vmax"].attrs["averaging_period"], b["vmax"].attrs["averaging_period"]) == (
        "10 min",
        "1 min",
    )
    # peaks as published: JMA 110 kt (10-min), JTWC 155 kt (1-min); never converted
    assert float(jma["vmax"].max()) == pytest.approx(110 * KT, abs=1e-3)
    assert float(jtwc_mangkhut["vmax"].max()) == pytest.approx(155 * KT, abs=1e-3)


def test_atcf_a_deck_forecast() -> None:
    tracks = read_atcf_tracks(ADECK_WP)
    assert list(tracks) == ["JTWC 2023111306"]
    forecast = read_source("atcf", ADECK_WP, {"technique": "JTWC"}, "jtwc")
    assert forecast.attrs["is_forecast"] == 1 and forecast.attrs["technique"] == "JTWC"
    assert forecast["reference_time"].values == utc("2023-11-13T06:00")
    hours = forecast["lead_time"].values / np.timedelta64(1, "h")
    assert hours.tolist() == [0, 12, 24, 36, 48, 72, 96, 120]
    assert forecast["time"].values[-1] == utc("2023-11-18T06:00")
    # TAU 72: 89N 1326E 35 kt, 34-kt radii 60/30/50/70 nmi; TAU 0: 34 kt radii all 0
    tau72 = forecast.sel(time=utc("2023-11-16T06:00"))
    assert (float(tau72.lat), float(tau72.lon)) == (8.9, 132.6)
    assert float(tau72.vmax) == pytest.approx(35 * KT, abs=1e-3)
    np.testing.assert_allclose(
        tau72.wind_radius_quadrant.values[0], np.array([60, 30, 50, 70]) * NMI
    )
    assert (forecast.wind_radius_quadrant.isel(time=0).values[0] == 0).all()
    assert np.isnan(forecast["psl_min"].values).all()  # MSLP 0 = not given
    chosen = read_source(
        "atcf", ADECK_WP, {"technique": "JTWC", "reference_time": "2023-11-13T14:00+08:00"}, "j"
    )
    assert chosen.identical(forecast)
    with pytest.raises(SourceError, match=r"no track of technique 'OFCL'.*JTWC 2023111306"):
        read_source("atcf", ADECK_WP, {"technique": "OFCL"}, "jtwc")


def test_atcf_western_hemisphere_and_agency() -> None:
    ofcl = read_atcf_tracks(ADECK_AL)["OFCL 2023082312"]
    assert ofcl.attrs["agency"] == "NHC" and ofcl.attrs["storm_id"] == "AL992023"
    assert ofcl["lon"].values.tolist() == [-65.1, -65.8, -67.8, -69.2, -71.4]  # 651W ... 714W
    assert (ofcl["lead_time"].values / np.timedelta64(1, "h")).tolist() == [0, 3, 12, 24, 36]
    assert float(ofcl["psl_min"].values[1]) == 1009.0


def test_atcf_malformed_lines(data_root: Path, tmp_path: Path) -> None:
    lines = (data_root / JTWC_MANGKHUT).read_text().splitlines(keepends=True)
    lines[89] = lines[89].replace(" 192N,", " 19XN,")  # line 90: 34-kt line of 2018091512
    lines[91] = lines[91].replace("  95,  952,", "  90,  952,")  # line 92 contradicts line 91
    corrupted = tmp_path / "bwp262018.dat"
    corrupted.write_text("".join(lines))
    track = read_atcf_tracks(corrupted, "jtwc")["BEST"]
    assert track.sizes["time"] == 44  # line 91 still gives the time
    problems = track.attrs["line_problems"].splitlines()
    assert problems[0] == "line 90: LatN/S '19XN' is not tenths of a degree 0-900 with N or S"
    assert problems[1].startswith("line 92: VMAX 90.0 differs from 95.0 of line 91")
    fix = track.sel(time=utc("2018-09-15T12:00"))
    assert float(fix.vmax) == pytest.approx(95 * KT, abs=1e-3)
    radii = fix.wind_radius_quadrant.values
    assert np.isnan(radii[0]).all() and np.isnan(radii[2]).all()  # 34, 64 kt lines left out
    np.testing.assert_allclose(radii[1], np.array([152, 114, 114, 152]) * NMI)
    with pytest.raises(SourceError, match="holds no readable ATCF record; line 1: has 1"):
        read_atcf_tracks(data_root / JMA_2021, "jtwc")


# --------------------------------------------------------------------------- bulletins


def test_cma_bulletin_yinxing(jma_2021: dict[str, xr.Dataset]) -> None:
    forecast = read_source("tc-bulletin", CMA_YINXING, {"issue_month": "2024-11"}, "cma")
    assert forecast.attrs["is_forecast"] == 1 and forecast.attrs["storm_id"] == "2422"
    assert forecast.attrs["category"] == "SuperTY" and forecast.attrs["storm_name"] == "YINXING"
    assert forecast["vmax"].attrs["averaging_period"] == "2 min"
    assert forecast["reference_time"].values == utc("2024-11-07T12:00")
    hours = forecast["lead_time"].values / np.timedelta64(1, "h")
    assert hours.tolist() == [0, 12, 24, 36, 48, 60, 72, 96, 120]
    # "00HR 18.6N 121.6E 925HPA 58M/S"; "P+120HR 14.7N 109.6E 1005HPA 12M/S"
    first, last = forecast.isel(time=0), forecast.isel(time=-1)
    assert (float(first.lat), float(first.lon), float(first.psl_min), float(first.vmax)) == (
        18.6,
        121.6,
        925.0,
        58.0,
    )
    assert (float(last.lat), float(last.lon), float(last.psl_min), float(last.vmax)) == (
        14.7,
        109.6,
        1005.0,
        12.0,
    )
    np.testing.assert_array_equal(
        first.wind_radius_quadrant.values,
        [[240, 200, 160, 300], [120, 100, 100, 140], [80, 50, 50, 80]],
    )
    assert np.isnan(forecast.wind_radius_quadrant.isel(time=slice(1, None)).values).all()
    # JMA's best-track fix at the same time (2021aug file line 640): 18.7N 121.5E
    jma = jma_2021["2422"].sel(time=utc("2024-11-07T12:00"))
    assert distance_km(jma.lat, jma.lon, first.lat, first.lon) < 30


def test_yaml_bulletin_equals_the_cma_text() -> None:
    text = read_source("tc-bulletin", CMA_YINXING, {"issue_month": "2024-11"}, "cma")
    document = read_source("tc-bulletin", YAML_YINXING, {}, "yaml")
    xr.testing.assert_identical(text.drop_attrs(), document.drop_attrs())
    assert document.attrs["reference_time"] == "2024-11-07T12:00Z"


def test_cma_correction_and_month_rollover(tmp_path: Path) -> None:
    pabuk = read_cma_bulletins(CMA_PABUK.read_text(), "pabuk", "cma", "2024-12")
    track = pabuk["2426 2024122418"]
    assert track.attrs["bulletin_heading"] == "WTPQ20 BABJ 241800 CCA"
    assert (track["lead_time"].values / np.timedelta64(1, "h")).tolist() == [0, 6, 12, 18, 24, 36]
    # An issue on the 1st of a month analysing the 31st belongs to the month before.
    rolled = (
        CMA_PABUK.read_text().replace("241800 CCA", "010000").replace("TIME 241800", "TIME 311800")
    )
    early = read_cma_bulletins(rolled, "rolled", "cma", "2025-01")
    assert list(early) == ["2426 2024123118"]


def test_cma_bad_lines_and_bad_files(tmp_path: Path) -> None:
    lines = CMA_YINXING.read_text().splitlines()
    lines.insert(18, "P+24HR 18.4N 117.8E 945HPA")  # a truncated line, as line 19
    lines[20] = lines[20].replace("P+36HR", "P+30HR")  # fine: a lead time CMA could give
    broken = tmp_path / "wtpq.txt"
    broken.write_text("\n".join(lines))
    track = read_source("tc-bulletin", broken, {"issue_month": "2024-11"}, "cma")
    assert track.attrs["line_problems"].startswith("line 19: 'P+24HR 18.4N 117.8E 945HPA' is not")
    assert track.sizes["time"] == 9
    with pytest.raises(SourceError, match="set the reader option issue_month"):
        read_source("tc-bulletin", CMA_YINXING, {}, "cma")
    headless = tmp_path / "headless.txt"
    headless.write_text("\n".join(CMA_YINXING.read_text().splitlines()[2:]))
    with pytest.raises(SourceError, match=r"line 1 reads 'SuperTY YINXING 2422.*before any"):
        read_source("tc-bulletin", headless, {"issue_month": "2024-11", "format": "cma-text"}, "c")
    no_unit = YAML_YINXING.read_text().replace("vmax: 58 m/s", "vmax: '58'")
    with pytest.raises(SourceError, match="'58' is not '<number> <unit>'"):
        read_yaml_bulletin(no_unit, "bulletin.yaml", "yaml")
    no_period = YAML_YINXING.read_text().replace("averaging_period: 2 min\n", "")
    with pytest.raises(SourceError, match="averaging_period: Field required"):
        read_yaml_bulletin(no_period, "bulletin.yaml", "yaml")


def test_contract_checks_the_wind_radii(jtwc_mangkhut: xr.Dataset) -> None:
    radii = jtwc_mangkhut["wind_radius_quadrant"]
    with pytest.raises(ContractError, match="'wind_radius_quadrant' has negative radii"):
        validate_tc_track(jtwc_mangkhut.assign(wind_radius_quadrant=-radii))
    in_miles = radii.assign_attrs(units="nmi")
    with pytest.raises(ContractError, match="'wind_radius_quadrant' has units 'nmi'"):
        validate_tc_track(jtwc_mangkhut.assign(wind_radius_quadrant=in_miles))
    no_period = jtwc_mangkhut.copy()
    no_period["wind_threshold"].attrs.pop("averaging_period")
    with pytest.raises(ContractError, match="'wind_threshold' has no 'averaging_period'"):
        validate_tc_track(no_period)

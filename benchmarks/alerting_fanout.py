"""Fan-out of one warning cycle to 10,000 subscribers over loopback webhooks and MQTT.

Setup (not timed): 10,000 subscribers, each a point asset inside Futian, Luohu or Yantian
(deterministic positions, seed 2018) with a typhoon gust rule (17.2 m s-1 within 12 h at
30 %) and one channel — even-numbered subscribers a webhook, odd ones an MQTT topic —
registered in a fresh SQLite alert database. The receivers run in their own processes: the
reference :class:`~alerting.delivery.WebhookReceiver` (signature checked on every request)
and an MQTT v5 subscriber on Mosquitto at 127.0.0.1:1883.

Timed: the first Mangkhut 2018 cycle (yellow warnings for the three districts, from the
alerting fixture of the real ``typhoon-ensemble`` result), in three stages —

1. ``record``: decisions, CAP messages, matching the 10,000 assets, impact forecasts and
   one outbox row per delivery, in one transaction;
2. ``dispatch``: ``FANOUT_DISPATCHERS`` (default 2) dispatcher processes on the same outbox,
   each with batches of ``FANOUT_BATCH`` (1,000), ``FANOUT_WEBHOOK_WORKERS`` (8) webhook
   threads and its own MQTT connection, until nothing is due (the helper processes are
   started and connected before the cycle, and wait for a "go");
3. ``end to end``: from the cycle's start until both receivers hold every delivery.

Run: ``python benchmarks/alerting_fanout.py [--write docs/alerting_fanout.md]``.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from _report import REPO, report_main

SUBSCRIBERS = int(os.environ.get("FANOUT_SUBSCRIBERS", "10000"))
KEY = bytes.fromhex("5a" * 32)
WORKERS = int(os.environ.get("FANOUT_WEBHOOK_WORKERS", "8"))
BATCH = int(os.environ.get("FANOUT_BATCH", "1000"))
DISPATCHERS = int(os.environ.get("FANOUT_DISPATCHERS", "2"))

RECEIVER = """
import sys, time
from alerting.delivery import WebhookReceiver
with WebhookReceiver(bytes.fromhex(sys.argv[1])) as receiver:
    print(receiver.port, flush=True)
    expected = int(sys.stdin.readline())
    receiver.wait_for(expected, timeout=600)
    print(len(receiver.deliveries), sum(receiver.duplicates.values()), len(receiver.rejected),
          f"{time.time():.6f}", f"{time.process_time():.2f}", flush=True)
"""

LISTENER = """
import sys, time, threading
import paho.mqtt.client as mqtt
prefix, got, done = sys.argv[1], set(), threading.Event()
expected = [None]
def on_message(client, userdata, message):
    props = dict(getattr(message.properties, "UserProperty", []))
    got.add(props.get("idempotency-key"))
    if expected[0] is not None and len(got) >= expected[0]:
        done.set()
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
client.on_message = on_message
client.connect("127.0.0.1", 1883)
client.subscribe(prefix + "/#", qos=1)
client.loop_start()
time.sleep(0.5)
print("ready", flush=True)
expected[0] = int(sys.stdin.readline())
if len(got) >= expected[0]:
    done.set()
done.wait(600)
print(len(got), f"{time.time():.6f}", f"{time.process_time():.2f}", flush=True)
client.loop_stop()
"""


DISPATCHER = """
import sys, time
from datetime import datetime
from alerting.delivery import MqttSender, WebhookSender
from alerting.outbox import AlertStore, Dispatcher
url, key, owner, prefix, workers, batch, now = sys.argv[1:8]
at = datetime.fromisoformat(now)
alerts = AlertStore(url, clock=lambda: at)
senders = {
    "webhook": WebhookSender(bytes.fromhex(key), workers=int(workers)),
    "mqtt": MqttSender(client_id=f"{prefix}-{owner}"),
}
dispatcher = Dispatcher(alerts, senders, owner=owner, batch_size=int(batch))
print("ready", flush=True)
sys.stdin.readline()
cpu = time.process_time()
report = dispatcher.run_until_idle()
dispatcher.close()
alerts.close()
print(report.claimed, report.sent, f"{time.process_time() - cpu:.2f}", flush=True)
"""


def _pending_by_channel(url: str) -> dict[str, int]:
    """How many deliveries the cycle queued per channel (one query, no rows read)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        counted = dict(
            connection.execute(
                text("SELECT channel, count(*) FROM deliveries GROUP BY channel")
            ).all()
        )
    engine.dispose()
    return {kind: int(counted.get(kind, 0)) for kind in ("webhook", "mqtt")}


def _load_fixture() -> tuple[dict[datetime, object], object]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import MANGKHUT, _decode  # the same decoding the tests use

    with gzip.open(MANGKHUT, "rt", encoding="utf-8") as handle:
        payload = json.load(handle)
    import xarray as xr

    results = {datetime.fromisoformat(k): _decode(v) for k, v in payload["results"].items()}
    return results, xr.Dataset.from_dict(payload["communities"])


def report(data_root: Path) -> str:
    del data_root  # the fixture was cut from the shared data
    from alerting.cycle import AlertingSetup, alerting_cycle
    from alerting.delivery import MqttSender, WebhookSender
    from alerting.lifecycle import LifecyclePolicy
    from alerting.messages import MessageContext
    from alerting.outbox import AlertStore, Dispatcher
    from alerting.subscriptions import SubscriptionStore
    from alerting.subscriptions.request import parse_request

    results, communities = _load_fixture()
    issue = min(results)
    context = MessageContext(
        "yujing@440300.example",
        "44030041600000",
        "yujing 深圳",
        "深圳市",
        "Asia/Shanghai",
        communities,
    )  # type: ignore[arg-type]
    policy = LifecyclePolicy(look_ahead=timedelta(0), validity=timedelta(hours=12))
    setup = AlertingSetup(
        context, policy, "district", {"white": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}
    )
    cells = shapely.from_wkt(communities["geometry_wkt"].values)  # type: ignore[index]
    rng = np.random.default_rng(2018)
    prefix = f"yujing-bench/{os.getpid()}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, KEY.hex()],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    listener = subprocess.Popen(
        [sys.executable, "-c", LISTENER, prefix],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout and listener.stdout and receiver.stdin and listener.stdin
    port = int(receiver.stdout.readline())
    assert listener.stdout.readline().strip() == "ready"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/alerts.db"
        subscriptions = SubscriptionStore(url)
        subscriptions.upgrade()
        started = time.perf_counter()
        for index in range(SUBSCRIBERS):
            cell = cells[rng.integers(len(cells))]
            x0, y0, x1, y1 = cell.bounds
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            name = f"s{index:05d}"
            channel = (
                {
                    "kind": "webhook",
                    "url": f"http://127.0.0.1:{port}/hooks/{name}",
                    "languages": ["zh-CN"],
                }
                if index % 2 == 0
                else {"kind": "mqtt", "topic_prefix": f"{prefix}/{name}", "languages": ["zh-CN"]}
            )
            subscriptions.register(
                parse_request(
                    {
                        "subscriber": {
                            "id": name,
                            "name": name,
                            "organisation": "bench",
                            "sector": "other",
                        },
                        "assets": [
                            {
                                "id": "site",
                                "name": "site",
                                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                            }
                        ],
                        "rules": [
                            {
                                "hazard": "typhoon",
                                "variable": "wsgsmax",
                                "comparison": ">=",
                                "threshold": "17.2 m s-1",
                                "within": "12 h",
                                "min_probability": 0.3,
                            }
                        ],
                        "channels": [channel],
                    }
                )
            )
        registered = time.perf_counter() - started
        # The other dispatcher processes start now (imports, connections) and wait for "go".
        helpers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    DISPATCHER,
                    url,
                    KEY.hex(),
                    f"bench-{n}",
                    prefix,
                    str(WORKERS),
                    str(BATCH),
                    (issue + timedelta(minutes=1)).isoformat(),
                ],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(1, DISPATCHERS)
        ]
        for helper in helpers:
            assert helper.stdout and helper.stdout.readline().strip() == "ready"
        alerts = AlertStore(url, clock=lambda: issue + timedelta(minutes=1))
        senders = {
            "webhook": WebhookSender(KEY, workers=WORKERS),
            "mqtt": MqttSender(client_id=f"{prefix}-0"),
        }
        dispatcher = Dispatcher(alerts, senders, owner="bench-0", batch_size=BATCH)
        t0 = time.perf_counter()
        wall0 = time.time()
        receipt = alerting_cycle(results[issue], issue, setup, alerts, subscriptions)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        by_channel = _pending_by_channel(url)
        receiver.stdin.write(f"{by_channel['webhook']}\n")
        receiver.stdin.flush()
        listener.stdin.write(f"{by_channel['mqtt']}\n")
        listener.stdin.flush()
        t2 = time.perf_counter()
        for helper in helpers:
            assert helper.stdin
            helper.stdin.write("go\n")
            helper.stdin.flush()
        cpu = time.process_time()
        dispatched = dispatcher.run_until_idle()
        claimed, sent = dispatched.claimed, dispatched.sent
        dispatcher_cpu = [time.process_time() - cpu]
        for helper in helpers:
            assert helper.stdout
            numbers = helper.stdout.readline().split()
            claimed, sent = claimed + int(numbers[0]), sent + int(numbers[1])
            dispatcher_cpu.append(float(numbers[2]))
            helper.wait(30)
        t3 = time.perf_counter()
        dispatcher.close()
        webhook_line = receiver.stdout.readline().split()
        mqtt_line = listener.stdout.readline().split()
        receiver.wait(30)
        listener.wait(30)
        end = max(float(webhook_line[3]), float(mqtt_line[1])) - wall0
        counts = alerts.delivery_counts()
        alerts.close()
        subscriptions.close()
    total = by_channel["webhook"] + by_channel["mqtt"]
    return "\n".join(
        [
            "# Alerting fan-out: one warning cycle to 10,000 subscribers",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} on this machine ({os.cpu_count()} cores, "
            f"Python {platform.python_version()}), SQLite alert database, Mosquitto and the "
            "webhook receiver on loopback in their own processes. Produced by "
            "`benchmarks/alerting_fanout.py`.",
            "",
            f"- subscribers: {SUBSCRIBERS:,} ({SUBSCRIBERS // 2:,} webhook, "
            f"{SUBSCRIBERS // 2:,} MQTT), registered in {registered:.1f} s (not timed below)",
            f"- the cycle: {receipt.proposals} proposals, {receipt.messages} CAP messages, "
            f"{total:,} deliveries ({by_channel['webhook']:,} webhook, {by_channel['mqtt']:,} "
            f"MQTT; warnings and impact forecasts)",
            "",
            "| stage | seconds | deliveries per second |",
            "|---|---:|---:|",
            f"| record (decide, CAP, match assets, impacts, outbox; one transaction) | "
            f"{t1 - t0:.2f} | {total / (t1 - t0):,.0f} |",
            f"| dispatch until idle ({DISPATCHERS} dispatcher processes; {claimed:,} claimed, "
            f"{sent:,} sent) | {t3 - t2:.2f} | {sent / (t3 - t2):,.0f} |",
            f"| end to end (cycle start → both receivers hold everything) | {end:.2f} | "
            f"{total / end:,.0f} |",
            "",
            f"Receivers: webhook {webhook_line[0]} unique deliveries ({webhook_line[1]} repeats, "
            f"{webhook_line[2]} rejected); MQTT {mqtt_line[0]} unique deliveries. Outbox after: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            + ".",
            "",
            "CPU seconds while dispatching (2 cores = 2 CPU seconds per second): dispatchers "
            + " + ".join(f"{c:.1f}" for c in dispatcher_cpu)
            + f"; webhook receiver {float(webhook_line[4]):.1f} (all its life); MQTT listener "
            f"{float(mqtt_line[2]):.1f} (all its life); Mosquitto not measured.",
            "",
            "Target (issue 6): ≤ 10 s end to end for 10,000 subscribers on this 2-core machine.",
        ]
    )


if __name__ == "__main__":
    report_main(__doc__, report)

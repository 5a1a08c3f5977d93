"""Stream benchmark: the store aggregator against faust's and Kafka's own limits, and freshness.

Phase ``throughput`` (repeated ``--rounds`` times), for each ``--shapes``: ``--events``
events of a store-realistic mix of ``--stores`` stores (presses, kiosk-camera and
floor-camera faces, heartbeats: ``workload``) are written to the real broker first,
either as the product writes them (``mix``: a request's or a camera upload's or a
vision batch's events of one store in one record) or one event per record
(``single``). Then one ``kioskpulse worker`` process consumes them (its events/s,
from its own counters) and, in the same round, two peers read exactly the same
records without doing anything with them: a bare aiokafka consumer (the physical
limit) and a no-op faust agent with the same batching and faust settings (faust's own
ceiling, ``bench/faust_noop.py``). Reported: medians and ratios.

Phase ``freshness`` (run first): the API, a worker and the exporter run as separate
processes; the mix of ``--stores`` stores is written at its busy-hour rate while
ratings are posted through the API at ``--rate`` (open loop) and the exporter's
/metrics is polled: freshness of a press = first time the exporter's counts include
it - the time its 202 came back. Reported: p50 / p99.

The worker and the no-op agent take faust's settings from ``KIOSKPULSE_*`` in the
environment (``stream_processors/faust_tuning.py``). A broker of its own gives
reproducible figures (every run adds its records to the topics):

    KAFKA_PORT=29092 KAFKA_STATE_DIR=/tmp/kp-bench deploy/kafka/kafka.sh start
    .venv/bin/python bench/stream.py --bootstrap 127.0.0.1:29092
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from benchlib import (
    REPO,
    code_version,
    die_with_parent,
    machine_facts,
    process_cpu_seconds,
    run_bench,
    say,
    write_results,
)
from ingest import (
    ApiProcess,
    HttpConnection,
    SetupError,
    check_broker,
    free_port,
    http_get,
    percentiles_ms,
    post_request,
    rating_json,
    utc_now_text,
)

from kioskpulse.bus.kafka import create_topics
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import count_events, store_records
from kioskpulse.events import (
    EXPRESSIONS,
    BBox,
    FaceObservation,
    Heartbeat,
    RatingEvent,
    StoreAggregate,
)
from kioskpulse.settings import Settings
from kioskpulse.topics import (
    AGGREGATES,
    FACES,
    FOLLOWUPS,
    FRAMES,
    HEARTBEATS,
    RATINGS,
    topic_specs,
)
from stream_processors.faust_tuning import faust_tuning

INPUTS = (RATINGS, HEARTBEATS, FACES)
BENCH = Path(__file__).resolve().parent
Message = tuple[str, str, bytes]
STAGE_EVENTS = re.compile(rb"^kioskpulse_aggregator_events_total\{[^}]*\} ([0-9.e+]+)$", re.M)


# ============================================================================ the workload


#: The store-realistic mix (docs/benchmarks.md, "Stream throughput"): a busy store in an
#: hour, with one kiosk, its kiosk camera and one floor camera at 2 frames/s. The floor
#: camera sees on average FACES_IN_VIEW faces per frame (360 visitors an hour, each in view
#: for 10 s); 10 % of visitors press, and the kiosk camera sees each presser in
#: PRESSER_FRAMES frames; the kiosk sends a heartbeat a minute.
FACES_IN_VIEW = 1.0
FLOOR_FRAMES_PER_HOUR = 7200
PRESSES_PER_HOUR = 36
PRESSER_FRAMES = 3
HEARTBEATS_PER_HOUR = 60
#: Half the stores run the edge camera agent (one upload = 2 s, four frames: its
#: default ``--upload-seconds``), half send frames to the vision stage, which writes a
#: store's faces of one inference batch as one record (about one frame's).
EDGE_UPLOAD_FRAMES = 4
#: Presses a kiosk posts at once after an outage (a backlog): this share of presses,
#: in batches of this many.
BACKLOG_SHARE = 0.05
BACKLOG_PRESSES = 50


def workload(n: int, stores: int, seed: int, *, shape: str = "mix") -> list[Message]:
    """``n`` events of a store-realistic mix, as Kafka records, in time order up to now.

    ``shape``: ``mix``, the records the product writes (one per request and store, one
    per vision batch and store: kioskpulse.event_records); ``single``, the same events
    one per record, as every version before batch records wrote them.
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    rate = mix_rate(stores)
    start = now - dt.timedelta(seconds=n / rate + 2)
    run = uuid.uuid4().hex[:8]
    events: list[tuple[str, list[Any]]] = []  # (topic, the events of one record)
    count = 0

    def add(topic: str, batch: list[Any]) -> None:
        nonlocal count
        events.append((topic, batch))
        count += len(batch)

    activities = [
        ("floor", FLOOR_FRAMES_PER_HOUR),
        ("press", PRESSES_PER_HOUR * (1 - BACKLOG_SHARE)),
        ("backlog", PRESSES_PER_HOUR * BACKLOG_SHARE / BACKLOG_PRESSES),
        ("heartbeat", HEARTBEATS_PER_HOUR),
    ]
    kinds, weights = zip(*activities, strict=True)
    tracks: dict[str, list[str]] = {}
    while count < n:
        number = rng.randrange(stores)
        store = f"bench-{run}-{number}"
        kiosk = f"{store}-kiosk"
        # Time runs on as in a store: n events of the mix span n / mix_rate seconds,
        # which end now (a backlog's presses reach further back).
        at = start + dt.timedelta(seconds=count / rate + rng.uniform(0, 1))
        kind = rng.choices(kinds, weights)[0]
        if kind == "floor":
            frames = EDGE_UPLOAD_FRAMES if number % 2 == 0 else 1
            faces = [
                _face(store, "floor", None, at + dt.timedelta(seconds=0.5 * f), rng, track)
                for f in range(frames)
                for track in _in_view(tracks.setdefault(store, []), rng)
            ]
            if faces:
                add(FACES, faces)
        elif kind == "heartbeat":
            beat = Heartbeat(sent_at=at, buffered=0, kiosk_id=kiosk, store_id=store,
                             received_at=now)  # fmt: skip
            add(HEARTBEATS, [beat])
        else:
            presses = [_press(store, kiosk, at - dt.timedelta(seconds=60 * i), now, rng)
                       for i in range(BACKLOG_PRESSES if kind == "backlog" else 1)]  # fmt: skip
            add(RATINGS, presses)
            track = f"k-{rng.getrandbits(48):x}"
            for press in presses:
                frames = [press.pressed_at + dt.timedelta(seconds=0.5 * f)
                          for f in range(PRESSER_FRAMES)]  # fmt: skip
                add(FACES, [_face(store, "kiosk", kiosk, seen, rng, track) for seen in frames])
    messages: list[Message] = []
    for topic, batch in events:
        batch_records = shape == "mix"
        messages += [(r.topic, r.key or "", r.value)
                     for r in store_records(topic, batch, batch=batch_records)]  # fmt: skip
    return messages


def _in_view(tracks: list[str], rng: random.Random) -> list[str]:
    """The floor camera's tracks in one frame: FACES_IN_VIEW on average, each ~20 frames."""
    tracks[:] = [t for t in tracks if rng.random() > 1 / 20]
    faces = _poisson(rng, FACES_IN_VIEW)
    while len(tracks) < faces:
        tracks.append(f"t-{rng.getrandbits(48):x}")
    return tracks[:faces]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _press(store: str, kiosk: str, at: dt.datetime, now: dt.datetime, rng: random.Random) -> Any:
    return RatingEvent(
        event_id=uuid.UUID(int=rng.getrandbits(128), version=4), rating=rng.randint(1, 4),
        pressed_at=at, kiosk_id=kiosk, store_id=store, received_at=now,
    )  # fmt: skip


def _face(
    store: str,
    role: str,
    kiosk: str | None,
    at: dt.datetime,
    rng: random.Random,
    track: str,
) -> FaceObservation:
    probs = [rng.random() for _ in EXPRESSIONS]
    return FaceObservation(
        track_id=track, captured_at=at, probs=[p / sum(probs) for p in probs],
        bbox=BBox(x=10, y=10, w=120, h=120), camera_id=f"{store}-{role}-cam", store_id=store,
        role=role, kiosk_id=kiosk, source="edge",  # type: ignore[arg-type]
    )  # fmt: skip


async def produce(bootstrap: str, messages: Sequence[Message]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=10, max_batch_size=262_144
    )
    await producer.start()
    try:
        for i in range(0, len(messages), 5000):
            sent = [
                await producer.send(topic, value, key=key.encode())
                for topic, key, value in messages[i : i + 5000]
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            numbers = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            partitions += [TopicPartition(topic, p) for p in sorted(numbers)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def start_after(
    bootstrap: str, inputs: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Where a bench worker's group starts: ``inputs``, and the end of its other inputs.

    The worker runs the vision agent too, and reads follow-ups: on what other runs left
    in those topics it would spend the cores the aggregator is measured on.
    """
    return {**inputs, **await end_offsets(bootstrap, [FRAMES, FOLLOWUPS])}


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # no public way to refresh metadata
    return consumer.partitions_for_topic(topic) or set()


async def commit_offsets(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Start consumer group ``group`` at ``offsets`` (a new worker reads only what follows)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


# ============================================================================ the processes


@dataclass
class Service:
    """A kioskpulse process (worker or exporter) with its log, stopped on any exit."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=REPO,
                start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip

    def check(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise SetupError(f"the {self.name} exited:\n{self.tail()}")

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_service(bootstrap: str, group: str, workdir: Path) -> tuple[Service, int]:
    port = free_port()
    env = {
        **os.environ,
        "KIOSKPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "KIOSKPULSE_FAUST_APP_ID": group,
        "KIOSKPULSE_FAUST_STORE": "memory://",
    }
    command = [
        sys.executable, "-m", "kioskpulse.cli", "worker", "--web-port", str(port),
        "--datadir", str(workdir / group), "--log-level", "info",
    ]  # fmt: skip
    return Service("worker", command, env, workdir / f"{group}.log"), port


async def wait_for(service: Service, ready: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        service.check()
        with contextlib.suppress(OSError, ConnectionError):
            if await ready():
                return
        await asyncio.sleep(0.2)
    raise SetupError(f"the {service.name} was not {what} within {limit:g} s:\n{service.tail()}")


async def stage_events(port: int) -> float:
    """The worker's count of events handled (every outcome)."""
    status, body = await http_get("127.0.0.1", port, "/metrics")
    if status != 200:
        raise ConnectionError(f"/metrics answered {status}")
    return sum(float(value) for value in STAGE_EVENTS.findall(body))


# ============================================================================ throughput


async def bare_consumer_rate(bootstrap: str, start: dict[TopicPartition, int], n: int) -> float:
    """Records/s of a consumer that reads ``n`` records and does nothing else."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        seen, first, last = 0, 0.0, 0.0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            now = time.perf_counter()
            count = sum(len(records) for records in batches.values())
            if count and not first:
                first = now
            seen += count
            last = now
        return n / (last - first)
    finally:
        await consumer.stop()


async def worker_rate(bootstrap: str, group: str, n: int, workdir: Path) -> dict[str, float]:
    worker, port = worker_service(bootstrap, group, workdir)
    worker.start()
    try:
        await wait_for(worker, lambda: _answers(port), 90, "serving /metrics")
        last_zero = time.perf_counter()
        cpu_start = process_cpu_seconds(worker.pid) or 0.0
        while (count := await stage_events(port)) < n:
            worker.check()
            if count == 0:
                last_zero = time.perf_counter()
                cpu_start = process_cpu_seconds(worker.pid) or 0.0
            # Not more often: rendering /metrics costs the worker a few % at 20 polls a second.
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - last_zero
        cpu = (process_cpu_seconds(worker.pid) or 0.0) - cpu_start
        return {"events_per_s": n / seconds, "seconds": seconds, "cpu_s": cpu}
    finally:
        worker.stop()


async def faust_noop_rate(
    bootstrap: str, start: dict[TopicPartition, int], n: int, workdir: Path
) -> float:
    """Events/s of a faust agent that does nothing: the framework's ceiling here."""
    group = f"bench-noop-{uuid.uuid4().hex[:8]}"
    await commit_offsets(bootstrap, group, start)
    result = workdir / f"{group}.json"
    env = {
        **os.environ, "NOOP_GROUP": group, "NOOP_RECORDS": str(n), "NOOP_RESULT": str(result),
        "NOOP_BOOTSTRAP": bootstrap, "NOOP_WEB_PORT": str(free_port()),
        "NOOP_DATADIR": str(workdir / group),
    }  # fmt: skip
    noop = Service("no-op faust agent", [sys.executable, str(BENCH / "faust_noop.py")], env,
                   workdir / f"{group}.log")  # fmt: skip
    noop.start()
    try:
        deadline = time.monotonic() + 300
        while not result.exists():
            if noop.process is not None and noop.process.poll() is not None and not result.exists():
                raise SetupError(f"the no-op faust agent exited:\n{noop.tail()}")
            if time.monotonic() > deadline:
                raise SetupError(f"the no-op faust agent did not finish:\n{noop.tail()}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.1)  # the file is written in one call; let it land
        rate: float = json.loads(result.read_text())["records_per_s"]
        return rate
    finally:
        noop.stop()


async def _answers(port: int) -> bool:
    status, _ = await http_get("127.0.0.1", port, "/metrics")
    return status == 200


async def throughput_round(
    args: argparse.Namespace, round_no: int, workdir: Path
) -> dict[str, Any]:
    """One round: each shape of records read by the worker and by its two peers."""
    return {shape: await shape_round(args, round_no, shape, workdir) for shape in args.shapes}


async def shape_round(
    args: argparse.Namespace, round_no: int, shape: str, workdir: Path
) -> dict[str, Any]:
    group = f"bench-stream-{uuid.uuid4().hex[:8]}"
    before = await end_offsets(args.bootstrap, INPUTS)
    await commit_offsets(args.bootstrap, group, await start_after(args.bootstrap, before))
    messages = workload(args.events, args.stores, seed=round_no, shape=shape)
    per_record = args.events / len(messages)
    say(f"  round {round_no}, {shape}: writing {args.events:,} events in {len(messages):,} "
        f"records ({per_record:.2f} a record) to the broker…")  # fmt: skip
    await produce(args.bootstrap, messages)
    # Alternate who reads first, so neither always gets the warmer page cache.
    result: dict[str, Any] = {"records": len(messages), "events_per_record": per_record}
    order = ["bare", "noop", "worker"]
    for who in order[round_no % 3 :] + order[: round_no % 3]:
        if who == "bare":
            records_per_s = await bare_consumer_rate(args.bootstrap, before, len(messages))
            result["bare_events_per_s"] = records_per_s * per_record
        elif who == "noop":
            records_per_s = await faust_noop_rate(args.bootstrap, before, len(messages), workdir)
            result["faust_noop_events_per_s"] = records_per_s * per_record
        else:
            result.update(await worker_rate(args.bootstrap, group, args.events, workdir))
    result["ratio"] = result["events_per_s"] / result["bare_events_per_s"]
    result["ratio_to_faust_noop"] = result["events_per_s"] / result["faust_noop_events_per_s"]
    say(
        f"  round {round_no}, {shape}: worker {result['events_per_s']:,.0f} events/s "
        f"({result['cpu_s'] / result['seconds']:.0%} of a core); no-op faust agent "
        f"{result['faust_noop_events_per_s']:,.0f}; bare consumer "
        f"{result['bare_events_per_s']:,.0f}; ratios {result['ratio_to_faust_noop']:.2f} "
        f"and {result['ratio']:.3f}"
    )
    return result


# ============================================================================ freshness


def mix_rate(stores: int) -> float:
    """Events/s of ``stores`` stores in a busy hour, as the mix models them."""
    per_hour = (
        FLOOR_FRAMES_PER_HOUR * FACES_IN_VIEW
        + PRESSES_PER_HOUR * (1 + PRESSER_FRAMES)
        + HEARTBEATS_PER_HOUR
    )
    return stores * per_hour / 3600


async def produce_at_rate(bootstrap: str, stores: int, rate: float, seconds: float) -> float:
    """Write the mix's records at ``rate`` events/s for ``seconds``; how far behind it fell."""
    if rate <= 0:
        return 0.0
    messages = workload(int(rate * seconds), stores, seed=99)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        start, sent = time.perf_counter(), 0
        for i in range(0, len(messages), 50):
            chunk = messages[i : i + 50]
            delay = start + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await asyncio.gather(*[await producer.send(t, v, key=k.encode()) for t, k, v in chunk])
            sent += sum(count_events(v) for _, _, v in chunk)
        return max(0.0, time.perf_counter() - start - seconds)
    finally:
        await producer.stop()


@dataclass
class Freshness:
    accepted: list[float] = field(default_factory=list)  # perf_counter of each 202
    seen: list[tuple[float, float]] = field(default_factory=list)  # (time, count visible)
    #: The same from the aggregates topic itself: the worker's part of the way.
    published: list[tuple[float, float]] = field(default_factory=list)
    refused: int = 0


async def post_at_rate(
    port: int, kiosks: list[dict[str, str]], rate: float, seconds: float, result: Freshness
) -> None:
    """Open loop: one rating every 1/rate s, over a pool of keep-alive connections."""
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await HttpConnection.open("127.0.0.1", port))

    async def send(kiosk: dict[str, str]) -> None:
        connection = await pool.get()
        try:
            body = rating_json(utc_now_text()).encode()
            status, _ = await connection.request(post_request("127.0.0.1", port, kiosk, body))
        finally:
            pool.put_nowait(connection)
        if status == 202:
            result.accepted.append(time.perf_counter())
        else:
            result.refused += 1

    tasks = set()
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(kiosks[i % len(kiosks)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()


def visible_count(metrics: bytes, prefix: str) -> float:
    """Presses of our stores the exporter shows: counted plus suppressed."""
    total = 0.0
    for line in metrics.splitlines():
        ours = f'store="{prefix}'.encode() in line
        if ours and line.startswith(
            (b"kioskpulse_ratings_total{", b"kioskpulse_ratings_suppressed_total{")
        ):
            total += float(line.rsplit(b" ", 1)[1])
    return total


async def watch_exporter(port: int, prefix: str, result: Freshness, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, ConnectionError):
            status, body = await http_get("127.0.0.1", port, "/metrics")
            if status == 200:
                result.seen.append((time.perf_counter(), visible_count(body, prefix)))
        await asyncio.sleep(0.05)


async def watch_aggregates(
    bootstrap: str, prefix: str, result: Freshness, stop: asyncio.Event
) -> None:
    """Presses of our stores in the bucket values on the aggregates topic, as they come."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await end_offsets(bootstrap, [AGGREGATES])
        consumer.assign(list(ends))
        for tp, offset in ends.items():
            consumer.seek(tp, offset)
        latest: dict[bytes, float] = {}
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for record in (r for records in batches.values() for r in records):
                if record.key is not None and record.key.startswith(prefix.encode()):
                    value = StoreAggregate.from_bytes(record.value)
                    latest[record.key] = sum(
                        sum(s.presses) + s.suppressed for s in value.ratings.values()
                    )
            if batches:
                result.published.append((now, sum(latest.values())))
    finally:
        await consumer.stop()


def freshness_of(accepted: list[float], seen: list[tuple[float, float]]) -> list[float]:
    """For the i-th accepted press: when ``seen`` first showed at least i presses."""
    delays, j = [], 0
    for i, accepted_at in enumerate(sorted(accepted), start=1):
        while j < len(seen) and seen[j][1] < i:
            j += 1
        if j == len(seen):
            break
        delays.append(max(0.0, seen[j][0] - accepted_at))
    return delays


async def freshness(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    prefix = f"fresh-{uuid.uuid4().hex[:6]}"
    devices = workdir / "devices.yaml"
    kiosks = []
    with edit_registry(devices) as registry:
        for n in range(args.freshness_stores):
            store = f"{prefix}-{n}"
            registry.add_store(store)
            token = registry.add_kiosk(f"{store}-kiosk", store)
            kiosks.append({"id": f"{store}-kiosk", "store": store, "token": token})

    api_port, exporter_port = free_port(), free_port()
    group = f"bench-fresh-{uuid.uuid4().hex[:8]}"
    before = await end_offsets(args.bootstrap, INPUTS)
    await commit_offsets(args.bootstrap, group, await start_after(args.bootstrap, before))
    api = ApiProcess(api_port, devices, args.bootstrap, workdir / "api.log")
    worker, _ = worker_service(args.bootstrap, group, workdir)
    exporter = Service(
        "exporter",
        [sys.executable, "-m", "kioskpulse.cli", "exporter", "--port", str(exporter_port),
         "--devices-file", str(devices), "--log-level", "warning"],
        {**os.environ, "KIOSKPULSE_KAFKA_BOOTSTRAP": args.bootstrap},
        workdir / "exporter.log",
    )  # fmt: skip
    result = Freshness()
    stop = asyncio.Event()
    try:
        api.start()
        worker.start()
        if args.exporter:
            exporter.start()
        await api.wait_ready(60)
        if args.exporter:
            say("  waiting for the exporter to read the aggregates topic…")
            await wait_for(exporter, lambda: _ready(exporter_port), 600, "ready")
        await wait_for(worker, lambda: _worker_ready(worker), 90, "ready")
        load = mix_rate(args.stores) if args.freshness_load else 0.0
        say(f"  posting {args.rate:g} ratings/s for {args.freshness_seconds:g} s, beside the "
            f"mix of {args.stores:,} stores at {load:,.0f} events/s…")  # fmt: skip
        watching = asyncio.gather(
            watch_aggregates(args.bootstrap, prefix, result, stop),
            *([watch_exporter(exporter_port, prefix, result, stop)] if args.exporter else []),
        )
        background = asyncio.create_task(
            produce_at_rate(args.bootstrap, args.stores, load, args.freshness_seconds)
        )
        await post_at_rate(api_port, kiosks, args.rate, args.freshness_seconds, result)
        behind = await background
        deadline = time.monotonic() + 30
        watched = result.seen if args.exporter else result.published
        while time.monotonic() < deadline and (  # noqa: ASYNC110 (polling another process)
            not watched or watched[-1][1] < len(result.accepted)
        ):
            await asyncio.sleep(0.2)
        stop.set()
        await watching
    finally:
        for service in (exporter, worker):
            service.stop()
        api.stop()
    delays = freshness_of(result.accepted, result.seen)
    published = freshness_of(result.accepted, result.published)
    shown = int(result.seen[-1][1]) if result.seen else 0
    summary = {
        "rate": args.rate,
        "background_events_per_s": load,
        "background_behind_s": behind,
        "accepted": len(result.accepted),
        "refused": result.refused,
        "shown_by_exporter": shown,
        "freshness_ms": percentiles_ms(delays),
        # 202 → the bucket value on store.aggregates.v1 (API, Kafka, worker, Kafka).
        "published_ms": percentiles_ms(published),
    }
    p, w = summary["freshness_ms"], summary["published_ms"]
    say(
        f"  freshness over {len(result.accepted):,} presses: on the aggregates topic "
        f"p50 {_ms(w['p50'])} ms, p99 {_ms(w['p99'])} ms; at the exporter p50 "
        f"{_ms(p['p50'])} ms, p99 {_ms(p['p99'])} ms (it shows {shown:,})"
    )
    return summary


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


async def _ready(port: int) -> bool:
    status, _ = await http_get("127.0.0.1", port, "/readyz")
    return status == 200


async def _worker_ready(worker: Service) -> bool:
    return b"Worker]: Ready" in worker.log.read_bytes()


# ============================================================================ main


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One shape's rounds and their medians."""
    return {
        "rounds": rounds,
        "events_per_record": median([r["events_per_record"] for r in rounds]),
        "median_events_per_s": median([r["events_per_s"] for r in rounds]),
        "median_bare_events_per_s": median([r["bare_events_per_s"] for r in rounds]),
        "median_ratio": median([r["ratio"] for r in rounds]),
        "median_faust_noop_events_per_s": median([r["faust_noop_events_per_s"] for r in rounds]),
        "median_ratio_to_faust_noop": median([r["ratio_to_faust_noop"] for r in rounds]),
        "median_cpu_share": median([r["cpu_s"] / r["seconds"] for r in rounds]),
    }


async def orchestrate(args: argparse.Namespace) -> int:
    await check_broker(args.bootstrap)
    settings = Settings(kafka_bootstrap=args.bootstrap)
    await create_topics(settings, topic_specs(settings))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report: dict[str, Any] = {
        "benchmark": "stream",
        "started": stamp,
        "code": code_version(["kioskpulse", "stream_processors", "bench"]),
        "machine": machine_facts(["faust-streaming", "aiokafka", "pydantic", "fastapi"]),
        "settings": {k: v for k, v in vars(args).items() if k != "phases"},
        # What the worker and the no-op agent ran with (KIOSKPULSE_* in the environment).
        "faust": faust_tuning(Settings()),
        "aggregate_batch_size": Settings().aggregate_batch_size,
    }
    with tempfile.TemporaryDirectory(prefix="kioskpulse-bench-stream-") as tmp:
        workdir = Path(tmp)
        # Freshness first: its exporter reads the whole aggregates topic before it is
        # ready, and the throughput rounds add some 100,000 bucket values to it.
        if "freshness" in args.phases:
            say("freshness: API → Kafka → worker → Kafka → exporter")
            report["freshness"] = await freshness(args, workdir)
        if "throughput" in args.phases:
            say(f"throughput: {args.rounds} rounds of {args.events:,} events of {args.stores:,} "
                f"stores, shapes {', '.join(args.shapes)}")  # fmt: skip
            rounds = [await throughput_round(args, n, workdir) for n in range(1, args.rounds + 1)]
            report["throughput"] = {
                shape: summarise([r[shape] for r in rounds]) for shape in args.shapes
            }
    path = write_results("stream", stamp, report)
    say(f"results: {path.relative_to(REPO)}")
    for shape, t in report.get("throughput", {}).items():
        print(
            f"aggregator, {shape} ({t['events_per_record']:.2f} events a record): "
            f"{t['median_events_per_s']:,.0f} events/s per worker (median); no-op faust agent "
            f"{t['median_faust_noop_events_per_s']:,.0f} (ratio "
            f"{t['median_ratio_to_faust_noop']:.2f}); bare aiokafka consumer "
            f"{t['median_bare_events_per_s']:,.0f} (ratio {t['median_ratio']:.3f})  "
            "[targets: ≥ 10,000 events/s on the mix; ≥ 0.8 of the no-op on single]"
        )
    if "freshness" in report:
        w, f = report["freshness"]["published_ms"], report["freshness"]["freshness_ms"]
        print(
            f"freshness at {args.rate:g} presses/s beside the mix's "
            f"{report['freshness']['background_events_per_s']:,.0f} events/s: on the "
            f"aggregates topic p50 {_ms(w['p50'])} ms, p99 {_ms(w['p99'])} ms; at the exporter "
            f"p50 {_ms(f['p50'])} ms, p99 {_ms(f['p99'])} ms  [target p99 ≤ 3,000 ms]"
        )
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KIOSKPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        default=["throughput", "freshness"],
        choices=["throughput", "freshness"],
    )
    parser.add_argument("--events", type=int, default=200_000, help="events per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["mix", "single"],
        choices=["mix", "single"],
        help="records as the product writes them (mix) and one event per record (single)",
    )
    parser.add_argument("--stores", type=int, default=2000, help="stores in the throughput mix")
    parser.add_argument(
        "--freshness-stores",
        type=int,
        default=20,
        help="kiosks (one per store) posting in the freshness phase",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="ratings/s posted through the API in the freshness phase (the presses measured)",
    )
    parser.add_argument("--freshness-seconds", type=float, default=30.0)
    parser.add_argument(
        "--exporter",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the exporter in the freshness phase (--no-exporter: measure to the "
        "aggregates topic only, leaving the exporter's share of the cores to the worker)",
    )
    parser.add_argument(
        "--freshness-load",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="during the freshness phase, write the mix of --stores stores at its busy-hour "
        "rate beside the posted ratings (the realistic load on the worker)",
    )
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_bench("stream.py", orchestrate(args), SetupError)


if __name__ == "__main__":
    sys.exit(main())

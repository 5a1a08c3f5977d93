"""Ingest benchmark: kiosk API (one uvicorn worker) -> Kafka, against the real broker.

Usage (the broker must already run; this script never starts Kafka)::

    deploy/kafka/kafka.sh start
    .venv/bin/python bench/ingest.py                    # full run, about 3 minutes
    .venv/bin/python bench/ingest.py --quick            # smoke run, about 25 s
    .venv/bin/python bench/ingest.py --phases single,fixed --duration 20 --repeats 5

Phases (each: warm-up, then a measured window of ``--duration`` s; ``--repeats`` rounds,
interleaved so that every phase sees the same machine conditions; medians are reported):

  bare    a bare aiokafka producer with the API's own producer settings (acks=all,
          idempotent, same linger and batch size) sending the same serialized RatingEvents
          (500 per batch, key = store id, a few batches in flight): the physical limit.
  batch   POST {"ratings": [500 ratings]}, closed loop, a few keep-alive connections.
  single  POST one rating, closed loop, N keep-alive connections: max requests/s.
  fixed   POST one rating, open loop at a fixed rate (1,000/s): each request has a
          scheduled send time and its latency runs from that time (no coordinated omission).
  bare-batch  the bare producer through aiokafka's
          create_batch()/send_batch(): what the broker itself takes.

The API runs as ``python -m kioskpulse.cli api`` in its own process (rate limiting off,
its own temporary devices file); the load generator and the bare producer run in further
processes (this script re-invoked with the hidden ``_worker`` command), a raw asyncio
HTTP/1.1 keep-alive client on uvloop. Every run checks that each request got a 202 with
the expected body and that the topic grew by at least as many events as were acknowledged.
CPU time of generator, API, broker and the rest of the machine is sampled over each window.

Progress goes to stderr; the results table (markdown) to stdout, and everything as JSON to
``bench/results/ingest-<timestamp>.json``. Exit status: 0 done, 1 correctness problems
(non-202 answers, acknowledged events missing from the topic), 2 setup problems (no broker,
API would not start), 3 targets missed with ``--fail-on-target``, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import logging
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import benchlib
from benchlib import REPO, code_version, die_with_parent, process_cpu_seconds, say

try:
    from kioskpulse.events import MAX_BATCH
    from kioskpulse.topics import RATINGS
except ImportError as _exc:  # pragma: no cover
    sys.exit(f"bench/ingest.py: {_exc}; run it with the project's venv: .venv/bin/python")

SCRIPT = str(Path(__file__).resolve())
RESULTS_DIR = benchlib.RESULTS_DIR
TOPIC = RATINGS

# Both bare producers by default: the API writes big batches with send_batch(), so the
# send_batch() producer is the second, stricter peer of the batch phase.
ALL_PHASES = ("bare", "bare-batch", "batch", "single", "fixed")
DEFAULT_PHASES = ALL_PHASES
BATCH_SIZE = MAX_BATCH  # 500: the largest batch the API takes
QUESTION_ID = "checkout"

# Acceptance of issue 2.
TARGET_SINGLE_RPS = 2500.0
TARGET_FIXED_P99_MS = 50.0
TARGET_BATCH_RATIO = 0.5
#: At the fixed rate, this share of the scheduled requests must have been answered 202.
FIXED_MIN_ANSWERED = 0.99

#: The API's producer settings if they cannot be read from KafkaBus (see bus_producer_config).
FALLBACK_PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 512 * 1024,
}


class SetupError(Exception):
    """The benchmark cannot run (no broker, the API would not start, ...)."""


# =============================================================================== CPU accounting


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of all CPUs together, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except OSError:
        return (0, 0, 0)
    idle, iowait, steal = values[3], values[4], values[7]
    total = sum(values)
    return (total - idle - iowait - steal, total, steal)


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_snapshot(watch: dict[str, int]) -> dict[str, Any]:
    return {
        "wall": time.perf_counter(),
        "self": self_cpu_seconds(),
        "procs": {name: process_cpu_seconds(pid) for name, pid in watch.items()},
        "machine": machine_jiffies(),
    }


def cpu_split(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
    """Cores used over the window by the generator, each watched process and the machine."""
    wall = after["wall"] - before["wall"]
    split: dict[str, float | None] = {"generator_cores": (after["self"] - before["self"]) / wall}
    for name, start in before["procs"].items():
        end = after["procs"].get(name)
        split[f"{name}_cores"] = None if start is None or end is None else (end - start) / wall
    (busy0, total0, steal0), (busy1, total1, steal1) = before["machine"], after["machine"]
    ncpu = os.cpu_count() or 1
    if total1 > total0:
        ours = sum(v for v in split.values() if v is not None)  # generator, API, broker
        busy = (busy1 - busy0) / (total1 - total0) * ncpu
        split["machine_busy_cores"] = busy
        split["steal_cores"] = (steal1 - steal0) / (total1 - total0) * ncpu
        split["other_cores"] = max(0.0, busy - ours)
    return split


def listening_pid(port: int) -> int | None:
    """The local process listening on a TCP port (best effort, via /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{parts[9]}]")
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


# =============================================================================== HTTP client


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; responses need Content-Length.

    A bare protocol rather than streams or aiohttp: a request costs the generator a few
    tens of microseconds of CPU, which the API would otherwise lose on a small machine.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.WriteTransport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection closed: {exc or 'by the server'}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            self._waiter = None
            waiter.set_exception(ConnectionError("response without Content-Length"))
            self.close()
            return
        stop = head.find(b"\r\n", start + 2)
        total = end + 4 + int(head[start + 17 : stop if stop > 0 else None])
        if len(buffer) < total:
            return
        status = int(buffer[9:12])
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        self._waiter = None
        waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.closed or self._transport is None:
            raise ConnectionError("connection closed")
        waiter: asyncio.Future[tuple[int, bytes]] = self._loop.create_future()
        self._waiter = waiter
        self._transport.write(data)
        return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def http_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    """One GET on a fresh connection (readiness checks)."""
    connection = await HttpConnection.open(host, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        return await connection.request(request)
    finally:
        connection.close()


# =============================================================================== request bodies


def utc_now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def rating_json(pressed_at: str) -> str:
    rating = random.randint(1, 4)
    return (
        f'{{"event_id":"{uuid.uuid4()}","rating":{rating},'
        f'"pressed_at":"{pressed_at}","question_id":"{QUESTION_ID}"}}'
    )


def post_request(host: str, port: int, kiosk: dict[str, str], body: bytes) -> bytes:
    return (
        f"POST /v1/kiosks/{kiosk['id']}/ratings HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Bearer {kiosk['token']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def single_request(host: str, port: int, kiosk: dict[str, str]) -> bytes:
    return post_request(host, port, kiosk, rating_json(utc_now_text()).encode())


def batch_request(host: str, port: int, kiosk: dict[str, str], size: int) -> bytes:
    now = utc_now_text()
    items = ",".join(rating_json(now) for _ in range(size))
    return post_request(host, port, kiosk, f'{{"ratings":[{items}]}}'.encode())


# =============================================================================== load worker


def percentiles_ms(latencies: list[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles of latencies in seconds, in milliseconds."""
    if not latencies:
        return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None}
    ordered = sorted(latencies)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    return {
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "p999": rank(0.999),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


class Tally:
    """Answers of one run: all of them, and those inside the measured window."""

    def __init__(self, events_per_request: int) -> None:
        self.events_per_request = events_per_request
        self.expected_body = json.dumps({"accepted": events_per_request}).replace(" ", "").encode()
        self.measuring = False
        self.window: collections.Counter[str] = collections.Counter()
        self.total: collections.Counter[str] = collections.Counter()
        self.latencies: list[float] = []
        self.accepted_events_total = 0
        self.samples: list[str] = []
        self.answered = 0  # for the progress line

    def record(self, status: int, body: bytes, latency: float, *, in_window: bool) -> None:
        self.answered += 1
        if status == 202 and body == self.expected_body:
            key = "202"
            self.accepted_events_total += self.events_per_request
        else:
            key = str(status)
            if status == 202:  # acknowledged, but not what we sent
                key = "202-unexpected-body"
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.accepted_events_total += int(json.loads(body)["accepted"])
            if len(self.samples) < 5:
                self.samples.append(f"{status} {body[:300].decode(errors='replace')}")
        self.total[key] += 1
        if in_window:
            self.window[key] += 1
            if key == "202":
                self.latencies.append(latency)

    def error(self, kind: str, detail: str, *, in_window: bool) -> None:
        self.answered += 1
        self.total[kind] += 1
        if in_window:
            self.window[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {detail}")

    def non_202(self, counter: collections.Counter[str]) -> int:
        return sum(n for key, n in counter.items() if key != "202")


async def progress(label: str, tally: Tally, started: float, warmup: float) -> None:
    """A progress line every two seconds, to stderr."""
    last_time, last_answered = started, 0
    while True:
        await asyncio.sleep(2.0)
        now = time.perf_counter()
        rate = (tally.answered - last_answered) / (now - last_time)
        last_time, last_answered = now, tally.answered
        stage = "warm-up" if now - started < warmup else "measuring"
        bad = tally.non_202(tally.total)
        say(
            f"    {label}: {now - started:5.1f} s  {rate:9,.0f} answers/s  {stage}"
            + (f"  NON-202 SO FAR: {bad}" if bad else "")
        )


async def run_closed(cfg: dict[str, Any]) -> dict[str, Any]:
    """N connections, each sending its next request as soon as the last one was answered."""
    host, port, kiosks = cfg["host"], cfg["port"], cfg["kiosks"]
    size = cfg["events_per_request"]
    tally = Tally(size)
    stopping = asyncio.Event()
    sent = 0

    def make(index: int) -> bytes:
        nonlocal sent
        sent += 1
        if size == 1:
            return single_request(host, port, kiosks[index % len(kiosks)])
        return batch_request(host, port, kiosks[sent % len(kiosks)], size)

    async def connection_loop(index: int) -> None:
        connection: HttpConnection | None = None
        while not stopping.is_set():
            if connection is None or connection.closed:
                try:
                    connection = await HttpConnection.open(host, port)
                except OSError as exc:
                    tally.error("connect-error", str(exc), in_window=tally.measuring)
                    await asyncio.sleep(0.05)
                    continue
            data = make(index)
            started = time.perf_counter()
            try:
                status, body = await connection.request(data)
            except ConnectionError as exc:
                tally.error("connection-error", str(exc), in_window=tally.measuring)
                connection = None
                await asyncio.sleep(0.01)
                continue
            tally.record(status, body, time.perf_counter() - started, in_window=tally.measuring)
        if connection is not None:
            connection.close()

    loops = [connection_loop(i) for i in range(cfg["connections"])]
    before, after, unfinished = await measured_window(cfg, tally, loops, stopping)
    return summarize_run(cfg, tally, before, after, unfinished)


async def run_open(cfg: dict[str, Any]) -> dict[str, Any]:
    """Requests scheduled at a fixed rate, latency measured from the scheduled time."""
    host, port, kiosks, rate = cfg["host"], cfg["port"], cfg["kiosks"], cfg["rate"]
    tally = Tally(1)
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    lags: list[float] = []
    window: tuple[float, float] = (math.inf, math.inf)
    counter = 0

    async def connection_loop() -> None:
        nonlocal counter
        connection: HttpConnection | None = None
        while (due := await queue.get()) is not None:
            in_window = window[0] <= due < window[1]
            counter += 1
            data = single_request(host, port, kiosks[counter % len(kiosks)])
            while True:  # a request is retried on a new connection, its clock still running
                if connection is None or connection.closed:
                    try:
                        connection = await HttpConnection.open(host, port)
                    except OSError as exc:
                        tally.error("connect-error", str(exc), in_window=in_window)
                        await asyncio.sleep(0.05)
                        continue
                try:
                    status, body = await connection.request(data)
                except ConnectionError as exc:
                    tally.error("connection-error", str(exc), in_window=in_window)
                    connection = None
                    await asyncio.sleep(0.01)
                    continue
                tally.record(status, body, time.perf_counter() - due, in_window=in_window)
                break
        if connection is not None:
            connection.close()

    tasks = [asyncio.create_task(connection_loop()) for _ in range(cfg["connections"])]
    started = time.perf_counter() + 0.05
    window = (started + cfg["warmup"], started + cfg["warmup"] + cfg["duration"])
    scheduled = 0
    reporter = asyncio.create_task(progress(cfg["label"], tally, started, cfg["warmup"]))
    before: dict[str, Any] | None = None
    try:
        index = 0
        while True:
            due = started + index / rate
            if due >= window[1]:
                break
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            if before is None and due >= window[0]:
                before = cpu_snapshot(cfg["watch"])
            if window[0] <= due:
                scheduled += 1
                lags.append(now - due)
            queue.put_nowait(due)
            index += 1
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        after = cpu_snapshot(cfg["watch"])
        for _ in tasks:
            queue.put_nowait(None)
        unfinished = await drain(tasks, cfg["drain_timeout"])
    finally:
        reporter.cancel()
        for task in tasks:
            task.cancel()
    assert before is not None
    result = summarize_run(cfg, tally, before, after, unfinished)
    lag = percentiles_ms(lags)
    result["open_loop"] = {
        "rate": rate,
        "scheduled": scheduled,
        "answered_202_share": tally.window["202"] / scheduled if scheduled else 0.0,
        "dispatch_lag_ms_p50": lag["p50"],
        "dispatch_lag_ms_p99": lag["p99"],
        "dispatch_lag_ms_max": lag["max"],
    }
    # Throughput of an open loop is what was scheduled in the window and answered.
    result["requests"] = tally.window["202"]
    result["req_per_s"] = result["requests"] / cfg["duration"]
    result["events_per_s"] = result["req_per_s"]
    return result


async def run_bare(cfg: dict[str, Any]) -> dict[str, Any]:
    """A bare producer: batches of pre-serialized events, one send() per event (the issue's peer).

    With ``send_batch`` (phase bare-batch), a batch goes through aiokafka's
    create_batch()/send_batch() instead: one future per batch rather than per event.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError
    from aiokafka.partitioner import murmur2

    size, kiosks = cfg["events_per_request"], cfg["kiosks"]
    pools = {kiosk["id"]: serialized_events(kiosk, 4 * size) for kiosk in kiosks}
    value_sizes = [len(v) for pool in pools.values() for v in pool]
    tally = Tally(size)
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg["bootstrap"], client_id="kioskpulse-bench-bare", **cfg["producer"]
    )
    await producer.start()
    partitions = sorted(await producer.partitions_for(TOPIC))
    stopping = asyncio.Event()
    sent = 0
    accepted = b'{"accepted":%d}' % size

    async def publish(key: bytes, values: list[bytes]) -> None:
        if not cfg.get("send_batch"):
            # send() only enqueues; the futures resolve on the broker's ack.
            acks = [await producer.send(TOPIC, value=v, key=key, headers=[]) for v in values]
            await asyncio.gather(*acks)
            return
        # The partition aiokafka's default partitioner picks for this key.
        partition = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        batch = producer.create_batch()
        for value in values:
            if batch.append(key=key, value=value, timestamp=None, headers=[]) is None:
                raise RuntimeError("a batch of the bench does not fit in max_batch_size")
        await (await producer.send_batch(batch, TOPIC, partition=partition))

    async def batch_loop() -> None:
        nonlocal sent
        while not stopping.is_set():
            sent += 1
            kiosk = kiosks[sent % len(kiosks)]
            pool, key = pools[kiosk["id"]], kiosk["store"].encode()
            offset = (sent * size) % len(pool)  # the pool holds a whole number of batches
            values = pool[offset : offset + size]
            started = time.perf_counter()
            try:
                await publish(key, values)
            except KafkaError as exc:
                tally.error("kafka-error", repr(exc), in_window=tally.measuring)
                continue
            tally.record(202, accepted, time.perf_counter() - started, in_window=tally.measuring)

    try:
        loops = [batch_loop() for _ in range(cfg["connections"])]
        before, after, unfinished = await measured_window(cfg, tally, loops, stopping)
    finally:
        await producer.stop()
    result = summarize_run(cfg, tally, before, after, unfinished)
    result["value_bytes_mean"] = statistics.fmean(value_sizes)
    return result


def serialized_events(kiosk: dict[str, str], count: int) -> list[bytes]:
    """RatingEvents as the API would publish them for this kiosk (same fields, same sizes)."""
    from kioskpulse.events import RatingEvent

    now = dt.datetime.now(dt.UTC)
    pressed = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return [
        RatingEvent(
            event_id=uuid.uuid4(),
            rating=random.randint(1, 4),
            pressed_at=pressed,
            question_id=QUESTION_ID,
            kiosk_id=kiosk["id"],
            store_id=kiosk["store"],
            scale=4,
            received_at=now,
        ).to_bytes()
        for _ in range(count)
    ]


async def measured_window(
    cfg: dict[str, Any],
    tally: Tally,
    loops: list[Coroutine[Any, Any, None]],
    stopping: asyncio.Event,
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Run the loops through warm-up and the measured window, then stop and drain them.

    Returns the CPU snapshots at the start and end of the window and how many loops
    did not finish within the drain timeout.
    """
    started = time.perf_counter()
    tasks = [asyncio.create_task(loop) for loop in loops]
    reporter = asyncio.create_task(progress(cfg["label"], tally, started, cfg["warmup"]))
    try:
        await asyncio.sleep(cfg["warmup"])
        before = cpu_snapshot(cfg["watch"])
        tally.measuring = True
        await asyncio.sleep(cfg["duration"])
        tally.measuring = False
        after = cpu_snapshot(cfg["watch"])
        stopping.set()
        unfinished = await drain(tasks, cfg["drain_timeout"])
    finally:
        reporter.cancel()
        for task in tasks:
            task.cancel()
    return before, after, unfinished


async def drain(tasks: list[asyncio.Task[None]], limit: float) -> int:
    """Wait for the in-flight requests to finish; returns how many tasks did not."""
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=limit)
    return len(pending)


def summarize_run(
    cfg: dict[str, Any],
    tally: Tally,
    before: dict[str, Any],
    after: dict[str, Any],
    unfinished: int,
) -> dict[str, Any]:
    window = after["wall"] - before["wall"]
    requests = tally.window["202"]
    cpu = cpu_split(before, after)
    generator_cpu = (cpu["generator_cores"] or 0.0) * window
    return {
        "phase": cfg["phase"],
        "label": cfg["label"],
        "connections": cfg["connections"],
        "events_per_request": tally.events_per_request,
        "window_s": window,
        "requests": requests,
        "req_per_s": requests / window,
        "events_per_s": requests * tally.events_per_request / window,
        "latency_ms": percentiles_ms(tally.latencies),
        "statuses_window": dict(tally.window),
        "statuses_total": dict(tally.total),
        "non_202_total": tally.non_202(tally.total),
        "accepted_events_total": tally.accepted_events_total,
        "unfinished_at_end": unfinished,
        "samples": tally.samples,
        "cpu": cpu,
        "generator_cpu_us_per_request": generator_cpu / requests * 1e6 if requests else None,
    }


def worker_main() -> int:
    """The hidden ``_worker`` command: run the phase read from stdin, print one JSON line."""
    cfg = json.loads(sys.stdin.read())
    runner = {"closed": run_closed, "open": run_open, "bare": run_bare}[cfg["mode"]]
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    logging.basicConfig(level=logging.WARNING, format="    worker: %(levelname)s %(message)s")
    with asyncio.Runner(loop_factory=loop_factory) as runner_loop:
        result = runner_loop.run(runner(cfg))
    result["generator_loop"] = "uvloop" if loop_factory else "asyncio"
    print(json.dumps(result), flush=True)
    return 0


# =============================================================================== orchestration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise SetupError(f"--bootstrap {bootstrap!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def broker_hint(bootstrap: str) -> str:
    _, port = parse_bootstrap(bootstrap)
    prefix = "" if port == 9092 else f"KAFKA_PORT={port} "
    return f"start it with {prefix}deploy/kafka/kafka.sh start"


async def check_broker(bootstrap: str) -> None:
    """Fail fast, with the command that fixes it, when no broker answers."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    host, port = parse_bootstrap(bootstrap)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
        writer.close()
    except (OSError, TimeoutError) as exc:
        raise SetupError(
            f"no Kafka broker reachable at {bootstrap} ({exc or 'timeout'}): "
            + broker_hint(bootstrap)
        ) from None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(15):
            await consumer.start()
            await consumer.topics()
    except (KafkaError, OSError, TimeoutError) as exc:
        raise SetupError(
            f"something listens on {bootstrap} but does not answer as a Kafka broker "
            f"({exc!r}): {broker_hint(bootstrap)}"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


class TopicOffsets:
    """End offsets of the ratings topic: how many events the broker really holds."""

    def __init__(self, bootstrap: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, client_id="kioskpulse-bench-verify"
        )
        self._partitions: list[Any] = []
        self._bootstrap = bootstrap

    async def start(self) -> None:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        await self._consumer.start()
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id="kioskpulse-bench-verify"
        )
        await admin.start()
        try:
            described = await admin.describe_topics([TOPIC])
        finally:
            await admin.close()
        numbers = [p["partition"] for t in described for p in t.get("partitions", [])]
        self._partitions = [TopicPartition(TOPIC, n) for n in sorted(numbers)]
        if not self._partitions:
            raise SetupError(f"topic {TOPIC} not found on the broker after the API started")

    @property
    def partition_count(self) -> int:
        return len(self._partitions)

    async def total(self) -> int:
        offsets = await self._consumer.end_offsets(self._partitions)
        return int(sum(offsets.values()))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()


async def bus_producer_config(bootstrap: str) -> tuple[dict[str, Any], str]:
    """The producer settings of KafkaBus itself, so that the bare producer stays comparable.

    KafkaBus builds its AIOKafkaProducer inside ``_try_connect``; a stand-in class records
    the keyword arguments and refuses to start. Falls back to a copy if that ever breaks.
    """
    try:
        from aiokafka.errors import KafkaError

        import kioskpulse.bus.kafka as kafka_bus
        from kioskpulse.settings import Settings

        captured: dict[str, Any] = {}

        class Recorder:
            def __init__(self, **kwargs: Any) -> None:
                captured.update(kwargs)

            async def start(self) -> None:
                raise KafkaError("recording the configuration only")

            async def stop(self) -> None:
                return None

        original = getattr(kafka_bus, "AIOKafkaProducer")  # noqa: B009
        setattr(kafka_bus, "AIOKafkaProducer", Recorder)  # noqa: B010
        quiet = logging.getLogger(kafka_bus.__name__)
        was_disabled, quiet.disabled = quiet.disabled, True
        try:
            await kafka_bus.KafkaBus(Settings(kafka_bootstrap=bootstrap))._try_connect()
        finally:
            setattr(kafka_bus, "AIOKafkaProducer", original)  # noqa: B010
            quiet.disabled = was_disabled
        config = {
            key: value
            for key, value in captured.items()
            if key not in ("bootstrap_servers", "client_id")
            and isinstance(value, str | int | float | bool | type(None))
        }
        if {"acks", "enable_idempotence", "linger_ms"} <= config.keys():
            return config, "read from kioskpulse.bus.kafka.KafkaBus"
    except Exception as exc:  # any breakage here must not stop the benchmark
        say(f"warning: could not read KafkaBus's producer settings ({exc!r}); using a copy")
    return dict(FALLBACK_PRODUCER_CONFIG), "copy in bench/ingest.py (KafkaBus not readable)"


def run_cli(*args: str) -> str:
    """``kioskpulse ...`` in a subprocess, as an operator would; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "kioskpulse.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SetupError(f"kioskpulse {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def register_devices(devices_file: Path, count: int) -> list[dict[str, str]]:
    """One kiosk per store, so that keys (store ids) spread over the partitions."""
    kiosks = []
    for n in range(1, count + 1):
        store, kiosk = f"bench-store-{n}", f"bench-kiosk-{n}"
        run_cli("devices", "--devices-file", str(devices_file), "add-store", store)
        out = run_cli(
            "devices", "--devices-file", str(devices_file), "add-kiosk", kiosk, "--store", store
        )
        token = out.strip().splitlines()[-1].strip()
        kiosks.append({"id": kiosk, "store": store, "token": token})
    return kiosks


class ApiProcess:
    """``kioskpulse api`` (one uvicorn worker) in its own process group, stopped on any exit."""

    def __init__(self, port: int, devices_file: Path, bootstrap: str, log_path: Path) -> None:
        self.port, self.log_path = port, log_path
        self.env = {
            **os.environ,
            "KIOSKPULSE_BUS": "kafka",
            "KIOSKPULSE_KAFKA_BOOTSTRAP": bootstrap,
            "KIOSKPULSE_RATE_LIMIT_PER_SECOND": "0",
            "KIOSKPULSE_DEVICES_FILE": str(devices_file),
            "KIOSKPULSE_KAFKA_CLIENT_ID": "kioskpulse-bench-api",
            # One record per event, as the bare producer writes them: with batch records
            # (issue 15) a 500-rating request is one Kafka record, another job than the
            # peer's, and the topic's growth would no longer count the events.
            "KIOSKPULSE_BATCH_RECORDS": "false",
        }
        self.command = [
            sys.executable,
            "-m",
            "kioskpulse.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--devices-file",
            str(devices_file),
            "--log-level",
            "warning",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO,
                start_new_session=True,  # Ctrl-C reaches only us; we stop it in order
                preexec_fn=die_with_parent,
            )

    async def wait_ready(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        status = 0
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise SetupError(f"the API exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ConnectionError):
                status, _ = await http_get("127.0.0.1", self.port, "/readyz")
                if status == 200:
                    return
            await asyncio.sleep(0.2)
        raise SetupError(f"the API was not ready within {limit:g} s (last /readyz: {status})")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop: flushes the producer
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def run_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One phase in a separate process; its stderr (progress) passes straight through."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        "_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        limit = cfg["warmup"] + cfg["duration"] + cfg["drain_timeout"] + 60
        # The configuration (with the kiosks' tokens) goes through stdin, not the command line.
        stdout, _ = await asyncio.wait_for(process.communicate(json.dumps(cfg).encode()), limit)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
    lines = stdout.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise SetupError(
            f"the load generator for {cfg['label']} failed (exit {process.returncode})"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def phase_config(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    if phase == "bare":
        return {
            "mode": "bare",
            "connections": args.batch_connections,
            "events_per_request": BATCH_SIZE,
            "label": f"bare producer, {BATCH_SIZE}/batch, {args.batch_connections} in flight",
        }
    if phase == "bare-batch":
        return {
            "mode": "bare",
            "send_batch": True,
            "connections": args.batch_connections,
            "events_per_request": BATCH_SIZE,
            "label": f"bare producer via send_batch(), {BATCH_SIZE}/batch",
        }
    if phase == "batch":
        return {
            "mode": "closed",
            "connections": args.batch_connections,
            "events_per_request": BATCH_SIZE,
            "label": f"batch, {BATCH_SIZE}/request, {args.batch_connections} connections",
        }
    if phase == "single":
        return {
            "mode": "closed",
            "connections": args.connections,
            "events_per_request": 1,
            "label": f"single, closed loop, {args.connections} connections",
        }
    return {
        "mode": "open",
        "connections": args.open_connections,
        "events_per_request": 1,
        "rate": args.rate,
        "label": f"single, open loop at {args.rate:,.0f} req/s",
    }


def median_spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None, "spread_pct": None}
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median * 100 if median else None
    return {"median": median, "min": min(values), "max": max(values), "spread_pct": spread}


def aggregate(phase: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def values(get: Callable[[dict[str, Any]], Any]) -> list[float]:
        return [float(v) for v in map(get, runs) if v is not None]

    def cpu_median(key: str) -> float:
        found = [float(r["cpu"][key]) for r in runs if r["cpu"].get(key) is not None]
        return statistics.median(found) if found else math.nan

    summary: dict[str, Any] = {
        "phase": phase,
        "label": runs[0]["label"],
        "repeats": len(runs),
        "events_per_s": median_spread(values(lambda r: r["events_per_s"])),
        "req_per_s": median_spread(values(lambda r: r["req_per_s"])),
        "p50_ms": median_spread(values(lambda r: r["latency_ms"]["p50"])),
        "p99_ms": median_spread(values(lambda r: r["latency_ms"]["p99"])),
        "non_202": sum(r["non_202_total"] for r in runs),
        "missing_from_topic": sum(max(0, -r["topic_surplus"]) for r in runs),
        "cpu_cores": {
            key: cpu_median(key)
            for key in (
                "generator_cores",
                "api_cores",
                "broker_cores",
                "other_cores",
                "machine_busy_cores",
                "steal_cores",
            )
        },
    }
    events = [r["events_per_s"] for r in runs]
    api = [r["cpu"].get("api_cores") for r in runs]
    per_event = [a / e * 1e6 for a, e in zip(api, events, strict=True) if a is not None and e]
    if phase.startswith("bare"):
        per_event = []  # the API idles during these
    summary["api_cpu_us_per_event"] = statistics.median(per_event) if per_event else None
    gen = values(lambda r: r["generator_cpu_us_per_request"])
    summary["generator_cpu_us_per_request"] = statistics.median(gen) if gen else None
    if phase == "fixed":
        summary["answered_202_share"] = min(r["open_loop"]["answered_202_share"] for r in runs)
        summary["dispatch_lag_ms_p99"] = max(
            r["open_loop"]["dispatch_lag_ms_p99"] or 0.0 for r in runs
        )
    return summary


def judge(summaries: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """Targets and ratios, written into the summaries."""
    bare = summaries.get("bare", {}).get("events_per_s", {}).get("median")
    bare_batch = summaries.get("bare-batch", {}).get("events_per_s", {}).get("median")
    for phase, summary in summaries.items():
        events = summary["events_per_s"]["median"]
        summary["ratio_to_bare"] = events / bare if bare and events is not None else None
        # The stricter peer: the API writes big batches with send_batch() too.
        summary["ratio_to_bare_batch"] = (
            events / bare_batch if bare_batch and events is not None else None
        )
        correct = summary["non_202"] == 0 and summary["missing_from_topic"] == 0
        target, passed = "reference", None
        if phase == "bare-batch":
            target = "second peer of batch (same send method as the API)"
        elif phase == "single":
            target = f">= {TARGET_SINGLE_RPS:,.0f} req/s"
            passed = (summary["req_per_s"]["median"] or 0) >= TARGET_SINGLE_RPS
        elif phase == "fixed":
            target = f"p99 <= {TARGET_FIXED_P99_MS:g} ms at {args.rate:,.0f} req/s"
            p99 = summary["p99_ms"]["median"]
            passed = (
                p99 is not None
                and p99 <= TARGET_FIXED_P99_MS
                and summary["answered_202_share"] >= FIXED_MIN_ANSWERED
            )
        elif phase == "batch":
            target = f">= {TARGET_BATCH_RATIO:.0%} of bare send() producer"
            ratio = summary["ratio_to_bare"]
            passed = None if ratio is None else ratio >= TARGET_BATCH_RATIO
        summary["target"] = target
        summary["target_met"] = passed
        summary["correct"] = correct


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def markdown_table(summaries: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| phase | events/s (median) | spread (min-max) | req/s | p50 ms | p99 ms "
        "| vs bare send() | vs bare send_batch() | non-202 | target | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for summary in summaries.values():
        events, req = summary["events_per_s"], summary["req_per_s"]
        ratio, ratio_batch = summary["ratio_to_bare"], summary["ratio_to_bare_batch"]
        if summary["target_met"] is None:
            result = "-" if summary["phase"].startswith("bare") else "n/a (no bare run)"
        else:
            result = "PASS" if summary["target_met"] else "FAIL"
        if not summary["correct"]:
            result += ", INCORRECT"
        rows.append(
            f"| {summary['label']} | {fmt(events['median'])} "
            f"| {fmt(events['min'])}-{fmt(events['max'])} ({fmt(events['spread_pct'])} %) "
            f"| {fmt(req['median'], 1 if (req['median'] or 0) < 100 else 0)} "
            f"| {fmt(summary['p50_ms']['median'], 1)} | {fmt(summary['p99_ms']['median'], 1)} "
            f"| {fmt(None if ratio is None else ratio * 100, 1, ' %')} "
            f"| {fmt(None if ratio_batch is None else ratio_batch * 100, 1, ' %')} "
            f"| {summary['non_202']} | {summary['target']} | {result} |"
        )
    return "\n".join(rows)


def cpu_table(summaries: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| phase | generator | API | broker | other processes | machine busy "
        "| API CPU per event | generator CPU per request (bare: per batch) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for summary in summaries.values():
        cores = summary["cpu_cores"]
        rows.append(
            f"| {summary['label']} | {fmt(cores['generator_cores'], 2)} "
            f"| {fmt(cores['api_cores'], 2)} | {fmt(cores['broker_cores'], 2)} "
            f"| {fmt(cores['other_cores'], 2)} | {fmt(cores['machine_busy_cores'], 2)} "
            f"| {fmt(summary['api_cpu_us_per_event'], 0, ' us')} "
            f"| {fmt(summary['generator_cpu_us_per_request'], 0, ' us')} |"
        )
    return "\n".join(rows)


def machine_facts(args: argparse.Namespace) -> dict[str, Any]:
    packages = ("fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "aiokafka")
    return {
        **benchlib.machine_facts(packages),
        "kafka": args.kafka_version or kafka_version_from_pom(),
    }


def kafka_version_from_pom() -> str:
    try:
        pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    return f"{match.group(1)} (deploy/kafka/pom.xml)" if match else "unknown"


async def profile_api(api: ApiProcess, cfg: dict[str, Any], stem: str) -> dict[str, Any] | None:
    """An extra, unscored run of one phase with py-spy sampling the API (collapsed stacks)."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if py_spy is None:
        say("  profile: py-spy not found (pip install py-spy); skipping the profile")
        return None
    raw = RESULTS_DIR / f"{stem}-{cfg['phase']}-api-profile.txt"
    seconds = max(2, int(cfg["duration"]))
    say(f"  profile: py-spy on the API (pid {api.pid}) during an extra, unscored {cfg['label']}")
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        *("--pid", str(api.pid), "--duration", str(seconds), "--rate", "200"),
        *("--format", "raw", "--output", str(raw), "--nonblocking"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        await asyncio.sleep(0.5)
        result = await run_worker({**cfg, "warmup": 0.5, "duration": seconds + 0.5})
    finally:
        try:
            await asyncio.wait_for(spy.wait(), 30)
        except TimeoutError:
            spy.kill()
            await spy.wait()
    if not raw.exists():
        say("  profile: py-spy wrote nothing (is ptrace permitted?)")
        return None
    top = summarize_profile(raw)
    say(
        f"  profile of {cfg['label']} ({result['req_per_s']:,.0f} req/s under py-spy, "
        f"{top['samples']} samples): self time by package"
    )
    for name, share in top["self_by_package"][:12]:
        say(f"    {share:5.1f} %  {name}")
    say("  inclusive time, own code and hot spots:")
    for name, share in top["inclusive"][:40]:
        if any(key in name for key in ("kiosk", "solve_dependencies", "send", "serialize")):
            say(f"    {share:5.1f} %  {name}")
    return {"phase": cfg["phase"], "collapsed_stacks": str(raw), **top}


def frame_package(frame: str) -> str:
    """The package of a py-spy frame such as ``send (aiokafka/producer/producer.py:123)``."""
    path = frame.rpartition("(")[2].rstrip(")").rsplit(":", 1)[0]
    path = path.removeprefix("<frozen ").rstrip(">")
    top = path.split("/")[0].removesuffix(".py")
    return "kioskpulse + kiosk_api (own code)" if top in ("kioskpulse", "kiosk_api") else top


def summarize_profile(raw: Path) -> dict[str, Any]:
    """Shares of the API's busy samples: per function (inclusive, self) and per package (self).

    py-spy samples Python frames only; time in C extensions (pydantic-core, uvloop,
    httptools) counts for the Python function that called them.
    """
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        packages[frame_package(frames[-1])] += count
    scale = 100 / total if total else 0
    return {
        "samples": total,
        "self_by_package": [(name, n * scale) for name, n in packages.most_common()],
        "inclusive": [(name, n * scale) for name, n in inclusive.most_common(80)],
        "self": [(name, n * scale) for name, n in own.most_common(40)],
    }


async def orchestrate(args: argparse.Namespace) -> int:
    facts = machine_facts(args)
    say(
        f"ingest bench: {facts['cpu_count']} CPUs ({facts['cpu_model']}), "
        f"Python {facts['python']}, Kafka {facts['kafka']}, load average "
        + " ".join(f"{v:.2f}" for v in facts["load_average_at_start"])
    )
    if (facts["cpu_count"] or 1) < 4:
        say(
            "  note: fewer than 4 CPUs: generator, API and broker share them; "
            "see the CPU table and judge the numbers with it"
        )
    await check_broker(args.bootstrap)
    say(f"  broker at {args.bootstrap}: reachable")
    broker_host, broker_port = parse_bootstrap(args.bootstrap)
    broker_pid = None
    if broker_host in ("127.0.0.1", "localhost", "::1"):
        broker_pid = listening_pid(broker_port)
    producer_config, producer_source = await bus_producer_config(args.bootstrap)
    say(f"  producer settings ({producer_source}): {producer_config}")

    workdir = Path(tempfile.mkdtemp(prefix="kioskpulse-bench-"))
    api: ApiProcess | None = None
    offsets: TopicOffsets | None = None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        say(f"  registering {args.kiosks} kiosks (one store each) in {workdir}/devices.yaml")
        kiosks = register_devices(workdir / "devices.yaml", args.kiosks)
        port = args.api_port or free_port()
        api = ApiProcess(port, workdir / "devices.yaml", args.bootstrap, workdir / "api.log")
        api.start()
        say(f"  API: {' '.join(api.command[1:])} (pid {api.pid}), waiting for /readyz")
        await api.wait_ready(60)
        offsets = TopicOffsets(args.bootstrap)
        await offsets.start()
        say(f"  API ready on 127.0.0.1:{port}; topic {TOPIC}: {offsets.partition_count} partitions")

        watch = {"api": api.pid, **({"broker": broker_pid} if broker_pid else {})}
        common = {
            "host": "127.0.0.1",
            "port": port,
            "kiosks": kiosks,
            "bootstrap": args.bootstrap,
            "producer": producer_config,
            "warmup": args.warmup,
            "duration": args.duration,
            "drain_timeout": 30.0,
            "watch": watch,
        }
        runs: dict[str, list[dict[str, Any]]] = {phase: [] for phase in args.phases}
        for round_number in range(1, args.repeats + 1):
            for phase in args.phases:
                cfg = {**common, **phase_config(args, phase), "phase": phase}
                say(f"  round {round_number}/{args.repeats}: {cfg['label']}")
                topic_before = await offsets.total()
                result = await run_worker(cfg)
                if api.process is not None and api.process.poll() is not None:
                    raise SetupError(f"the API died during {phase}:\n{api.log_tail()}")
                grown = await offsets.total() - topic_before
                result["round"] = round_number
                result["topic_grew_by"] = grown
                result["topic_surplus"] = grown - result["accepted_events_total"]
                runs[phase].append(result)
                report_run(result)

        profiles = []
        for phase in ("single", "batch") if args.profile else ():
            if phase in args.phases:
                cfg = {**common, **phase_config(args, phase), "phase": phase}
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                profiles.append(await profile_api(api, cfg, f"ingest-{stamp}"))
    finally:
        if offsets is not None:
            await offsets.stop()
        if api is not None:
            say("  stopping the API")
            api.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    summaries = {phase: aggregate(phase, results) for phase, results in runs.items()}
    judge(summaries, args)
    facts["load_average_at_end"] = os.getloadavg()
    code = code_version(("kiosk_api", "kioskpulse", "pyproject.toml"))
    dirty = ""
    if code["uncommitted"]:
        dirty = f" + uncommitted changes in {', '.join(code['uncommitted'])}"
    table, cpu = markdown_table(summaries), cpu_table(summaries)
    report = {
        "benchmark": "ingest",
        "started": stamp,
        "machine": facts,
        "code": code,
        "options": {
            "bootstrap": args.bootstrap,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "phases": args.phases,
            "connections": args.connections,
            "batch_connections": args.batch_connections,
            "open_connections": args.open_connections,
            "rate": args.rate,
            "kiosks": args.kiosks,
        },
        "api": {
            "command": api.command[1:] if api else None,
            "workers": 1,
            "env": {
                k: v for k, v in (api.env.items() if api else ()) if k.startswith("KIOSKPULSE_")
            },
        },
        "producer_config": producer_config,
        "producer_config_source": producer_source,
        "summaries": summaries,
        "runs": runs,
        "profiles": profiles,
        "table_markdown": table,
        "cpu_table_markdown": cpu,
    }
    out = benchlib.write_results("ingest", stamp, report)

    print(f"\n## Ingest benchmark ({stamp})\n")
    print(
        f"Machine: {facts['cpu_count']} CPUs, {facts['cpu_model']}, Python {facts['python']}, "
        f"Kafka {facts['kafka']}, uvicorn {facts['packages'].get('uvicorn', '?')} "
        f"(1 worker), aiokafka {facts['packages'].get('aiokafka', '?')}.  "
        f"Load average at start {facts['load_average_at_start'][0]:.2f}.  "
        f"Code: commit {code['commit']}{dirty}.\n"
    )
    print(
        f"Medians of {args.repeats} rounds; {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up per run.\n"
    )
    print(table)
    print("\nCPU (cores in use over the measured windows, medians):\n")
    print(cpu)
    print(f"\nJSON: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")

    incorrect = [s["label"] for s in summaries.values() if not s["correct"]]
    if incorrect:
        say(f"CORRECTNESS PROBLEMS in: {', '.join(incorrect)} (see the samples in the JSON)")
        return 1
    missed = [s["label"] for s in summaries.values() if s["target_met"] is False]
    if missed:
        say(f"targets missed: {', '.join(missed)}")
        if args.fail_on_target:
            return 3
    return 0


def report_run(result: dict[str, Any]) -> None:
    latency = result["latency_ms"]
    cpu = result["cpu"]
    parts = [
        f"    -> {result['events_per_s']:,.0f} events/s, {result['req_per_s']:,.1f} req/s, "
        f"p50 {fmt(latency['p50'], 1)} ms, p99 {fmt(latency['p99'], 1)} ms",
        f"       statuses {result['statuses_window']}, topic +{result['topic_grew_by']:,} for "
        f"{result['accepted_events_total']:,} acknowledged",
        "       cores: "
        + ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in cpu.items() if v is not None),
    ]
    if "open_loop" in result:
        open_loop = result["open_loop"]
        parts.append(
            f"       open loop: {open_loop['scheduled']:,} scheduled, "
            f"{open_loop['answered_202_share']:.1%} answered 202, dispatch lag p99 "
            f"{fmt(open_loop['dispatch_lag_ms_p99'], 2)} ms"
        )
        if (open_loop["dispatch_lag_ms_p99"] or 0) > 5:
            parts.append("       WARNING: the generator fell behind its schedule (CPU starved?)")
    if result["non_202_total"]:
        parts.append(f"       NON-202 ANSWERS: {result['statuses_total']}; {result['samples']}")
    if result["topic_surplus"] < 0:
        parts.append(
            f"       ACKNOWLEDGED EVENTS MISSING FROM THE TOPIC: {-result['topic_surplus']}"
        )
    if result["unfinished_at_end"]:
        parts.append(f"       {result['unfinished_at_end']} requests unfinished at the end")
    say("\n".join(parts))


# =============================================================================== command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/ingest.py",
        description="Ingest benchmark of the kiosk API against a running Kafka broker.",
        epilog="The broker must be running already: deploy/kafka/kafka.sh start",
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka (default %(default)s)")
    parser.add_argument("--api-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each (default 3)")
    parser.add_argument("--repeats", type=int, help="rounds of every phase (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 3 s")
    parser.add_argument(
        "--phases",
        default=",".join(DEFAULT_PHASES),
        help=f"comma-separated, of {','.join(ALL_PHASES)} (default: {','.join(DEFAULT_PHASES)})",
    )
    parser.add_argument("--connections", type=int, default=64, help="single phase (default 64)")
    parser.add_argument(
        "--batch-connections",
        type=int,
        default=4,
        help="batch phase connections = bare producer batches in flight (default 4)",
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="fixed phase req/s (default 1000)"
    )
    parser.add_argument(
        "--open-connections", type=int, default=128, help="fixed phase connections (default 128)"
    )
    parser.add_argument("--kiosks", type=int, default=8, help="kiosks, one store each (default 8)")
    parser.add_argument("--kafka-version", help="default: from deploy/kafka/pom.xml")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the API with py-spy (extra run)"
    )
    parser.add_argument(
        "--fail-on-target", action="store_true", help="exit 3 when a target is missed"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(ALL_PHASES)
    if unknown or not phases:
        parser.error(f"--phases: unknown {sorted(unknown)}; choose from {','.join(ALL_PHASES)}")
    args.phases = [p for p in ALL_PHASES if p in phases]
    for name in ("connections", "batch_connections", "open_connections", "kiosks", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0 or args.warmup < 0 or args.rate <= 0:
        parser.error("--duration and --rate must be positive, --warmup not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return worker_main()
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="ingest bench: %(levelname)s %(message)s")

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await orchestrate(args)

    try:
        return asyncio.run(guarded())
    except SetupError as exc:
        say(f"ingest bench: {exc}")
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("ingest bench: interrupted; the API and load generator were stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())

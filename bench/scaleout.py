"""Aggregator scale-out: 1, 2 and 4 workers in one consumer group, and exact counts across
rebalances (issue 15).

Phase ``rate`` (repeated ``--rounds`` times): for each of ``--workers`` (k), a store-like
mix of ``--events`` events over ``--stores`` stores is written to the real broker first;
then k ``kioskpulse worker`` processes start at once in one fresh consumer group (its
offsets committed at the ends before the write). Once the group is settled (k members,
every worker's /readyz 200 twice in a row), the combined events/s is measured from the
workers' own counters (``kioskpulse_aggregator_events_total``, events, not records), from
the first event counted after the settlement to the last, and per worker with its CPU.
Reported: medians per k, and the ratio of the combined rate to k × the 1-worker rate.

Phase ``rebalance``: one worker consumes presses (unique event ids) written at a fixed
rate (``--rate``); a second worker joins mid-stream; later the first is SIGKILLed
mid-stream; the presses stop. Once the aggregates are complete, the compacted
``store.aggregates.v1`` is read from its beginning as the exporter reads it, and for every
store and level the presses counted must equal those written: exit status 1 otherwise.
Reported: written vs counted, mismatches, and how long the state of every store stood
still after the join and after the kill (from the group's own table changelog).

Every worker group on a broker reads all of the input topics and writes the full value of
every bucket it holds to the one aggregates topic (last writer wins). Another group that
runs meanwhile (an integration test's worker, another benchmark's) therefore counts these
presses too and may overwrite their buckets with its partial counts, and these workers
do the same to its stores: the report names such groups. For a clean check, use a broker
of your own (``--bootstrap``, e.g. ``KAFKA_PORT=29092 KAFKA_STATE_DIR=/tmp/kp-scaleout
deploy/kafka/kafka.sh start``).

    deploy/kafka/kafka.sh start && .venv/bin/python bench/scaleout.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from benchlib import (
    REPO,
    RESULTS_DIR,
    code_version,
    machine_facts,
    process_cpu_seconds,
    run_bench,
    say,
    write_results,
)
from ingest import SetupError, check_broker, http_get, listening_pid, machine_jiffies
from stream import (
    Service,
    commit_offsets,
    end_offsets,
    produce,
    stage_events,
    worker_service,
    workload,
)

from kioskpulse.bus.kafka import create_topics
from kioskpulse.event_records import count_events
from kioskpulse.events import RatingEvent, StoreAggregate
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES, RATINGS, topic_specs
from stream_processors.aggregation.entries import PRESS, kind_of, store_of
from stream_processors.exporter.lag import WORKER_INPUTS
from stream_processors.exporter.source import open_aggregates_consumer

#: How often the workers' counters are read while the rate is measured.
SAMPLE_SECONDS = 0.1
#: Longest wait for a group of workers to start and settle.
SETTLE_LIMIT = 180.0
#: The rebalance phase's kiosks per store; each kiosk's presses are 6 s apart in event
#: time (more than the misuse filter's 5 s), so that none is suppressed.
KIOSKS_PER_STORE = 10
PRESS_SPACING = dt.timedelta(seconds=6)
#: A store's aggregates not updated for longer than this count as a pause.
PAUSE_SECONDS = 1.5


# ============================================================================ the workers


@dataclass
class Member:
    """One worker process of the group, its counter and CPU sampled over time."""

    name: str
    service: Service
    port: int
    #: Count only the events of this input topic (None: every event, ``stage_events``).
    topic: str | None = None
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # t, events, cpu
    killed_at: float | None = None

    @property
    def alive(self) -> bool:
        process = self.service.process
        return self.killed_at is None and process is not None and process.poll() is None

    @property
    def events(self) -> float:
        return self.samples[-1][1] if self.samples else 0.0

    async def sample(self) -> None:
        if not self.alive:
            return
        events = self.events
        with contextlib.suppress(OSError, ConnectionError, TimeoutError):
            counting = stage_events(self.port) if self.topic is None else self._topic_events()
            events = await asyncio.wait_for(counting, 2)
        cpu = process_cpu_seconds(self.service.pid)
        cpu = cpu if cpu is not None else (self.samples[-1][2] if self.samples else 0.0)
        self.samples.append((time.perf_counter(), events, cpu))

    async def _topic_events(self) -> float:
        status, body = await http_get("127.0.0.1", self.port, "/metrics")
        if status != 200:
            raise ConnectionError(f"/metrics answered {status}")
        label = f'topic="{self.topic}"'.encode()
        return sum(
            float(line.rsplit(b" ", 1)[1])
            for line in body.splitlines()
            if line.startswith(b"kioskpulse_aggregator_events_total{") and label in line
        )

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no leaving the group."""
        assert self.service.process is not None
        self.killed_at = time.perf_counter()
        self.service.process.send_signal(signal.SIGKILL)
        self.service.process.wait()


def start_member(
    bootstrap: str,
    group: str,
    workdir: Path,
    name: str,
    env: dict[str, str] | None = None,
    topic: str | None = None,
) -> Member:
    directory = workdir / name  # each its own log and datadir
    directory.mkdir(parents=True, exist_ok=True)
    service, port = worker_service(bootstrap, group, directory)
    service.name = f"worker {name}"
    service.env.update(env or {})
    service.start()
    return Member(name, service, port, topic)


async def stop_members(members: Sequence[Member]) -> None:
    await asyncio.gather(*(asyncio.to_thread(m.service.stop) for m in members))


async def is_ready(port: int) -> bool:
    with contextlib.suppress(OSError, ConnectionError, TimeoutError):
        status, _ = await asyncio.wait_for(http_get("127.0.0.1", port, "/readyz"), 3)
        return status == 200
    return False


async def assignment(port: int) -> list[int]:
    """The partitions the worker owns (of its table, co-partitioned with the inputs), from
    faust's own /router/ view: every worker's, by URL, each ending in its web port."""
    with contextlib.suppress(OSError, ConnectionError, TimeoutError, ValueError):
        status, body = await asyncio.wait_for(http_get("127.0.0.1", port, "/router/"), 3)
        if status == 200:
            for url, tables in json.loads(body).items():
                if url.endswith(f":{port}"):
                    return sorted({p for partitions in tables.values() for p in partitions})
    return []


async def group_members(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    """The group's state as the coordinator describes it, and how many members it has."""
    [response] = await admin.describe_consumer_groups([group])
    [described] = response.to_object()["groups"]
    return described["state"], len(described["members"])


async def wait_settled(
    admin: AIOKafkaAdminClient, group: str, members: Sequence[Member], limit: float
) -> float:
    """Wait until the group is Stable with exactly the live members and every one of them
    answers /readyz 200 (partitions assigned, tables recovered), twice in a row; return
    the time of the first of the two."""
    deadline = time.monotonic() + limit
    first: float | None = None
    while time.monotonic() < deadline:
        live = [m for m in members if m.alive]
        for member in members:
            if member.killed_at is None:
                member.service.check()
        await asyncio.gather(*(m.sample() for m in live))
        now = time.perf_counter()
        ready = all(await asyncio.gather(*(is_ready(m.port) for m in live)))
        state, count = await group_members(admin, group)
        if ready and state == "Stable" and count == len(live):
            if first is not None:
                return first
            first = now
        else:
            first = None
        await asyncio.sleep(0.2)
    tails = "\n".join(f"--- {m.name}:\n{m.service.tail(1500)}" for m in members if m.alive)
    raise SetupError(f"the group {group} did not settle within {limit:g} s:\n{tails}")


async def committed_offsets(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    offsets = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items()}


# ============================================================================ phase: rate


def broker_cpu(pid: int | None) -> float | None:
    return None if pid is None else process_cpu_seconds(pid)


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def value_at(samples: list[tuple[float, float, float]], t: float, index: int) -> float:
    """A sampled value (1: events, 2: CPU s) at the last sample taken at or before ``t``."""
    value = samples[0][index] if samples else 0.0
    for sample in samples:
        if sample[0] > t:
            break
        value = sample[index]
    return value


async def rate_round(
    args: argparse.Namespace, k: int, round_no: int, workdir: Path, broker_pid: int | None
) -> dict[str, Any]:
    """k workers settle in a fresh group, are frozen while the events are written (so that
    no worker starts before the others have their partitions, and the write competes with
    none of them), then thawed together and timed until every event is handled."""
    group = f"bench-scaleout-{k}w-{uuid.uuid4().hex[:8]}"
    before = await end_offsets(args.bootstrap, WORKER_INPUTS)
    await commit_offsets(args.bootstrap, group, before)
    messages = workload(args.events, args.stores, seed=1000 * round_no + k)
    expected = sum(count_events(value) for _, _, value in messages)  # records may hold several
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    members: list[Member] = []
    frozen = False
    try:
        started = time.perf_counter()
        members = [start_member(args.bootstrap, group, workdir / group, f"w{i}") for i in range(k)]
        restarted = []
        try:
            settled = await wait_settled(admin, group, members, args.settle_within)
        except SetupError:
            # As a supervisor would (the worker's own stall watch exits only after
            # KIOSKPULSE_WORKER_STALL_EXIT_SECONDS): replace the workers that are not ready.
            for i, member in enumerate(members):
                if not await is_ready(member.port):
                    restarted.append(keep_log(member, group))
                    member.service.stop()
                    members[i] = start_member(
                        args.bootstrap, group, workdir / group, f"{member.name}-again"
                    )
            say(
                f"    the group did not settle within {args.settle_within:g} s; restarted "
                f"the workers not ready (logs kept: {', '.join(restarted)})"
            )
            settled = await wait_settled(admin, group, members, SETTLE_LIMIT)
        partitions = [await assignment(m.port) for m in members]
        say(
            f"  {k} worker(s), round {round_no}: settled {settled - started:.1f} s after the "
            f"start; partitions: {partitions}"
        )
        say(
            f"    workers frozen (SIGSTOP); writing {expected:,} events in "
            f"{len(messages):,} records…"
        )
        frozen = signal_members(members, signal.SIGSTOP)
        write_started = time.perf_counter()
        await produce(args.bootstrap, messages)
        written = await end_offsets(args.bootstrap, WORKER_INPUTS)
        write_seconds = time.perf_counter() - write_started
        records = sum(end - before.get(tp, 0) for tp, end in written.items())
        frozen = not signal_members(members, signal.SIGCONT)
        thawed = time.perf_counter()
        machine = [(thawed, machine_jiffies(), broker_cpu(broker_pid), self_cpu())]
        deadline = time.monotonic() + max(120.0, expected / 500)
        caught_up = False
        next_offsets_check = 0.0
        while time.monotonic() < deadline:
            await asyncio.gather(*(m.sample() for m in members))
            for member in members:
                member.service.check()
            machine.append(
                (time.perf_counter(), machine_jiffies(), broker_cpu(broker_pid), self_cpu())
            )
            if time.monotonic() >= next_offsets_check:
                # Every record handled and committed: the counters stop here (or count
                # records that others write to the same topics meanwhile).
                committed = await committed_offsets(admin, group)
                if all(committed.get(tp, -1) >= end for tp, end in written.items()):
                    caught_up = True
                    break
                next_offsets_check = time.monotonic() + 0.5
            await asyncio.sleep(SAMPLE_SECONDS)
        if not caught_up:
            say("    the group's committed offsets did not reach the end of the write in time")
        moved = partitions != [await assignment(m.port) for m in members]
        if moved:
            say("    warning: the partitions moved during the measurement (a rebalance)")
        result = rate_figures(k, members, thawed, machine, expected)
        result.update(
            records_written=records,
            records_of_others=records - len(messages),
            committed_to_the_end=caught_up,
            settle_s=settled - started,
            write_s=write_seconds,
            partitions=partitions,
            rebalanced_while_measured=moved,
            restarted_to_settle=restarted,
        )
        return result
    finally:
        if frozen:
            signal_members(members, signal.SIGCONT)
        await stop_members(members)
        await admin.close()


def keep_log(member: Member, group: str) -> str:
    """Copy a worker's log to bench/results/ (the work directory goes at the end)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    kept = RESULTS_DIR / f"scaleout-{group}-{member.name}.log"
    shutil.copyfile(member.service.log, kept)
    return str(kept.relative_to(REPO))


def signal_members(members: Sequence[Member], signum: signal.Signals) -> bool:
    for member in members:
        if member.alive:
            os.kill(member.service.pid, signum)
    return True


def rate_figures(
    k: int,
    members: list[Member],
    thawed: float,
    machine: list[tuple[float, tuple[int, int, int], float | None, float]],
    expected: int,
) -> dict[str, Any]:
    # The window: from the last sample before the first event counted after the thaw to
    # the first sample at which the counters had grown by the events written (else to
    # their last increase). Records that others write meanwhile are counted too: they
    # end the window a little early, and are reported.
    at_thaw = {m.name: value_at(m.samples, thawed, 1) for m in members}
    thaw_total = sum(at_thaw.values())
    merged = sorted((t, m.name, events) for m in members for t, events, _ in m.samples)
    latest = dict(at_thaw)
    t0, t_end = thawed, thawed
    previous_total = thaw_total
    last_unchanged = thawed
    first_increase: float | None = None
    reached = False
    for t, name, events in merged:
        if t <= thawed:
            continue
        latest[name] = events
        total = sum(latest.values())
        if total > previous_total:
            if first_increase is None:
                first_increase = t
                t0 = last_unchanged
            t_end = t
            if total - thaw_total >= expected:
                reached = True
                break
        else:
            last_unchanged = t
        previous_total = total
    window_total = sum(latest.values()) - thaw_total
    seconds = max(t_end - t0, 1e-9)
    workers = []
    for m in members:
        handled = value_at(m.samples, t_end, 1) - at_thaw[m.name]
        previous, last_change = at_thaw[m.name], t0
        for t, events, _ in m.samples:
            if thawed < t <= t_end:
                if events > previous:
                    last_change = t
                previous = events
        span = max(last_change - t0, 1e-9)
        cpu = value_at(m.samples, last_change, 2) - value_at(m.samples, t0, 2)
        workers.append(
            {
                "events": handled,
                "seconds": last_change - t0,
                "events_per_s": handled / span if handled else 0.0,
                "cpu_s": cpu,
                "cpu_share": cpu / span if handled else 0.0,
                "events_before_thawed": at_thaw[m.name],
            }
        )
    # The machine over the window: all CPUs, the broker, this script.
    first = min(machine, key=lambda s: abs(s[0] - t0))
    last = min(machine, key=lambda s: abs(s[0] - t_end))
    busy = last[1][0] - first[1][0]
    total_jiffies = last[1][1] - first[1][1]
    cores = len(os.sched_getaffinity(0))
    broker = (
        (last[2] - first[2]) / seconds if last[2] is not None and first[2] is not None else None
    )
    result: dict[str, Any] = {
        "workers": k,
        "events_written": expected,
        "events_before_thawed": thaw_total,
        "events_counted_in_window": window_total,
        "events_counted_after_all": sum(m.events for m in members) - thaw_total,
        "counters_reached_the_write": reached,
        "seconds": seconds,
        "events_per_s": window_total / seconds,
        "per_worker": workers,
        "worker_cpu_cores": sum(w["cpu_s"] for w in workers) / seconds,
        "broker_cpu_cores": broker,
        "bench_cpu_cores": (last[3] - first[3]) / seconds,
        "machine_busy_cores": busy / total_jiffies * cores if total_jiffies else None,
    }
    # What none of ours used: other processes on the machine (someone else's run).
    if result["machine_busy_cores"] is not None and broker is not None:
        result["other_cpu_cores"] = max(
            0.0,
            result["machine_busy_cores"]
            - result["worker_cpu_cores"]
            - broker
            - result["bench_cpu_cores"],
        )
    rates = ", ".join(
        f"{w['events_per_s']:,.0f} ({w['cpu_share']:.0%} CPU)" for w in result["per_worker"]
    )
    say(
        f"    {k} worker(s): {result['events_per_s']:,.0f} events/s combined over "
        f"{seconds:.1f} s; per worker {rates}; machine "
        f"{result['machine_busy_cores'] or 0:.2f} of {cores} cores busy (broker {broker or 0:.2f}, "
        f"other processes {result.get('other_cpu_cores', 0):.2f})"
    )
    if thaw_total:
        say(f"    note: {thaw_total:,.0f} events were handled before the workers were thawed")
    return result


async def rate_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    broker_pid = listening_pid(int(args.bootstrap.rsplit(":", 1)[1]))
    by_k: dict[int, list[dict[str, Any]]] = {k: [] for k in args.workers}
    failed: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        for k in args.workers:
            try:
                by_k[k].append(await rate_round(args, k, round_no, workdir, broker_pid))
            except SetupError as exc:
                say(f"    {k} worker(s), round {round_no} failed: {exc}")
                failed.append({"workers": k, "round": round_no, "error": str(exc)[-3000:]})
    summary: dict[str, Any] = {
        "rounds": {str(k): rounds for k, rounds in by_k.items()},
        "failed": failed,
    }
    by_k = {k: rounds for k, rounds in by_k.items() if rounds}
    one = statistics.median(r["events_per_s"] for r in by_k[1]) if 1 in by_k else None
    medians = {}
    for k, rounds in by_k.items():
        combined = statistics.median(r["events_per_s"] for r in rounds)
        per_worker = sorted(
            (
                statistics.median(
                    sorted(w["events_per_s"] for w in r["per_worker"])[i] for r in rounds
                )
                for i in range(k)
            ),
            reverse=True,
        )
        cpu = sorted(
            (
                statistics.median(
                    sorted(w["cpu_share"] for w in r["per_worker"])[i] for r in rounds
                )
                for i in range(k)
            ),
            reverse=True,
        )
        medians[str(k)] = {
            "events_per_s": combined,
            "per_worker_events_per_s": per_worker,
            "per_worker_cpu_share": cpu,
            "worker_cpu_cores": statistics.median(r["worker_cpu_cores"] for r in rounds),
            "machine_busy_cores": statistics.median(r["machine_busy_cores"] or 0.0 for r in rounds),
            "broker_cpu_cores": statistics.median(r["broker_cpu_cores"] or 0.0 for r in rounds),
            "scaling": combined / (k * one) if one else None,
        }
    summary["median"] = medians
    return summary


# ============================================================================ phase: rebalance


@dataclass
class Presses:
    """What the press stream wrote (acknowledged by the broker): per store, per level."""

    prefix: str
    stores: int
    written: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Per (store, bucket start): presses, and when the first and the last were written.
    buckets: Counter[tuple[str, dt.datetime]] = field(default_factory=Counter)
    bucket_times: dict[tuple[str, dt.datetime], tuple[float, float]] = field(default_factory=dict)
    total: int = 0
    started: float = 0.0
    stopped: float = 0.0

    def store(self, n: int) -> str:
        return f"{self.prefix}-{n}"

    def per_store(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (store, _), n in self.written.items():
            totals[store] += n
        return totals


def bucket_of(at: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the aggregate bucket of an event time."""
    return dt.datetime.fromtimestamp(at.timestamp() // seconds * seconds, dt.UTC)


async def write_presses(
    bootstrap: str, presses: Presses, rate: float, stop: asyncio.Event, seed: int
) -> None:
    """Presses at ``rate`` per second until ``stop``; counted once the broker has them."""
    rng = random.Random(seed)
    kiosks = presses.stores * KIOSKS_PER_STORE
    base = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    bucket_seconds = Settings().aggregate_bucket_seconds
    try:
        presses.started = time.perf_counter()
        i = 0
        while not stop.is_set():
            batch = []
            for j in range(i, i + per_tick):
                store = presses.store(j % presses.stores)
                kiosk = f"{store}-k{(j // presses.stores) % KIOSKS_PER_STORE}"
                event = RatingEvent(
                    event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    rating=rng.randint(1, 4),
                    pressed_at=base + PRESS_SPACING * (j // kiosks),
                    kiosk_id=kiosk,
                    store_id=store,
                    received_at=dt.datetime.now(dt.UTC),
                )
                batch.append(
                    (
                        store,
                        event.rating,
                        bucket_of(event.pressed_at, bucket_seconds),
                        event.to_bytes(),
                    )
                )
            sent = [await producer.send(RATINGS, v, key=s.encode()) for s, _, _, v in batch]
            await asyncio.gather(*sent)
            now = time.perf_counter()
            for store, level, bucket, _ in batch:
                presses.written[store, level] += 1
                presses.buckets[store, bucket] += 1
                since, _ = presses.bucket_times.get((store, bucket), (now, now))
                presses.bucket_times[store, bucket] = (since, now)
            i += per_tick
            presses.total = i
            delay = presses.started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        presses.stopped = time.perf_counter()
        await producer.stop()


@dataclass
class AggregatesTail:
    """The aggregates of our stores as they are written: the latest value of each bucket
    and, per store, when its count of presses changed."""

    prefix: str
    buckets: dict[str, StoreAggregate] = field(default_factory=dict)
    updates: dict[str, list[float]] = field(default_factory=dict)
    #: Per store: (written, read, total) of every change, for the record.
    history: dict[str, list[tuple[float, float, int]]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)

    async def follow(self, bootstrap: str, start: dict[TopicPartition, int]) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                # When the worker wrote it (the record's time), on this script's clock.
                clock = time.time() - time.perf_counter()
                for records in batches.values():
                    for record in records:
                        key = record.key.decode() if record.key else ""
                        if key.startswith(self.prefix + "-") and record.value:
                            written = record.timestamp / 1000 - clock
                            aggregate = StoreAggregate.from_bytes(record.value)
                            self.take(aggregate, key, written, time.perf_counter())
        finally:
            await consumer.stop()

    def take(self, aggregate: StoreAggregate, key: str, written: float, read: float) -> None:
        self.buckets[key] = aggregate
        store = aggregate.store_id
        total = sum(
            sum(s.presses)
            for b in self.buckets.values()
            if b.store_id == store
            for s in b.ratings.values()
        )
        if total != self.totals[store]:
            self.totals[store] = total
            self.updates.setdefault(store, []).append(written)
            self.history.setdefault(store, []).append((written, read, total))


@dataclass
class StateTail:
    """When the state of each of our stores changed: the group's table changelog, which
    only this group's workers write (the aggregates topic is shared with every group)."""

    prefix: str
    updates: dict[str, list[float]] = field(default_factory=dict)

    async def follow(self, bootstrap: str, topic: str, partitions: int) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            assigned = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                clock = time.time() - time.perf_counter()
                for records in batches.values():
                    for record in records:
                        store = store_of(record.key.decode(errors="replace") if record.key else "")
                        if store.startswith(self.prefix + "-"):
                            written = record.timestamp / 1000 - clock
                            times = self.updates.setdefault(store, [])
                            if not times or written > times[-1]:
                                times.append(written)
        finally:
            await consumer.stop()


async def presses_in_state(bootstrap: str, topic: str, prefix: str) -> Counter[str]:
    """The presses of our stores in the group's state: distinct press entries (one per
    event id) alive at the end of the table's changelog, which only this group writes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    alive: dict[str, str] = {}  # press entry → store
    try:
        # The table's partitions are the topics' (faust creates its changelog so).
        assigned = [TopicPartition(topic, p) for p in range(Settings().topic_partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        behind = {tp for tp, end in ends.items() if end > 0}
        while behind:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    key = record.key.decode(errors="replace") if record.key else ""
                    if not key.startswith(prefix + "-") or kind_of(key) != PRESS:
                        continue
                    if record.value is None:
                        alive.pop(key, None)
                    else:
                        alive[key] = store_of(key)
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
    finally:
        await consumer.stop()
    return Counter(alive.values())


def counted_presses(
    buckets: dict[str, StoreAggregate],
) -> tuple[Counter[tuple[str, int]], Counter[str]]:
    """Presses counted per (store, level) and presses suppressed per store, summed over
    the buckets (as the integration tests count them)."""
    presses: Counter[tuple[str, int]] = Counter()
    suppressed: Counter[str] = Counter()
    for aggregate in buckets.values():
        for statistics_ in aggregate.ratings.values():
            for level, n in enumerate(statistics_.presses, start=1):
                presses[aggregate.store_id, level] += n
            suppressed[aggregate.store_id] += statistics_.suppressed
    return presses, suppressed


async def read_all_aggregates(bootstrap: str, prefix: str) -> dict[str, StoreAggregate]:
    """The latest value of every bucket of our stores: the compacted topic read from its
    beginning to its end, with the exporter's consumer."""
    consumer, ends = await open_aggregates_consumer(Settings(kafka_bootstrap=bootstrap))
    latest: dict[str, StoreAggregate] = {}
    try:
        behind = {tp: end for tp, end in ends.items() if end > 0}
        while behind:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    if key.startswith(prefix + "-") and record.value:
                        latest[key] = StoreAggregate.from_bytes(record.value)
            for tp, end in list(behind.items()):
                if await consumer.position(tp) >= end:  # compaction leaves gaps
                    del behind[tp]
    finally:
        await consumer.stop()
    return latest


def pauses(updates: dict[str, list[float]], fault: float, until: float) -> dict[str, Any]:
    """Per store, the longest time its state stood still around ``fault`` (from its last
    change before the fault to its first after the stall, within ``until``)."""
    longest: list[float] = []
    resumed: list[float] = []
    for times in map(sorted, updates.values()):
        before = [t for t in times if t <= fault]
        after = [t for t in times if fault < t <= until]
        points = before[-1:] + after
        gaps = [(b - a, b) for a, b in itertools.pairwise(points)]
        if not gaps:
            continue
        gap, end = max(gaps)
        longest.append(gap)
        resumed.append(end - fault if gap > PAUSE_SECONDS else 0.0)
    if not longest:
        return {"stores": 0}
    return {
        "stores": len(longest),
        "stores_paused": sum(gap > PAUSE_SECONDS for gap in longest),
        "longest_pause_s": max(longest),
        "median_longest_pause_s": statistics.median(longest),
        "all_stores_updating_again_s": max(resumed),
    }


def normal_gap(updates: dict[str, list[float]], start: float, end: float) -> float | None:
    gaps = [
        b - a
        for times in updates.values()
        for a, b in itertools.pairwise(sorted(times))
        if start <= a and b <= end
    ]
    return statistics.median(gaps) if gaps else None


async def rebalance_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    group = f"bench-scaleout-rebalance-{uuid.uuid4().hex[:8]}"
    presses = Presses(f"scaleout-{uuid.uuid4().hex[:6]}", args.rebalance_stores)
    env = {"KIOSKPULSE_FAUST_SESSION_TIMEOUT_SECONDS": str(args.session_timeout)}
    start = await end_offsets(args.bootstrap, WORKER_INPUTS)
    others_before = await ratings_positions(args.bootstrap)
    await commit_offsets(args.bootstrap, group, start)
    tail = AggregatesTail(presses.prefix)
    state = StateTail(presses.prefix)
    watching: asyncio.Task[None] | None = None
    following = asyncio.create_task(
        tail.follow(args.bootstrap, await end_offsets(args.bootstrap, [AGGREGATES]))
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    stop = asyncio.Event()
    writing: asyncio.Task[None] | None = None
    members: list[Member] = []
    marks: dict[str, float] = {}
    owners: dict[str, dict[str, list[int]]] = {}
    try:
        first = start_member(args.bootstrap, group, workdir / group, "first", env, RATINGS)
        members.append(first)
        await wait_settled(admin, group, members, SETTLE_LIMIT)
        changelog = f"{group}-aggregator-state-changelog"  # faust's name; only ours write it
        watching = asyncio.create_task(
            state.follow(args.bootstrap, changelog, Settings().topic_partitions)
        )
        say(f"  one worker consuming; writing {args.rate:g} presses/s…")
        writing = asyncio.create_task(
            write_presses(args.bootstrap, presses, args.rate, stop, seed=uuid.uuid4().int)
        )
        await watch(members, writing, args.join_after)
        marks["join"] = time.perf_counter()
        joiner = start_member(args.bootstrap, group, workdir / group, "joiner", env, RATINGS)
        members.append(joiner)
        say(f"  a second worker joins ({presses.total:,} presses written so far)…")
        marks["join_settled"] = await wait_settled(admin, group, members, SETTLE_LIMIT)
        owners["after_join"] = {m.name: await assignment(m.port) for m in members}
        say(
            f"  the group of two settled {marks['join_settled'] - marks['join']:.1f} s later; "
            f"partitions {owners['after_join']}"
        )
        await watch(members, writing, args.kill_after)
        marks["kill"] = time.perf_counter()
        first.kill()
        say(f"  the first worker SIGKILLed ({presses.total:,} presses written so far)…")
        marks["kill_settled"] = await wait_settled(
            admin, group, members, args.session_timeout + SETTLE_LIMIT
        )
        owners["after_kill"] = {joiner.name: await assignment(joiner.port)}
        say(
            f"  the survivor settled {marks['kill_settled'] - marks['kill']:.1f} s later; "
            f"partitions {owners['after_kill']}"
        )
        await watch(members, writing, args.stop_after)
        stop.set()
        await writing
        marks["stop"] = time.perf_counter()
        want = presses.per_store()
        say(f"  {presses.total:,} presses written; waiting for the aggregates…")
        deadline = time.monotonic() + args.complete_within
        while time.monotonic() < deadline and tail.totals != want:
            joiner.service.check()
            await joiner.sample()
            await asyncio.sleep(0.5)
        marks["complete"] = time.perf_counter()
        await asyncio.sleep(3)  # anything counted twice would show by now
        await asyncio.gather(*(m.sample() for m in members))
        outcomes = await ratings_outcomes(joiner.port)
        ends = await end_offsets(args.bootstrap, [RATINGS])
        others = foreign_consumers(others_before, await ratings_positions(args.bootstrap), group)
    finally:
        stop.set()
        if writing is not None:
            with contextlib.suppress(Exception):
                await writing
        following.cancel()
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await stop_members(members)
        await admin.close()

    buckets = await read_all_aggregates(args.bootstrap, presses.prefix)
    in_state = await presses_in_state(
        args.bootstrap, f"{group}-aggregator-state-changelog", presses.prefix
    )
    state_off = {
        store: {"written": n, "in_state": in_state[store]}
        for store, n in presses.per_store().items()
        if in_state[store] != n
    }
    counted, suppressed = counted_presses(buckets)
    mismatches = [
        {"store": store, "level": level, "written": presses.written[store, level],
         "counted": counted[store, level]}
        for store, level in sorted(set(presses.written) | set(counted))
        if presses.written[store, level] != counted[store, level]
    ]  # fmt: skip
    short = short_buckets(presses, buckets)
    tail_counted, _ = counted_presses(tail.buckets)
    handled = sum(m.events for m in members)
    records = sum(end - start.get(tp, 0) for tp, end in ends.items())
    # Whose stores: the partition of each store (Kafka's default partitioner, as written).
    partition_of = {
        presses.store(n): partition(presses.store(n), len(ends)) for n in range(presses.stores)
    }
    first_owned = set(owners["after_join"]["first"])
    killed = {store for store, p in partition_of.items() if p in first_owned}
    moved = {store for store, p in partition_of.items() if p in owners["after_join"]["joiner"]}

    def of(stores: set[str]) -> dict[str, list[float]]:
        return {store: times for store, times in state.updates.items() if store in stores}

    result = {
        "stores": presses.stores,
        "rate": args.rate,
        "session_timeout_s": args.session_timeout,
        "written": presses.total,
        "written_rate": presses.total / max(presses.stopped - presses.started, 1e-9),
        "counted": sum(counted.values()),
        "suppressed": sum(suppressed.values()),
        "mismatches": mismatches,
        "stores_with_mismatches": len({m["store"] for m in mismatches}),
        "buckets_off": short[:100],
        "survivor_ratings_by_outcome": outcomes,
        "other_groups_consuming": others,
        "tail_agrees_with_compacted_read": tail_counted == counted,
        "aggregates_were_complete": marks["complete"] - marks["stop"] < args.complete_within,
        "presses_in_the_groups_state": sum(in_state.values()),
        "stores_whose_state_is_off": state_off,
        "ratings_records_in_window": records,
        "ratings_records_of_others": records - presses.total,
        "ratings_handled_by_workers": handled,
        "ratings_handled_twice": handled - records,
        "partitions": owners,
        "timeline_s": {name: t - presses.started for name, t in marks.items()},
        "normal_update_gap_s": normal_gap(state.updates, presses.started, marks["join"]),
        "join": {
            "settled_s": marks["join_settled"] - marks["join"],
            "joiner_first_event_s": first_counted(members[1], marks["join"]),
            "stores_moved": len(moved),
            "all": pauses(state.updates, marks["join"], marks["kill"]),
            "moved": pauses(of(moved), marks["join"], marks["kill"]),
            "stayed": pauses(of(set(partition_of) - moved), marks["join"], marks["kill"]),
        },
        "kill": {
            "settled_s": marks["kill_settled"] - marks["kill"],
            "stores_of_the_killed": len(killed),
            "all": pauses(state.updates, marks["kill"], marks["stop"]),
            "killed": pauses(of(killed), marks["kill"], marks["stop"]),
            "survivor": pauses(of(set(partition_of) - killed), marks["kill"], marks["stop"]),
        },
        "complete_after_stop_s": marks["complete"] - marks["stop"],
        "store_updates": {
            store: [
                [round(w - presses.started, 3), round(r - presses.started, 3), n]
                for w, r, n in changes
            ]
            for store, changes in tail.history.items()
        },
    }
    if others:
        say(
            f"  warning: other consumer groups read these presses meanwhile ({', '.join(others)}): "
            "their workers write the same keys of the aggregates topic, so a mismatch may be "
            "theirs (use a broker of your own: --bootstrap)"
        )
    if mismatches:
        logs = RESULTS_DIR / f"scaleout-{group}-logs"
        logs.mkdir(parents=True, exist_ok=True)
        for log in (workdir / group).glob("*/*.log"):
            shutil.copyfile(log, logs / f"{log.parent.name}.log")
        result["worker_logs"] = str(logs.relative_to(REPO))
        say(f"  MISMATCH: the workers' logs are kept in {result['worker_logs']}")
    say(
        f"  written {result['written']:,}, counted {result['counted']:,} "
        f"(suppressed {result['suppressed']}), {len(mismatches)} mismatches over "
        f"{result['stores_with_mismatches']} stores; the workers handled {handled:,.0f} "
        f"ratings of {records:,} written by anyone ({handled - records:,.0f} twice)"
    )
    return result


async def ratings_positions(bootstrap: str) -> dict[str, dict[int, int]]:
    """Every consumer group's committed offsets on the ratings topic, by partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        positions = {}
        for group, _ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            positions[group] = {
                tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == RATINGS
            }
        return positions
    finally:
        await admin.close()


def foreign_consumers(
    before: dict[str, dict[int, int]], after: dict[str, dict[int, int]], ours: str
) -> list[str]:
    """Groups other than ours that consumed ratings while ours ran (new ones, or ones whose
    offsets moved): their workers aggregate our presses too and write the same keys of the
    shared aggregates topic, last writer wins, so a partial count of theirs can overwrite
    ours."""
    return sorted(
        group
        for group, offsets in after.items()
        if group != ours and offsets and offsets != before.get(group)
    )


def short_buckets(presses: Presses, buckets: dict[str, StoreAggregate]) -> list[dict[str, Any]]:
    """The buckets whose presses differ from those written, with when they were written
    (seconds after the first press), oldest first."""
    counted: Counter[tuple[str, dt.datetime]] = Counter()
    for aggregate in buckets.values():
        for figures in aggregate.ratings.values():
            counted[aggregate.store_id, aggregate.bucket_start] += sum(figures.presses)
    off = []
    for key in sorted(set(presses.buckets) | set(counted), key=lambda k: (k[1], k[0])):
        if presses.buckets[key] != counted[key]:
            since, until = presses.bucket_times.get(key, (presses.started, presses.started))
            off.append(
                {
                    "store": key[0],
                    "bucket_start": key[1].isoformat(),
                    "written": presses.buckets[key],
                    "counted": counted[key],
                    "written_from_s": since - presses.started,
                    "written_until_s": until - presses.started,
                }
            )
    return off


async def ratings_outcomes(port: int) -> dict[str, float]:
    """The worker's count of ratings handled, by outcome (from its /metrics)."""
    with contextlib.suppress(OSError, ConnectionError, TimeoutError):
        status, body = await asyncio.wait_for(http_get("127.0.0.1", port, "/metrics"), 3)
        if status == 200:
            outcomes: dict[str, float] = {}
            for line in body.decode(errors="replace").splitlines():
                if line.startswith("kioskpulse_aggregator_events_total{") and RATINGS in line:
                    labels, value = line.rsplit(" ", 1)
                    outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                    outcomes[outcome] = outcomes.get(outcome, 0.0) + float(value)
            return outcomes
    return {}


def partition(key: str, partitions: int) -> int:
    """The partition of ``key`` under Kafka's default partitioner (murmur2)."""
    return (int(murmur2(key.encode())) & 0x7FFFFFFF) % partitions


def first_counted(member: Member, since: float) -> float | None:
    for t, events, _ in member.samples:
        if events > 0:
            return t - since
    return None


async def watch(members: Sequence[Member], writing: asyncio.Task[None], seconds: float) -> None:
    """Sample the live workers for ``seconds`` while the presses flow (fail if they stop)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if writing.done():
            writing.result()
            raise SetupError("the press stream ended early")
        for member in members:
            if member.killed_at is None:
                member.service.check()
        await asyncio.gather(*(m.sample() for m in members))
        await asyncio.sleep(0.2)


# ============================================================================ main


def print_summary(report: dict[str, Any]) -> None:
    if "rate" in report:
        print("workers  combined events/s  vs k × 1 worker  per worker events/s (CPU of a core)")
        for k, m in report["rate"]["median"].items():
            per = ", ".join(
                f"{r:,.0f} ({c:.0%})"
                for r, c in zip(
                    m["per_worker_events_per_s"], m["per_worker_cpu_share"], strict=True
                )
            )
            scaling = f"{m['scaling']:.2f}" if m["scaling"] is not None else "–"
            print(f"{k:>7}  {m['events_per_s']:>17,.0f}  {scaling:>15}  {per}")
        cores = len(os.sched_getaffinity(0))
        print(
            f"(medians of {report['settings']['rounds']} round(s); {cores} cores shared by the "
            "workers, the broker and this script: more workers cannot add CPU here)"
        )
    for failure in report.get("rate", {}).get("failed", []):
        print(
            f"rate: {failure['workers']} worker(s), round {failure['round']} FAILED: "
            + failure["error"].splitlines()[0]
        )
    if "rebalance_failed" in report:
        print("rebalance: FAILED: " + report["rebalance_failed"].splitlines()[0])
    if "rebalance" in report:
        r = report["rebalance"]
        verdict = "EXACT" if not r["mismatches"] and not r["suppressed"] else "MISMATCH"
        state = "exact" if not r["stores_whose_state_is_off"] else "OFF"
        verdict += (
            f" (the group's own state {state}: {r['presses_in_the_groups_state']:,} presses; "
            f"aggregates {'were' if r['aggregates_were_complete'] else 'were never'} complete "
            "after the presses stopped)"
        )
        if r["other_groups_consuming"]:
            verdict += (
                f" (disturbed: {len(r['other_groups_consuming'])} other worker group(s) consumed "
                "these presses and write the same aggregate keys: "
                f"{', '.join(r['other_groups_consuming'][:5])})"
            )
        print(
            f"rebalance: {verdict}: {r['written']:,} presses written over {r['stores']} stores, "
            f"{r['counted']:,} counted, {r['suppressed']} suppressed, "
            f"{r['stores_with_mismatches']} stores off; {r['ratings_handled_twice']:,.0f} "
            "presses handled twice (absorbed)"
        )
        join, kill = r["join"], r["kill"]
        print(
            f"  join: group settled {join['settled_s']:.1f} s after the second worker started; "
            f"the state of the {join['stores_moved']} stores that moved stood still at most "
            f"{pause_of(join['moved'])}, the others {pause_of(join['stayed'])}"
        )
        print(
            f"  kill: group settled {kill['settled_s']:.1f} s after the SIGKILL (session "
            f"timeout {r['session_timeout_s']:g} s); the killed worker's "
            f"{kill['stores_of_the_killed']} stores' state stood still at most "
            f"{pause_of(kill['killed'])}, the survivor's {pause_of(kill['survivor'])}"
        )


def pause_of(figures: dict[str, Any]) -> str:
    if not figures.get("stores"):
        return "– (no stores)"
    return (
        f"{figures['longest_pause_s']:.1f} s (all moving again "
        f"{figures['all_stores_updating_again_s']:.1f} s after the fault)"
    )


async def orchestrate(args: argparse.Namespace) -> int:
    await check_broker(args.bootstrap)
    settings = Settings(kafka_bootstrap=args.bootstrap)
    await create_topics(settings, topic_specs(settings))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report: dict[str, Any] = {
        "benchmark": "scaleout",
        "started": stamp,
        "code": code_version(["kioskpulse", "stream_processors", "bench"]),
        "machine": machine_facts(["faust-streaming", "aiokafka", "pydantic"]),
        "settings": {k: v for k, v in vars(args).items() if k != "phases"},
        "topic_partitions": settings.topic_partitions,
    }
    status = 0
    with tempfile.TemporaryDirectory(prefix="kioskpulse-bench-scaleout-") as tmp:
        workdir = Path(tmp)
        if "rate" in args.phases:
            say(f"rate: {args.workers} workers, {args.rounds} round(s) of {args.events:,} events")
            report["rate"] = await rate_phase(args, workdir)
            if report["rate"]["failed"]:
                status = 2
        if "rebalance" in args.phases:
            say("rebalance: a worker joins, then one is killed, while presses flow")
            try:
                report["rebalance"] = await rebalance_phase(args, workdir)
            except SetupError as exc:
                say(f"  the rebalance phase failed: {exc}")
                report["rebalance_failed"] = str(exc)[-3000:]
                status = 2
            else:
                if report["rebalance"]["mismatches"] or report["rebalance"]["suppressed"]:
                    status = 1
    path = write_results("scaleout", stamp, report)
    say(f"results: {path.relative_to(REPO)}")
    print_summary(report)
    return status


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KIOSKPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        help="the Kafka broker; $KIOSKPULSE_KAFKA_BOOTSTRAP if set",
    )
    parser.add_argument(
        "--phases", nargs="+", default=["rate", "rebalance"], choices=["rate", "rebalance"],
        help="what to run",
    )  # fmt: skip
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2, 4],
        help="group sizes of the rate phase (1 is the reference)",
    )  # fmt: skip
    parser.add_argument(
        "--events", type=int, default=60_000, help="events per group size and round (rate)"
    )
    parser.add_argument(
        "--stores", type=int, default=2000, help="stores of the rate phase's events"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of the rate phase; medians are reported"
    )
    parser.add_argument(
        "--rate", type=float, default=800.0, help="presses/s written in the rebalance phase"
    )
    parser.add_argument(
        "--rebalance-stores", type=int, default=50, help="stores of the rebalance phase"
    )
    parser.add_argument(
        "--session-timeout", type=float, default=10.0,
        help="the workers' KIOSKPULSE_FAUST_SESSION_TIMEOUT_SECONDS in the rebalance phase: "
        "how soon a killed worker's partitions move (the product's default is 60)",
    )  # fmt: skip
    parser.add_argument(
        "--join-after", type=float, default=8.0,
        help="seconds of presses before the second worker starts",
    )  # fmt: skip
    parser.add_argument(
        "--kill-after", type=float, default=8.0,
        help="seconds of presses after the group of two settled before the kill",
    )  # fmt: skip
    parser.add_argument(
        "--stop-after", type=float, default=8.0,
        help="seconds of presses after the survivor settled",
    )  # fmt: skip
    parser.add_argument(
        "--settle-within", type=float, default=60.0,
        help="rate phase: workers not ready by then are restarted once (a worker can hang "
        "in faust's table recovery after a rebalance)",
    )  # fmt: skip
    parser.add_argument(
        "--complete-within", type=float, default=120.0,
        help="longest wait for the aggregates after the presses stop",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if "rate" in args.phases and any(k < 1 for k in args.workers):
        parser.error("--workers: group sizes start at 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_bench("scaleout.py", orchestrate(args), SetupError)


if __name__ == "__main__":
    sys.exit(main())

"""Bad and hostile input across the whole system, against real processes on the real broker.

1. schemathesis against the running API process, as the real devices;
2. malformed and oversized records written straight into every input topic of a
   running worker, between good ones;
3. replays and clocks: the same events again, events hours and days late, events
   from clocks far in the future, through the API and straight into the topics.

What must hold throughout: nothing crashes; every refusal has a reason (a 4xx with a
JSON ``detail``, or a dead letter with its source position and reason, counted);
nothing accepted is lost or counted twice (read back from the exporter's /metrics).
"""

from __future__ import annotations

import re
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import requests
import schemathesis
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation.modes import GenerationMode

from kioskpulse.devices import edit_registry
from kioskpulse.event_records import count_events
from kioskpulse.events import (
    DeadLetterHeaders,
    FaceObservation,
    FrameHeaders,
    Heartbeat,
    RatingEvent,
)
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES, DEADLETTER, FACES, FRAMES, HEARTBEATS, RATINGS
from tests.support.aggregates import aggregate
from tests.support.api_fuzzing import (
    DEVICE_ENDPOINTS,
    KIOSK_CONFIG,
    PAIRING,
    PAIRING_REFUSALS,
    answers_to,
    steer_case,
)
from tests.support.kafka import end_offsets, latest_aggregates, read_until
from tests.support.processes import (
    RunningApi,
    Worker,
    exporter_process,
    metric_samples,
    unique_app_id,
)

# ====================================================================== 1. the API

MIN_CASES = 500
#: The endpoints without parameters: each is called once after every generated case,
#: so they are probed while the device endpoints are under attack.
PROBES = ("/healthz", "/readyz", "/metrics")


@pytest.fixture(scope="module")
def api_schema(api: RunningApi) -> Any:
    """The OpenAPI schema as the running process serves it."""
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def test_every_endpoint_of_the_schema_is_fuzzed(api_schema: Any) -> None:
    served = set()
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        served.add((result.ok().path, result.ok().method.upper()))
    fuzzed = {(path, method) for path, method, _ in DEVICE_ENDPOINTS} | {PAIRING, KIOSK_CONFIG}
    assert served == fuzzed | {(path, "GET") for path in PROBES}


@pytest.mark.parametrize(("path", "method", "identity"), DEVICE_ENDPOINTS)
def test_the_running_api_answers_every_generated_request_with_a_reason(
    api: RunningApi, api_schema: Any, path: str, method: str, identity: dict[str, str]
) -> None:
    operation = api_schema[path][method]
    [device] = identity.values()
    auth = api.fleet.auth(device)
    # As the device whose id is in the path, so that requests get past
    # authentication to validation and publishing.
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=identity, headers=auth),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=identity, headers=auth),
    )
    probes = st.tuples(*(api_schema[probe]["GET"].as_strategy() for probe in PROBES))
    statuses: dict[str, Counter[int]] = {}

    @given(case=cases, probe_cases=probes, steer=st.booleans())
    @settings(
        max_examples=MIN_CASES + 20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(
        case: schemathesis.Case, probe_cases: tuple[schemathesis.Case, ...], steer: bool
    ) -> None:
        if steer:
            steer_case(case)
        for each in (case, *probe_cases):
            response = each.call(session=session, timeout=30)
            statuses.setdefault(each.path, Counter())[response.status_code] += 1
            assert_answer_has_a_reason(each, response)

    with requests.Session() as session:  # keep-alive: the run is about the API, not TCP
        run()
    summary = {each: dict(sorted(statuses[each].items())) for each in (path, *PROBES)}
    print(f"{method} {path} answered {summary}")  # the run's figures, shown with -s
    assert api.process.poll() is None, "the API process died"
    answered = statuses[path]
    assert answered.total() >= MIN_CASES, f"only {answered.total()} cases: {answered}"
    assert answered[202] > 0, f"no request went through: {answered}"
    for probe in PROBES:
        assert statuses[probe].total() >= MIN_CASES
    assert set(statuses["/healthz"]) == {200}
    assert set(statuses["/metrics"]) == {200}
    assert set(statuses["/readyz"]) <= {200, 503}


def test_the_running_api_refuses_every_generated_pairing_code_with_a_reason(
    api: RunningApi, api_schema: Any
) -> None:
    def refused(case: schemathesis.Case, response: Response) -> None:
        assert_answer_has_a_reason(case, response)
        assert response.status_code in PAIRING_REFUSALS, case.as_curl_command()

    with requests.Session() as session:
        statuses = answers_to(
            api_schema[PAIRING[0]][PAIRING[1]].as_strategy(),
            MIN_CASES,
            lambda case: case.call(session=session, timeout=30),
            refused,
        )
    assert statuses.total() >= MIN_CASES
    assert api.process.poll() is None, "the API process died"


def test_the_kiosk_config_answers_made_up_kiosks_and_tokens_with_a_reason(
    api: RunningApi, api_schema: Any
) -> None:
    operation = api_schema[KIOSK_CONFIG[0]][KIOSK_CONFIG[1]]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        operation.as_strategy(path_parameters={"kiosk_id": "k1"}, headers=api.fleet.auth("k1")),
    )
    with requests.Session() as session:
        statuses = answers_to(
            cases,
            MIN_CASES,
            lambda case: case.call(session=session, timeout=30),
            assert_answer_has_a_reason,
        )
    assert statuses[200] > 0, f"the real kiosk never got its configuration: {statuses}"
    assert statuses[401] > 0, f"no made-up token was refused: {statuses}"


def test_a_frame_too_large_for_one_kafka_record_gets_413_not_503(api: RunningApi) -> None:
    """A frame travels as one record: one the broker cannot take is the device's fault
    (413: do not retry), not an outage (503: retry, for ever)."""
    auth = {**api.fleet.auth("cam-floor"), "Content-Type": "image/jpeg"}
    url = f"{api.url}/v1/cameras/cam-floor/frames"
    limit = Settings().max_frame_bytes
    for size, status in ((limit, 202), (limit + 1, 413), (1_500_000, 413)):
        body = b"\xff\xd8\xff" + b"\0" * (size - 3)
        response = httpx.post(url, content=body, headers=auth, timeout=30)
        assert response.status_code == status, (size, response.text)
    assert "larger than the limit" in response.json()["detail"]


def assert_answer_has_a_reason(case: schemathesis.Case, response: Response) -> None:
    status = response.status_code
    headers = {name: values[0] for name, values in response.headers.items()}  # lower-case names

    def where() -> str:
        return f"{status} for {case.as_curl_command()}: {response.text[:500]}"

    # 503 is the one server-side answer a device may get: the broker did not take
    # the write, retry later.
    assert status < 500 or status == 503, where()
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/json"), where()
        assert response.json().get("detail"), where()
    if status == 503:
        assert headers.get("retry-after"), where()


# ====================================================================== records and processes

Position = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True, eq=False)  # two equal records are still two records
class Message:
    """A record to write straight into a topic; ``reason``: the dead letter it must cause."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    reason: str | None = None


async def produce_in_order(bootstrap: str, messages: Sequence[Message]) -> list[Position]:
    """Write each message and wait for its ack before the next; where each one landed."""
    # Larger than the broker's limit, so that the broker, not the client, judges size.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 << 20)
    await producer.start()
    try:
        positions = []
        for message in messages:
            sent = await producer.send_and_wait(
                message.topic, message.value, key=message.key, headers=list(message.headers)
            )
            positions.append((message.topic, sent.partition, sent.offset))
        return positions
    finally:
        await producer.stop()


async def topic_max_message_bytes(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
        [response] = await admin.describe_configs([resource])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    [(_, value, *_)] = entries
    return int(value)


async def dead_letters_of(
    bootstrap: str, start: dict[TopicPartition, int], positions: Sequence[Position]
) -> dict[Position, DeadLetterHeaders]:
    """The dead letters of the records at ``positions``, by position (those that came)."""
    wanted = set(positions)

    def by_position(records: list[ConsumerRecord[bytes, bytes]]) -> dict[Position, Any]:
        found = {}
        for record in records:
            headers = DeadLetterHeaders.from_headers(record.headers)
            where = (headers.source_topic, headers.source_partition, headers.source_offset)
            if where in wanted:
                found[where] = headers
        return found

    records = await read_until(
        bootstrap, start, lambda got: len(by_position(got)) == len(wanted), within=60
    )
    return by_position(records)


_LABEL = re.compile(r'(\w+)="([^"]*)"')


def labelled(
    samples: dict[str, float], name: str, labels: Sequence[str]
) -> Counter[tuple[str, ...]]:
    """The samples of counter ``name`` by the values of ``labels``, in that order."""
    found: Counter[tuple[str, ...]] = Counter()
    for sample, value in samples.items():
        if sample.startswith(name + "{"):
            values = dict(_LABEL.findall(sample))
            found[tuple(values[label] for label in labels)] = int(value)
    return found


def worker_samples(worker: Worker) -> dict[str, float]:
    response = httpx.get(f"{worker.web_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return metric_samples(response.text)


def dead_letters_counted(worker: Worker) -> Counter[tuple[str, ...]]:
    """The worker's dead-letter counter by (source topic, reason)."""
    return labelled(
        worker_samples(worker), "kioskpulse_pipeline_dead_letters_total", ("source_topic", "reason")
    )


def increase(after: Counter[Any], before: Counter[Any]) -> Counter[Any]:
    return Counter({key: after[key] - before[key] for key in after if after[key] != before[key]})


def assert_worker_healthy(worker: Worker) -> None:
    """Alive, answering, and no agent of it crashed (faust restarts a crashed agent, the
    process lives on: only its log tells)."""
    assert worker.alive(), f"the worker died:\n{worker.tail()}"
    worker_samples(worker)
    assert "Crashed reason=" not in worker.read_text(), worker.tail(6000)


def wait_for(
    read: Callable[[], dict[str, float]], want: dict[str, float], within: float = 60
) -> dict[str, float]:
    """Read until the samples in ``want`` have their values (or the time is up); the last
    reading of them, for the caller's assertion."""
    deadline = time.monotonic() + within
    while True:
        seen = read()
        mine = {name: seen.get(name) for name in want}
        if mine == want or time.monotonic() > deadline:
            return {name: value for name, value in mine.items() if value is not None}
        time.sleep(0.5)


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A worker of its own (consumer group, changelog), from today's end of its inputs."""
    worker = Worker(
        tmp_path_factory.mktemp("hostile-worker"), kafka_bootstrap, unique_app_id("hostile")
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def exporter(
    api: RunningApi, worker: Worker, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The exporter as its own process, reading the aggregates from the start."""
    directory = tmp_path_factory.mktemp("hostile-exporter")
    with exporter_process(kafka_bootstrap, directory, api.fleet.path) as url:
        yield url


def reader(url: str) -> Callable[[], dict[str, float]]:
    """What a process's /metrics says now, sample by sample, for ``wait_for``."""
    return lambda: metric_samples(httpx.get(f"{url}/metrics", timeout=10).text)


# ====================================================================== 2. poison in every topic

HAPPY = [0.02, 0.01, 0.02, 0.85, 0.03, 0.03, 0.04]


def jpeg(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    pixels = np.zeros((height, width, 3), np.uint8)
    if noise:
        pixels = np.random.default_rng(5).integers(0, 255, (height, width, 3), np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    return bytes(encoded)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + b"\0" * 4 + b"IEND\xaeB`\x82"


def jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny JPEG whose start-of-frame claims ``width`` × ``height`` pixels."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


@dataclass(frozen=True)
class Shop:
    """Identities for records written straight into the topics (the worker trusts them)."""

    store: str

    @property
    def key(self) -> bytes:
        return self.store.encode()

    def rating(self, at: datetime, level: int = 4) -> RatingEvent:
        return RatingEvent(
            event_id=uuid.uuid4(), rating=level, pressed_at=at, kiosk_id=f"{self.store}-k",
            store_id=self.store, received_at=datetime.now(UTC),
        )  # fmt: skip

    def heartbeat(self, at: datetime, buffered: int = 0) -> Heartbeat:
        return Heartbeat(
            sent_at=at, buffered=buffered, kiosk_id=f"{self.store}-k", store_id=self.store,
            received_at=datetime.now(UTC),
        )  # fmt: skip

    def face(self, at: datetime, track: str = "t") -> FaceObservation:
        return FaceObservation(
            track_id=track, captured_at=at, probs=HAPPY, camera_id=f"{self.store}-floor",
            store_id=self.store, role="floor", source="edge",
        )  # fmt: skip

    def frame_headers(self, at: datetime) -> tuple[tuple[str, bytes], ...]:
        headers = FrameHeaders(
            camera_id=f"{self.store}-cam", store_id=self.store, role="floor", captured_at=at,
            content_type="image/jpeg",
        )  # fmt: skip
        return tuple(headers.to_headers())


def good_messages(shop: Shop, now: datetime, limit: int) -> list[Message]:
    """Presses 6 s apart (none suppressed), one padded to near the broker's limit; two
    visitors seen twice each; a heartbeat; two frames."""
    key, start = shop.key, now - timedelta(minutes=20)
    presses = [shop.rating(start + timedelta(seconds=6 * i), 1 + i % 4) for i in range(12)]
    messages = [Message(RATINGS, key, press.to_bytes()) for press in presses]
    big = shop.rating(start + timedelta(seconds=6 * 12), 2).to_bytes()
    # JSON allows whitespace: a valid event of almost the largest size a record may have.
    messages.append(Message(RATINGS, key, big[:-1] + b" " * (limit - len(big) - 1024) + b"}"))
    for track in ("v1", "v2"):
        for second in (0, 1):
            at = now - timedelta(minutes=2, seconds=-second)
            messages.append(Message(FACES, key, shop.face(at, track).to_bytes()))
    messages.append(Message(HEARTBEATS, key, shop.heartbeat(now, buffered=7).to_bytes()))
    frame_key = f"{shop.store}-cam".encode()
    for _ in range(2):
        messages.append(Message(FRAMES, frame_key, jpeg(), shop.frame_headers(now)))
    return messages


def poison_messages(shop: Shop, now: datetime, limit: int) -> list[Message]:
    """Every kind of bad record, on every input topic, with the reason it must get."""
    key, rating = shop.key, shop.rating(now - timedelta(minutes=1)).to_bytes()
    heartbeat, face = shop.heartbeat(now).to_bytes(), shop.face(now).to_bytes()
    huge = limit - 1024  # room for the key, the headers and the record's framing

    def bad(topic: str, value: bytes, record_key: bytes | None = key) -> Message:
        return Message(topic, record_key, value, reason="malformed")

    store_keyed = [
        bad(RATINGS, b"\x00\xff\xfe not JSON at all"),
        bad(RATINGS, b""),
        bad(RATINGS, b"null"),
        bad(RATINGS, b"[1, 2, 3]"),
        bad(RATINGS, rating.replace(b'"rating":4', b'"rating":9')),  # beyond the scale
        bad(RATINGS, rating.replace(b'"schema_version":1', b'"schema_version":2')),
        bad(RATINGS, rating.replace(b'"rating":4', b'"rating":1e400')),  # infinity
        bad(RATINGS, rating.replace(b'"rating":4', b'"rating":4,"extra":1')),
        bad(RATINGS, rating, b"some-other-store"),  # keyed by another store than its own
        bad(RATINGS, rating, None),
        bad(RATINGS, b"[" * 100_000 + b"]" * 100_000),  # deeper than the parser goes
        bad(RATINGS, b'{"padding": "' + b"x" * (huge - 16) + b'"}'),  # near the limit
        bad(HEARTBEATS, heartbeat.replace(b'"buffered":0', b'"buffered":-1')),
        bad(HEARTBEATS, b"\xff" * 64),
        bad(HEARTBEATS, heartbeat, b"some-other-store"),
        bad(FACES, face.replace(b'"role":"floor"', b'"role":"ceiling"')),
        bad(FACES, face.replace(b"[0.02,", b"[")),  # six probabilities, not seven
        bad(FACES, face[: len(face) // 2]),
        bad(FACES, face, b"some-other-store"),
    ]
    frame_key, headers = f"{shop.store}-cam".encode(), shop.frame_headers(now)

    def frame(
        value: bytes, reason: str, frame_headers: Sequence[tuple[str, bytes]] = headers
    ) -> Message:
        return Message(FRAMES, frame_key, value, tuple(frame_headers), reason)

    def without(name: str) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in headers if k != name]

    frames = [
        frame(jpeg(), "bad_headers", ()),
        frame(jpeg(), "bad_headers", without("captured_at")),
        frame(jpeg(), "bad_headers", [*without("captured_at"), ("captured_at", b"yesterday")]),
        frame(jpeg(), "bad_headers", [*without("content_type"), ("content_type", b"text/html")]),
        frame(b"GIF89a garbage, not an image", "undecodable"),
        frame(b"\xff\xd8" + b"\x00" * 4096, "undecodable"),  # a JPEG signature, then nothing
        frame(b"\xff\xd8" + b"\x00" * (huge - 2), "undecodable"),  # near the limit
        frame(png_declaring(60_000, 60_000), "too_large"),  # a frame bomb
        frame(jpeg_declaring(65_535, 65_535), "too_large"),
        frame(jpeg(640, 480, noise=True)[:20_000], "truncated"),
        frame(b"", "empty"),
    ]
    return store_keyed + frames


def alternate(first: Sequence[Message], second: Sequence[Message]) -> list[Message]:
    """One of each in turn, then the rest: poison between good records, each list in order."""
    mixed: list[Message] = []
    for i in range(max(len(first), len(second))):
        mixed.extend(first[i : i + 1])
        mixed.extend(second[i : i + 1])
    return mixed


async def test_records_over_the_brokers_limit_are_refused_by_the_broker(
    kafka_bootstrap: str,
) -> None:
    """What a worker never sees: the broker refuses a record over max.message.bytes."""
    for topic in (RATINGS, HEARTBEATS, FRAMES, FACES):
        limit = await topic_max_message_bytes(kafka_bootstrap, topic)
        with pytest.raises(KafkaError, match="MessageSizeTooLarge"):
            await produce_in_order(kafka_bootstrap, [Message(topic, b"k", b"x" * (limit + 1))])


async def test_poison_in_every_input_topic_is_dead_lettered_and_the_good_records_count_once(
    worker: Worker, exporter: str, kafka_bootstrap: str
) -> None:
    shop, now = Shop(f"hostile-{uuid.uuid4().hex[:8]}"), datetime.now(UTC)
    limit = min([await topic_max_message_bytes(kafka_bootstrap, t) for t in (RATINGS, FRAMES)])
    good, poison = good_messages(shop, now, limit), poison_messages(shop, now, limit)
    dead_letters_start = await end_offsets(kafka_bootstrap, DEADLETTER)
    counted_before = dead_letters_counted(worker)
    frames_before = labelled(worker_samples(worker), "kioskpulse_vision_frames_total", ("outcome",))

    mixed = alternate(good, poison)
    positions = dict(zip(mixed, await produce_in_order(kafka_bootstrap, mixed), strict=True))

    poisoned = [positions[message] for message in poison]
    letters = await dead_letters_of(kafka_bootstrap, dead_letters_start, poisoned)
    assert len(letters) == len(poison), f"{len(letters)} of {len(poison)}:\n{worker.tail()}"
    for message in poison:
        headers = letters[positions[message]]
        assert headers.reason == message.reason, (message, headers)
        assert headers.error_class, headers
        assert headers.error_message, headers
        assert headers.original_size == len(message.value)
    for message in good:
        assert positions[message] not in letters
    # Exactly one count per poison record, by topic and reason.
    want = Counter((m.topic, m.reason) for m in poison)
    assert increase(dead_letters_counted(worker), counted_before) == want

    expected = Counter(RatingEvent.from_bytes(m.value).rating for m in good if m.topic == RATINGS)
    store = shop.store
    totals = {
        f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="{level}"}}': float(
            expected[level]
        )
        for level in range(1, 5)
    }
    totals[f'kioskpulse_ratings_suppressed_total{{store="{store}"}}'] = 0.0
    totals[f'kioskpulse_visitors_total{{store="{store}"}}'] = 2.0  # tracks close after 10 s
    totals[f'kioskpulse_kiosk_buffered_events{{store="{store}",kiosk="{store}-k"}}'] = 7.0
    assert wait_for(reader(exporter), totals) == totals, worker.tail()
    frames_after = labelled(worker_samples(worker), "kioskpulse_vision_frames_total", ("outcome",))
    assert frames_after[("ok",)] - frames_before.get(("ok",), 0.0) == 2
    assert_worker_healthy(worker)


# ====================================================================== 3. replays and clocks


def bucket_of(at: datetime, seconds: int = 60) -> datetime:
    """The start of the aggregator's bucket (KIOSKPULSE_AGGREGATE_BUCKET_SECONDS) holding ``at``."""
    return datetime.fromtimestamp(at.timestamp() // seconds * seconds, UTC)


@pytest.fixture(scope="module")
def site(api: RunningApi) -> tuple[Shop, dict[str, str]]:
    """A store of its own in the running API's registry, with a kiosk and a floor camera."""
    shop = Shop(f"clock-{uuid.uuid4().hex[:8]}")
    with edit_registry(api.fleet.path) as registry:
        registry.add_store(shop.store)
        tokens = {
            "kiosk": registry.add_kiosk(f"{shop.store}-k", shop.store, 4),
            "camera": registry.add_camera(f"{shop.store}-floor", shop.store, "floor"),
        }
    # The API re-reads the registry every second: an empty body is refused as invalid
    # (422) once it knows the kiosk, as unauthorised (401) before.
    deadline = time.monotonic() + 15
    while True:
        response = httpx.post(
            f"{api.url}/v1/kiosks/{shop.store}-k/ratings",
            json={},
            headers={"Authorization": f"Bearer {tokens['kiosk']}"},
        )
        if response.status_code == 422 or time.monotonic() > deadline:
            assert response.status_code == 422, response.text
            return shop, tokens
        time.sleep(0.2)


def refusal_messages(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return " ".join(error["msg"] for error in response.json()["detail"])


def post_ratings(
    client: httpx.Client, shop: Shop, token: str, presses: Sequence[tuple[datetime, int]]
) -> httpx.Response:
    body = {
        "ratings": [
            {"event_id": str(uuid.uuid4()), "rating": level, "pressed_at": at.isoformat()}
            for at, level in presses
        ]
    }
    return client.post(
        f"/v1/kiosks/{shop.store}-k/ratings",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_api_refuses_clocks_far_ahead_and_events_past_the_lateness_with_a_reason(
    api: RunningApi, site: tuple[Shop, dict[str, str]]
) -> None:
    shop, tokens = site
    now = datetime.now(UTC)
    kiosk = {"Authorization": f"Bearer {tokens['kiosk']}"}
    camera = {"Authorization": f"Bearer {tokens['camera']}"}
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for ahead in (timedelta(minutes=10), timedelta(days=2), timedelta(days=3 * 365)):
            response = post_ratings(client, shop, tokens["kiosk"], [(now + ahead, 3)])
            assert "in the future" in refusal_messages(response)
        response = post_ratings(client, shop, tokens["kiosk"], [(now - timedelta(days=3), 3)])
        assert "older than the allowed lateness" in refusal_messages(response)
        year_ahead = (now + timedelta(days=365)).isoformat()
        response = client.post(
            f"/v1/kiosks/{shop.store}-k/heartbeat",
            json={"sent_at": year_ahead, "buffered": 0},
            headers=kiosk,
        )
        assert "in the future" in refusal_messages(response)
        seen = {"track_id": "t", "captured_at": year_ahead, "probs": HAPPY}
        response = client.post(
            f"/v1/cameras/{shop.store}-floor/observations",
            json={"observations": [seen]},
            headers=camera,
        )
        assert "in the future" in refusal_messages(response)
        response = client.post(
            f"/v1/cameras/{shop.store}-floor/frames",
            content=jpeg(),
            params={"captured_at": year_ahead},
            headers={**camera, "Content-Type": "image/jpeg"},
        )
        assert "in the future" in refusal_messages(response)


async def test_replays_late_events_and_clocks_far_ahead_count_once_in_the_right_bucket(
    api: RunningApi,
    site: tuple[Shop, dict[str, str]],
    worker: Worker,
    exporter: str,
    kafka_bootstrap: str,
) -> None:
    shop, tokens = site
    now = datetime.now(UTC)
    ratings_start = await end_offsets(kafka_bootstrap, RATINGS)
    dead_letters_start = await end_offsets(kafka_bootstrap, DEADLETTER)
    counted_before = dead_letters_counted(worker)
    events_before = stage_events(worker)

    # Through the API: presses of ten minutes ago, and a kiosk's buffer five hours late.
    accepted = [(now - timedelta(minutes=10, seconds=-6 * i), 1 + i % 4) for i in range(8)]
    accepted += [(now - timedelta(hours=5, seconds=-6 * i), 1 + i % 2) for i in range(3)]
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for batch in (accepted[:8], accepted[8:]):
            response = post_ratings(client, shop, tokens["kiosk"], batch)
            assert response.status_code == 202, response.text

    # The same batches again, straight into the topic: what the API wrote, byte for byte.
    def ours(records: list[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in records if r.key == shop.key]

    def events(records: Sequence[Any]) -> int:  # a request's ratings share one record
        return sum(count_events(r.value) for r in records)

    written = ours(
        await read_until(kafka_bootstrap, ratings_start, lambda got: events(ours(got)) >= 11, 60)
    )
    assert events(written) == 11
    replay = [Message(RATINGS, r.key, r.value, tuple(r.headers)) for r in written]
    # A day's lateness is allowed: twenty hours late counts; three days late is refused.
    late = [(now - timedelta(hours=20, seconds=-6 * i), 4) for i in range(2)]
    accepted += late
    too_late = [now - timedelta(days=3, seconds=-6 * i) for i in range(2)]
    # Clocks far ahead; then a press of now, which must still count.
    ahead = [now + timedelta(days=3), now + timedelta(days=2 * 365)]
    ahead.append(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    current = (now - timedelta(minutes=2), 1)
    accepted.append(current)
    key = shop.key
    refused = [
        *(Message(RATINGS, key, shop.rating(at).to_bytes(), reason="too_late") for at in too_late),
        *(Message(RATINGS, key, shop.rating(at).to_bytes(), reason="too_early") for at in ahead),
        Message(
            HEARTBEATS, key, shop.heartbeat(now + timedelta(days=10)).to_bytes(), reason="too_early"
        ),
        Message(FACES, key, shop.face(now + timedelta(days=365)).to_bytes(), reason="too_early"),
    ]
    messages = [
        *replay,
        *(Message(RATINGS, key, shop.rating(at, level).to_bytes()) for at, level in late),
        *refused,
        Message(RATINGS, key, shop.rating(*current).to_bytes()),
    ]
    positions = dict(zip(messages, await produce_in_order(kafka_bootstrap, messages), strict=True))
    # And through the API once more, after the clocks from the future.
    with httpx.Client(base_url=api.url, timeout=10) as client:
        last = (now - timedelta(minutes=1), 3)
        response = post_ratings(client, shop, tokens["kiosk"], [last])
        assert response.status_code == 202, response.text
        accepted.append(last)

    letters = await dead_letters_of(
        kafka_bootstrap, dead_letters_start, [positions[m] for m in refused]
    )
    assert len(letters) == len(refused), f"{len(letters)} of {len(refused)}:\n{worker.tail()}"
    for message in refused:
        headers = letters[positions[message]]
        assert headers.reason == message.reason, headers
        why = "ahead of the worker's clock" if message.reason == "too_early" else "lateness"
        assert why in headers.error_message, headers
    assert increase(dead_letters_counted(worker), counted_before) == Counter(
        (m.topic, m.reason) for m in refused
    )
    duplicates = increase(stage_events(worker), events_before)[(RATINGS, "duplicate")]
    assert duplicates == events(replay)

    # Counted once each, in the bucket of its own time, and nothing in the future.
    store = shop.store
    levels = Counter(level for _, level in accepted)
    totals = {
        f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="{level}"}}': float(
            levels[level]
        )
        for level in range(1, 5)
    }
    assert wait_for(reader(exporter), totals) == totals, worker.tail()
    buckets = await latest_aggregates(kafka_bootstrap, store, exact=True)
    presses = {
        value.bucket_start: sum(sum(s.presses) for s in value.ratings.values())
        for value in buckets.values()
    }
    assert {start: n for start, n in presses.items() if n} == Counter(
        bucket_of(at) for at, _ in accepted
    )
    assert max(presses) <= now + timedelta(minutes=5)
    assert_worker_healthy(worker)


async def test_the_exporter_refuses_aggregates_dated_far_ahead_and_keeps_exact_counts(
    worker: Worker, exporter: str, kafka_bootstrap: str
) -> None:
    """store.aggregates.v1 is internal, but a worker with a wrong clock (or a forger)
    could write to it: one aggregate from years ahead must not blur current figures."""
    shop, now = Shop(f"ahead-{uuid.uuid4().hex[:8]}"), datetime.now(UTC)
    store, key = shop.store, shop.key
    first = [now - timedelta(minutes=3, seconds=-6 * i) for i in range(2)]
    await produce_in_order(
        kafka_bootstrap, [Message(RATINGS, key, shop.rating(at, 1).to_bytes()) for at in first]
    )
    total = f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="1"}}'
    assert wait_for(reader(exporter), {total: 2.0}) == {total: 2.0}
    invalid = "kioskpulse_exporter_aggregates_invalid_total"
    invalid_before = reader(exporter)()[invalid]

    two_years = timedelta(days=2 * 365)
    fake = aggregate(store, presses={4: [0, 0, 0, 5]})
    forged = [
        fake.model_copy(update={"bucket_start": bucket_of(now + two_years), "updated_at": now}),
        fake.model_copy(
            update={"bucket_start": bucket_of(first[0]), "updated_at": now + two_years}
        ),
    ]
    await produce_in_order(
        kafka_bootstrap, [Message(AGGREGATES, f.key.encode(), f.to_bytes()) for f in forged]
    )
    # One more press in the first bucket: its next upsert must replace its counts.
    third = first[0] + timedelta(seconds=12)
    await produce_in_order(
        kafka_bootstrap, [Message(RATINGS, key, shop.rating(third, 1).to_bytes())]
    )
    want = {
        f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="{level}"}}': float(n)
        for level, n in ((1, 3), (2, 0), (3, 0), (4, 0))
    }
    want[invalid] = invalid_before + len(forged)
    assert wait_for(reader(exporter), want) == want


def stage_events(worker: Worker) -> Counter[tuple[str, ...]]:
    """The aggregator's events by (topic, outcome), from the worker's /metrics."""
    return labelled(
        worker_samples(worker), "kioskpulse_aggregator_events_total", ("topic", "outcome")
    )

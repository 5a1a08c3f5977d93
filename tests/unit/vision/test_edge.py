"""The edge agent: a real video file in, the real API (in-process bus) out."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest

from kiosk_api import create_app
from kioskpulse.bus.memory import MemoryBus
from kioskpulse.cli import main
from kioskpulse.device_client import RetryPolicy
from kioskpulse.devices import edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FrameHeaders, KioskZone
from kioskpulse.topics import FACES, FRAMES
from tests.support.fleet import Fleet, memory_settings
from tests.support.images import ASTRONAUT_FRAMES
from vision import edge
from vision.edge import AgentOptions, EdgeAgent
from vision.pipeline import AnalysedFrame, FramePipeline

VIDEO_FPS, VIDEO_FRAMES = 10, 30  # three seconds


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "astronaut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (640, 480))
    assert writer.isOpened()
    frame = ASTRONAUT_FRAMES["640x480"]()
    for _ in range(VIDEO_FRAMES):
        writer.write(frame)
    writer.release()
    return path


class FlakyNetwork(httpx.AsyncBaseTransport):
    """The real API behind a connection that fails the first ``failures`` requests."""

    def __init__(self, app: Any, failures: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures > 0:
            self.failures -= 1
            raise httpx.ConnectError("network down", request=request)
        return await self.inner.handle_async_request(request)


def agent_for(
    fleet: Fleet,
    bus: MemoryBus,
    video: Path,
    failures: int = 0,
    retry: RetryPolicy = edge.RETRY,
    **kw: Any,
) -> EdgeAgent:
    app = create_app(memory_settings(fleet), bus=bus, manage_bus=False)
    client = httpx.AsyncClient(transport=FlakyNetwork(app, failures), base_url="http://api")
    options = AgentOptions(
        source=str(video), camera_id="cam-floor", token=fleet.tokens["cam-floor"],
        api="http://api", fps=2.0, **kw,
    )  # fmt: skip
    # A pipeline of its own: trackers must not carry faces over from other tests.
    return EdgeAgent(
        options, pipeline=FramePipeline(), client=client, out=io.StringIO(), retry=retry
    )


async def test_observations_mode_sends_only_observations(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    stats = await agent_for(fleet, bus, video).run()
    assert stats.frames_read == 6, "3 s of video sampled at 2 frames/s"
    assert bus.records(FRAMES) == [], "no image leaves the store"
    faces = events_in(bus.records(FACES), FaceObservation)
    assert len(faces) == stats.observations_sent == 6
    assert {(f.store_id, f.role, f.source) for f in faces} == {("s1", "floor", "edge")}
    assert len({f.track_id for f in faces}) == 1, "one visitor in the whole clip"
    times = [f.captured_at for f in faces]
    assert times == sorted(times)
    assert (times[-1] - times[0]).total_seconds() == pytest.approx(2.5, abs=0.11)


async def test_frames_mode_posts_jpegs(fleet: Fleet, bus: MemoryBus, video: Path) -> None:
    stats = await agent_for(fleet, bus, video, mode="frames").run()
    frames = bus.records(FRAMES)
    assert len(frames) == stats.frames_sent == 6
    assert frames[0].value.startswith(b"\xff\xd8\xff")
    assert FrameHeaders.from_headers(frames[0].headers).store_id == "s1"


@pytest.mark.parametrize(
    ("zone", "kiosk"), [("k1:0,0,640,480", "k1"), ("k1:0,0,100,100", None), (None, None)]
)
async def test_the_api_stamps_the_kiosk_zone_on_an_edge_agents_faces(
    fleet: Fleet, bus: MemoryBus, video: Path, zone: str | None, kiosk: str | None
) -> None:
    with edit_registry(fleet.path) as registry:
        registry.configure_camera(
            "cam-floor", kiosk_zone=KioskZone.parse(zone) if zone is not None else None
        )
    await agent_for(fleet, bus, video).run()
    faces = events_in(bus.records(FACES), FaceObservation)
    assert len(faces) == 6
    assert {f.zone_kiosk_id for f in faces} == {kiosk}


async def test_frames_mode_frames_carry_the_kiosk_zone(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    zone = KioskZone.parse("k1:0,0,640,480")
    with edit_registry(fleet.path) as registry:
        registry.configure_camera("cam-floor", kiosk_zone=zone)
    await agent_for(fleet, bus, video, mode="frames").run()
    frames = bus.records(FRAMES)
    assert {FrameHeaders.from_headers(f.headers).kiosk_zone for f in frames} == {zone}


async def test_network_errors_are_retried_and_nothing_is_lost(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    fast = RetryPolicy(max_attempts=None, backoff=0.01, max_backoff=0.02)
    agent = agent_for(fleet, bus, video, failures=3, retry=fast)
    stats = await agent.run()
    assert stats.retries == 3
    assert len(events_in(bus.records(FACES), FaceObservation)) == stats.observations_sent == 6
    assert isinstance(agent._out, io.StringIO)
    assert agent._out.getvalue().count("ConnectError: network down; retrying in 0.0") == 3


async def test_while_the_api_is_down_reading_goes_on_and_the_buffer_is_bounded(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    # A 2 s outage: the 6 frames are read meanwhile; 1 observation is in flight,
    # 2 wait in the buffer, the oldest others are dropped and counted.
    # upload_seconds=0: the first observation must be in flight (posting at once) for
    # the outage to overlap the reading; gathered for 1 s, the whole clip could be
    # read before the first upload and the outage would only hit the final drain.
    steady = RetryPolicy(max_attempts=None, backoff=0.5, max_backoff=0.5, jitter=0.0)
    stats = await agent_for(
        fleet, bus, video, failures=4, retry=steady, max_buffer=2, upload_seconds=0
    ).run()
    assert stats.frames_read == 6
    assert stats.dropped >= 1
    assert stats.observations_sent + stats.dropped == 6
    assert len(events_in(bus.records(FACES), FaceObservation)) == stats.observations_sent


async def test_uploads_gather_observations_for_the_upload_interval(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    agent = agent_for(fleet, bus, video)
    assert agent.options.upload_seconds == 2.0, "the default"
    stats = await agent.run()
    uploads = len(bus.records(FACES))  # one Kafka record per request (one store)
    assert 1 <= uploads < stats.frames_read == 6, "several frames' faces per upload"
    faces = events_in(bus.records(FACES), FaceObservation)
    assert len(faces) == stats.observations_sent == 6, "none lost"
    assert stats.dropped == 0
    times = [f.captured_at for f in faces]
    assert times == sorted(times)


async def test_the_final_drain_does_not_wait_the_upload_interval(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    # Reading the 3 s clip takes far less than 30 s: nothing is due before the end,
    # so everything goes in the one upload when reading is done, without waiting.
    agent = agent_for(fleet, bus, video, upload_seconds=30.0)
    stats = await asyncio.wait_for(agent.run(), timeout=20)  # a hang guard only
    assert len(bus.records(FACES)) == 1, "one upload, at the end"
    assert len(events_in(bus.records(FACES), FaceObservation)) == stats.observations_sent == 6
    assert isinstance(agent._out, io.StringIO)
    assert "done: 6 frames read, 0 frames and 6 observations sent, 0 waiting" in (
        agent._out.getvalue()
    )


class OneFrameAtATime(FramePipeline):
    """Analyses a frame only once ``uploads()`` says every earlier frame was posted."""

    def __init__(self, uploads: Any) -> None:
        super().__init__()
        self.uploads = uploads
        self.frames = 0

    def analyse_images(self, images: Sequence[tuple[FrameHeaders, Any]]) -> list[AnalysedFrame]:
        give_up = time.monotonic() + 20  # a hang guard only
        while self.uploads() < self.frames:
            assert time.monotonic() < give_up, f"frame {self.frames} was not posted at once"
            time.sleep(0.005)
        self.frames += 1
        return super().analyse_images(images)


async def test_an_upload_interval_of_0_posts_at_once(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    # Each frame of the clip has one face: posted before the next frame is analysed.
    agent = agent_for(fleet, bus, video, upload_seconds=0)
    agent.pipeline = OneFrameAtATime(lambda: len(bus.records(FACES)))
    stats = await asyncio.wait_for(agent.run(), timeout=60)
    assert len(bus.records(FACES)) == stats.frames_read == 6, "one upload per frame"
    assert len(events_in(bus.records(FACES), FaceObservation)) == stats.observations_sent == 6


def test_the_upload_interval_is_0_to_60_seconds() -> None:
    def options(upload_seconds: float) -> AgentOptions:
        return AgentOptions("0", "c", "t", "http://api", upload_seconds=upload_seconds)

    assert options(60).upload_seconds == 60
    for bad in (-0.1, 60.5, float("nan")):
        with pytest.raises(ValueError, match=r"upload_seconds must be 0\.\.60"):
            options(bad)


CAMERA_AGENT = ["camera-agent", "--source", "0", "--camera-id", "c", "--token", "t",
                "--api", "http://api"]  # fmt: skip


@pytest.mark.parametrize("value", ["-1", "61", "nan"])
def test_the_cli_refuses_an_upload_interval_out_of_range(value: str) -> None:
    with pytest.raises(SystemExit, match=r"--upload-seconds must be 0\.\.60"):
        main([*CAMERA_AGENT, "--upload-seconds", value])


@pytest.mark.parametrize(("args", "expected"), [([], 2.0), (["--upload-seconds", "0"], 0.0),
                                                (["--upload-seconds", "2.5"], 2.5)])  # fmt: skip
def test_the_cli_passes_the_upload_interval_to_the_agent(
    monkeypatch: pytest.MonkeyPatch, args: list[str], expected: float
) -> None:
    seen: list[AgentOptions] = []

    class Agent:
        def __init__(self, options: AgentOptions) -> None:
            seen.append(options)

        async def run(self) -> None:
            return None

    monkeypatch.setattr(edge, "EdgeAgent", Agent)
    assert main([*CAMERA_AGENT, *args]) == 0
    assert seen[0].upload_seconds == expected


async def test_a_refusal_stops_the_agent_with_the_reason(
    fleet: Fleet, bus: MemoryBus, video: Path
) -> None:
    agent = agent_for(fleet, bus, video)
    agent.options = AgentOptions(**{**agent.options.__dict__, "token": "kp_wrong"})
    with pytest.raises(RuntimeError, match=r"refused .* with 401: .*token"):
        await agent.run()


def test_an_unreadable_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot open video source"):
        edge.open_source(str(tmp_path / "missing.mp4"))

"""The edge agent: a camera's video → the kiosk API, as frames or as observations only.

In ``observations`` mode the frame pipeline runs here, in the store, and only the
expression probabilities leave (docs/architecture.md, Privacy). A sender task posts them while
the camera keeps being read, so an outage of the API costs no observations: they
wait in a bounded buffer (the oldest is dropped, and counted, only when it is
full) while the sender retries as every device does (``kioskpulse.device_client``):
network errors, 429, 502, 503 and 504 until accepted, with the API's Retry-After or an
exponential backoff; any other refusal stops the agent with the API's reason.

The sender gathers observations for ``upload_seconds`` (2 s by default) before each
upload: the API writes one Kafka record per request and store, and the stream workers'
cost is per record, so a request of a couple of frames' faces costs what one of a
single frame's does. It posts at once when the buffer holds a full batch, and when
reading is done (the final drain does not wait); ``upload_seconds=0`` posts as soon
as anything is buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TextIO

import cv2
import httpx
import numpy as np
import numpy.typing as npt

from kioskpulse.device_client import Attempt, DeviceClient, RetryPolicy
from kioskpulse.events import MAX_BATCH, FrameHeaders
from vision.pipeline import FramePipeline

__all__ = ["MAX_UPLOAD_SECONDS", "AgentOptions", "AgentStats", "EdgeAgent", "open_source"]

Image = npt.NDArray[np.uint8]

#: Until accepted: 0.5 s, 1 s, 2 s, … 15 s at most between attempts (less some jitter).
RETRY = RetryPolicy(max_attempts=None, backoff=0.5, max_backoff=15.0)

#: The longest ``upload_seconds`` accepted: observations older than this are stale.
MAX_UPLOAD_SECONDS = 60.0


@dataclass(frozen=True)
class AgentOptions:
    source: str
    camera_id: str
    token: str
    api: str
    fps: float = 2.0
    mode: Literal["frames", "observations"] = "observations"
    max_buffer: int = 10_000
    jpeg_quality: int = 85
    #: Observations mode: the smallest face to look for (the detector's default, 24 px).
    min_face_px: int | None = None
    #: Observations mode: how long the oldest buffered observation waits for others
    #: before an upload (fewer requests and Kafka records; adds up to this to
    #: freshness); 0 posts as soon as anything is buffered.
    upload_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.upload_seconds <= MAX_UPLOAD_SECONDS:
            raise ValueError(f"upload_seconds must be 0..{MAX_UPLOAD_SECONDS:g}")


@dataclass
class AgentStats:
    frames_read: int = 0
    frames_sent: int = 0
    observations_sent: int = 0
    dropped: int = 0
    retries: int = 0
    refused: dict[int, int] = field(default_factory=dict)


def open_source(source: str) -> cv2.VideoCapture:
    """A capture for a file path, a device number (``0``) or a stream URL."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise OSError(f"cannot open video source {source!r}")
    return capture


def sampled_frames(
    capture: cv2.VideoCapture, fps: float, live: bool
) -> Iterator[tuple[float, Image]]:
    """(seconds since start, frame) at about ``fps`` frames per second of video time.

    Files are read as fast as possible and timed by their own timestamps; live
    sources by the clock.
    """
    started = time.monotonic()
    next_at = 0.0
    while True:
        ok, image = capture.read()
        if not ok:
            return
        at = time.monotonic() - started if live else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        if at + 1e-6 >= next_at:
            next_at = at + 1.0 / fps
            yield at, np.asarray(image, dtype=np.uint8)


class EdgeAgent:
    """Reads a video source and posts to the API until the source ends or ``stop`` is set."""

    def __init__(
        self,
        options: AgentOptions,
        *,
        pipeline: FramePipeline | None = None,
        client: httpx.AsyncClient | None = None,
        out: TextIO = sys.stderr,
        retry: RetryPolicy = RETRY,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.pipeline = pipeline
        if options.mode == "observations" and pipeline is None:
            self.pipeline = FramePipeline()
        self._client = client
        self._out = out
        self._retry = retry
        self._rng = rng
        self.stats = AgentStats()
        #: (when buffered, on the event loop's clock; the observation as posted)
        self._buffer: deque[tuple[float, dict[str, Any]]] = deque()
        #: Set whenever observations are buffered or reading is done: the sender looks again.
        self._buffered = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None) -> AgentStats:
        stop = stop or asyncio.Event()
        capture = open_source(self.options.source)
        live = not _is_file(self.options.source)
        started = datetime.now(UTC)
        async with contextlib.AsyncExitStack() as stack:
            client: httpx.AsyncClient
            if self._client is not None:
                client = self._client
            else:
                client = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=self.options.api, timeout=15.0)
                )
            device = DeviceClient(client, self._retry, rng=self._rng, after_attempt=self._retrying)
            reading_done = asyncio.Event()
            sender = None
            if self.options.mode == "observations":
                sender = asyncio.create_task(self._send_observations(device, reading_done))
            try:
                frames = sampled_frames(capture, self.options.fps, live)
                async for at, image in _in_thread(frames):
                    if stop.is_set() or (sender is not None and sender.done()):
                        break
                    self.stats.frames_read += 1
                    captured_at = started + timedelta(seconds=at)
                    if self.options.mode == "frames":
                        await self._send_frame(device, image, captured_at)
                    else:
                        await self._observe(image, captured_at)
                    if self.stats.frames_read % 20 == 0:
                        self._progress()
                reading_done.set()
                self._buffered.set()
                if sender is not None:
                    await sender  # drains the buffer; raises if the API refused
            finally:
                if sender is not None and not sender.done():
                    sender.cancel()
        capture.release()
        self._progress(final=True)
        return self.stats

    # ----------------------------------------------------------------- frames mode

    async def _send_frame(self, device: DeviceClient, image: Image, captured_at: datetime) -> None:
        ok, encoded = cv2.imencode(
            ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality]
        )
        if not ok:
            self._say("could not encode a frame as JPEG; skipped")
            return
        await self._post(
            device,
            f"/v1/cameras/{self.options.camera_id}/frames",
            params={"captured_at": captured_at.isoformat()},
            content=encoded.tobytes(),
            headers={"Content-Type": "image/jpeg"},
        )
        self.stats.frames_sent += 1

    # ----------------------------------------------------------------- observations mode

    async def _observe(self, image: Image, captured_at: datetime) -> None:
        assert self.pipeline is not None
        headers = FrameHeaders(
            camera_id=self.options.camera_id,
            # The API stamps the real store and role, a display camera's label, and the kiosk
            # of the camera's kiosk zone on the faces in it (by their box): only track, time,
            # probs, box and whether the face looked at the camera leave (no image, no id).
            store_id="edge",
            role="floor",
            captured_at=captured_at,
            content_type="image/png",
            min_face_px=self.options.min_face_px,
        )
        analysed = await asyncio.to_thread(self.pipeline.analyse_images, [(headers, image)])
        observations = self.pipeline.track(analysed)
        # Whether each face looked at the camera, in the order of the faces: the API keeps
        # it for a display camera's faces (docs/displays.md).
        known: list[bool | None] = list(analysed[0].frontal or [])
        frontal = known or [None] * len(observations)
        now = asyncio.get_running_loop().time()
        for observation, looks in zip(observations, frontal, strict=True):
            self._buffered.set()
            body = observation.model_dump(
                mode="json", include={"track_id", "captured_at", "probs", "bbox"}
            )
            if looks is not None:
                body["frontal"] = looks
            self._buffer.append((now, body))
        while len(self._buffer) > self.options.max_buffer:
            self._buffer.popleft()
            self.stats.dropped += 1

    async def _send_observations(self, device: DeviceClient, reading_done: asyncio.Event) -> None:
        """Post buffered observations in batches until reading is done and all are sent.

        A batch goes when its oldest observation has waited ``upload_seconds``, when
        the buffer holds a full batch (or is full: nothing is dropped for the wait),
        or once reading is done.
        """
        path = f"/v1/cameras/{self.options.camera_id}/observations"
        loop = asyncio.get_running_loop()
        full = min(MAX_BATCH, self.options.max_buffer)
        while True:
            if not self._buffer:
                if reading_done.is_set():
                    return
                self._buffered.clear()
                await self._buffered.wait()
                continue
            due = self._buffer[0][0] + self.options.upload_seconds
            if not reading_done.is_set() and len(self._buffer) < full and loop.time() < due:
                # Gather: wake when due, or earlier when more arrive (to check for a
                # full batch) or reading is done.
                self._buffered.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._buffered.wait(), due - loop.time())
                continue
            # Taken out of the buffer: the batch in flight is never the one dropped.
            count = min(MAX_BATCH, len(self._buffer))
            batch = [self._buffer.popleft()[1] for _ in range(count)]
            await self._post(device, path, json={"observations": batch})
            self.stats.observations_sent += len(batch)

    # ----------------------------------------------------------------- HTTP

    async def _post(self, device: DeviceClient, path: str, **kwargs: Any) -> None:
        """Post until accepted; raise with the API's reason when it refuses for good."""
        result = await device.post(path, self.options.token, **kwargs)
        if result.accepted:
            return
        if result.outcome == "refused" and result.status is not None:
            self.stats.refused[result.status] = self.stats.refused.get(result.status, 0) + 1
            raise RuntimeError(f"the API refused {path} with {result.status}: {result.reason}")
        raise RuntimeError(f"{path}: {result.reason}")  # only with a retry policy that gives up

    def _retrying(self, attempt: Attempt) -> None:
        if attempt.wait is None:
            return
        self.stats.retries += 1
        if attempt.error is not None:
            problem = f"{type(attempt.error).__name__}: {attempt.error or 'no answer'}"
        else:
            problem = f"API answered {attempt.status}"
        self._say(f"{problem}; retrying in {attempt.wait:.3g} s")

    def _progress(self, *, final: bool = False) -> None:
        s = self.stats
        label = "done" if final else "progress"
        self._say(
            f"{label}: {s.frames_read} frames read, {s.frames_sent} frames and "
            f"{s.observations_sent} observations sent, {len(self._buffer)} waiting, "
            f"{s.retries} retries, {s.dropped} dropped"
        )

    def _say(self, message: str) -> None:
        print(f"camera-agent {self.options.camera_id}: {message}", file=self._out, flush=True)


def _is_file(source: str) -> bool:
    return not source.isdigit() and "://" not in source


async def _in_thread(frames: Iterator[tuple[float, Image]]) -> AsyncIterator[tuple[float, Image]]:
    """Read a blocking frame iterator without blocking the event loop."""
    done = object()
    while True:
        item = await asyncio.to_thread(next, frames, done)
        if item is done:
            return
        yield item  # type: ignore[misc]

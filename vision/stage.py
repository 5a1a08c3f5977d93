"""The vision stage: ``camera.frames.v1`` records in, ``camera.faces.v1`` records out.

Transport-free: the faust agent and the embedded runtime both hand it batches of
records and publish what it returns. Frames that cannot be read become dead
letters; the stage itself never raises on bad input.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor

from pydantic import ValidationError

from kioskpulse.bus import Record, StageOutput
from kioskpulse.deadletter import dead_letter
from kioskpulse.event_records import store_records
from kioskpulse.events import FrameHeaders
from kioskpulse.topics import FACES, FRAMES
from vision.metrics import BATCH_SECONDS, NEWEST_FRAME
from vision.pipeline import Frame, FramePipeline

__all__ = ["VisionStage"]


class VisionStage:
    """Runs the frame pipeline on batches of frame records, off the event loop."""

    def __init__(
        self,
        pipeline: FramePipeline,
        executor: Executor | None = None,
        *,
        batch_records: bool = True,
    ) -> None:
        """``batch_records``: a store's faces of one batch share a Kafka record."""
        self.pipeline = pipeline
        self.executor = executor
        self.batch_records = batch_records

    async def handle(self, records: Sequence[Record]) -> StageOutput:
        """Observations (keyed by store) and dead letters for a batch of frame records."""
        output = StageOutput()
        frames: list[Frame] = []
        sources: list[Record] = []
        for record in records:
            try:
                headers = FrameHeaders.from_headers(record.headers)
            except ValidationError as exc:
                output.dead_letters.append(dead_letter(record, "bad_headers", exc))
                continue
            frames.append(Frame(headers, record.value))
            sources.append(record)
        if not frames:
            return output
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        # Detection and inference release the GIL: a thread pool keeps the loop responsive.
        analysed = await loop.run_in_executor(self.executor, self.pipeline.analyse, frames)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        NEWEST_FRAME.see_all(FRAMES, (frame.headers.captured_at.timestamp() for frame in frames))
        for source, frame in zip(sources, analysed, strict=True):
            if frame.rejected is not None:
                output.dead_letters.append(
                    dead_letter(source, frame.rejected.reason, frame.rejected)
                )
        observations = self.pipeline.track(analysed)
        output.produced = store_records(FACES, observations, batch=self.batch_records)
        return output

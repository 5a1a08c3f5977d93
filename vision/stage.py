"""The vision stage: ``camera.frames.v1`` records in, ``camera.faces.v1`` records out.

Transport-free: the faust agent and the embedded runtime both hand it batches of
records and publish what it returns. Frames that cannot be read become dead
letters; the stage itself never raises on bad input.
"""

from __future__ import annotations

import asyncio
import math
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
from vision.pipeline import AnalysedFrame, Frame, FramePipeline

__all__ = ["VisionStage"]


class VisionStage:
    """Runs the frame pipeline on batches of frame records, off the event loop."""

    def __init__(
        self,
        pipeline: FramePipeline,
        executor: Executor | None = None,
        *,
        parallel: int = 1,
        batch_records: bool = True,
    ) -> None:
        """``parallel``: how many parts of a batch are analysed at once (``executor``'s
        threads; only with a thread-safe detector); ``batch_records``: a store's faces
        of one batch share a Kafka record."""
        self.pipeline = pipeline
        self.executor = executor
        self.parallel = parallel if getattr(pipeline.detector, "thread_safe", False) else 1
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
        started = time.perf_counter()
        analysed = await self._analyse(frames)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        NEWEST_FRAME.see_all(FRAMES, (frame.headers.captured_at.timestamp() for frame in frames))
        for source, frame in zip(sources, analysed, strict=True):
            if frame.rejected is not None:
                output.dead_letters.append(
                    dead_letter(source, frame.rejected.reason, frame.rejected)
                )
        observations = self.pipeline.track(analysed)  # in capture order, after the analysis
        output.produced = store_records(FACES, observations, batch=self.batch_records)
        return output

    async def _analyse(self, frames: list[Frame]) -> list[AnalysedFrame]:
        """The frames analysed in ``parallel`` contiguous parts at once, in their order.

        Detection and inference release the GIL: each part is one thread's work, and
        the event loop stays responsive meanwhile.
        """
        loop = asyncio.get_running_loop()
        size = math.ceil(len(frames) / self.parallel)
        parts = [frames[i : i + size] for i in range(0, len(frames), size)]
        analysed = await asyncio.gather(
            *(loop.run_in_executor(self.executor, self.pipeline.analyse, part) for part in parts)
        )
        return [frame for part in analysed for frame in part]

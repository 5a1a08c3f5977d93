"""The stages on the in-process bus: the embedded runtime's counterpart of the faust agents.

Same stages, same batching, same order of work (state first, then outputs
published before the next batch); only the transport differs.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from kioskpulse.bus.memory import MemoryBus, batches
from kioskpulse.settings import Settings
from kioskpulse.topics import FRAMES
from stream_processors.aggregation.config import TICK_SECONDS
from stream_processors.aggregation.stage import INPUT_TOPICS, AggregationStage
from vision.pipeline import FramePipeline
from vision.stage import VisionStage

__all__ = ["run_aggregation_stage", "run_vision_stage"]


async def run_vision_stage(bus: MemoryBus, settings: Settings) -> None:
    """Frames in, observations out, until cancelled."""
    with ThreadPoolExecutor(settings.vision_threads, "vision") as executor:
        stage = VisionStage(
            FramePipeline.from_settings(settings),
            executor,
            parallel=settings.vision_threads,
            batch_records=settings.batch_records,
        )
        frames = batches(
            bus.subscribe(FRAMES), settings.vision_batch_size, settings.vision_batch_seconds
        )
        async for batch in frames:
            output = await stage.handle(batch)
            await bus.publish(output.records)


async def run_aggregation_stage(bus: MemoryBus, settings: Settings) -> None:
    """Store-keyed events in, bucket upserts out, until cancelled."""
    stage = AggregationStage.from_settings(settings)
    turn = asyncio.Lock()

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            async with turn:
                await bus.publish(stage.tick().records)

    ticking = asyncio.create_task(tick())
    events = batches(
        bus.subscribe(*INPUT_TOPICS),
        settings.aggregate_batch_size,
        settings.aggregate_batch_seconds,
    )
    try:
        async for batch in events:
            async with turn:
                await bus.publish(stage.handle(batch).records)
    finally:
        ticking.cancel()

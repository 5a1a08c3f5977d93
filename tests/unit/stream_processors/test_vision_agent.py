"""The faust vision agent, driven through faust's test context with the memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from kioskpulse.bus import Record
from kioskpulse.event_records import count_events, events_in
from kioskpulse.events import FaceObservation
from kioskpulse.settings import Settings
from kioskpulse.topics import DEADLETTER, FACES
from stream_processors.faust_app import create_worker
from tests.support.images import ASTRONAUT_FRAMES, frame_headers, jpeg
from vision.pipeline import FramePipeline


async def test_frames_in_observations_and_dead_letters_out(
    pipeline: FramePipeline, tmp_path: Path
) -> None:
    sent: list[Record] = []
    all_out = asyncio.Event()

    async def sink(records: Sequence[Record]) -> None:
        sent.extend(records)
        # Two faces (in one record if one batch held both frames) and one dead letter.
        if sum(count_events(r.value) if r.topic == FACES else 1 for r in sent) >= 3:
            all_out.set()

    settings = Settings(vision_batch_seconds=0.05, faust_datadir=tmp_path)
    worker = create_worker(settings, pipeline=pipeline, sink=sink)
    worker.app.finalize()
    headers = frame_headers("cam-agent").to_headers()
    async with worker.vision.test_context() as agent:
        await agent.put(
            value=jpeg(ASTRONAUT_FRAMES["640x480"]()), key=b"cam-agent", headers=headers
        )
        await agent.put(value=b"\x89PNG\r\n\x1a\nbroken", key=b"cam-agent", headers=headers)
        await agent.put(
            value=jpeg(ASTRONAUT_FRAMES["640x480"]()), key=b"cam-agent", headers=headers
        )
        # take_events hands the agent a batch once it is full or vision_batch_seconds passed.
        await asyncio.wait_for(all_out.wait(), 10)
    # The test context builds the app's consumer, whose (never started) thread owns an
    # event loop that only a real stop would close.
    worker.app.consumer._thread.thread_loop.close()

    faces = events_in((r for r in sent if r.topic == FACES), FaceObservation)
    assert len(faces) == 2
    assert len({f.track_id for f in faces}) == 1, "the same camera's tracker follows the face"
    assert {r.key for r in sent if r.topic == FACES} == {"s1"}
    assert [r.key for r in sent if r.topic == DEADLETTER] == ["camera.frames.v1"]

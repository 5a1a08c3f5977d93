"""The vision stage on bus records: observations keyed by store, bad frames dead-lettered."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from kioskpulse.bus import Record
from kioskpulse.deadletter import DEAD_LETTERS
from kioskpulse.event_records import events_in
from kioskpulse.events import DeadLetterHeaders, FaceObservation
from kioskpulse.topics import DEADLETTER, FACES, FRAMES
from tests.support.images import ASTRONAUT_FRAMES, frame_headers, jpeg
from vision.pipeline import AnalysedFrame, Frame, FramePipeline
from vision.stage import VisionStage


def frame_record(data: bytes, offset: int, headers: object = None) -> Record:
    raw = frame_headers("cam-k", role="kiosk", kiosk_id="k1").to_headers()
    return Record(
        FRAMES,
        "cam-k",
        data,
        tuple(raw if headers is None else headers),
        partition=2,
        offset=offset,
    )


async def test_faces_come_out_keyed_by_store_and_bad_frames_as_dead_letters(
    pipeline: FramePipeline,
) -> None:
    stage = VisionStage(pipeline)
    before = DEAD_LETTERS.labels(FRAMES, "undecodable")._value.get()
    output = await stage.handle(
        [
            frame_record(jpeg(ASTRONAUT_FRAMES["640x480"]()), 10),
            frame_record(b"\xff\xd8\xffnot really a jpeg", 11),
            frame_record(b"whatever", 12, headers=[("camera_id", b"cam-k")]),
        ]
    )
    [face] = output.produced
    assert (face.topic, face.key) == (FACES, "s1")
    observation = FaceObservation.from_bytes(face.value)
    assert (observation.role, observation.kiosk_id, observation.source) == ("kiosk", "k1", "server")

    assert [d.topic for d in output.dead_letters] == [DEADLETTER, DEADLETTER]
    by_offset = {
        DeadLetterHeaders.from_headers(d.headers).source_offset: d for d in output.dead_letters
    }
    undecodable = DeadLetterHeaders.from_headers(by_offset[11].headers)
    assert (undecodable.source_topic, undecodable.source_partition) == (FRAMES, 2)
    assert undecodable.error_class == "FrameRejected"
    assert by_offset[11].value == b"\xff\xd8\xffnot really a jpeg", "the raw bytes are kept"
    assert by_offset[11].key == FRAMES
    assert DeadLetterHeaders.from_headers(by_offset[12].headers).error_class == "ValidationError"
    assert DEAD_LETTERS.labels(FRAMES, "undecodable")._value.get() == before + 1


async def test_a_batch_of_only_bad_frames_gives_only_dead_letters(pipeline: FramePipeline) -> None:
    output = await VisionStage(pipeline).handle([frame_record(b"", 1)])
    assert output.produced == []
    assert len(output.dead_letters) == 1


class PartsSeen(FramePipeline):
    """The real pipeline, noting how many frames each ``analyse`` call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[int] = []

    def analyse(self, frames: Sequence[Frame]) -> list[AnalysedFrame]:
        self.parts.append(len(frames))
        return super().analyse(frames)


async def test_a_batch_analysed_in_parallel_parts_gives_what_one_part_gives() -> None:
    # vision_threads > 1: contiguous parts of a batch are analysed at once (MTCNN is
    # thread-safe); the tracker still sees every camera's frames in capture order.
    images = [jpeg(ASTRONAUT_FRAMES["640x480"]()), jpeg(ASTRONAUT_FRAMES["1280x720"]())]
    records = [
        Record(FRAMES, camera, images[n % 2], tuple(frame_headers(
            camera, captured_at=datetime(2026, 11, 24, 12, 0, n, tzinfo=UTC)).to_headers()),
            partition=0, offset=n)
        for n in range(6) for camera in ("cam-a", "cam-b")
    ]  # fmt: skip
    executor = ThreadPoolExecutor(3)
    whole, split = PartsSeen(), PartsSeen()

    one = await VisionStage(whole, executor).handle(records)
    three = await VisionStage(split, executor, parallel=3).handle(records)

    assert (whole.parts, split.parts) == ([12], [4, 4, 4]), "three parts of the batch"
    faces = [events_in(output.produced, FaceObservation) for output in (one, three)]
    assert len(faces[0]) == 12  # one face a frame, 6 frames of 2 cameras
    random_parts = {"probs", "track_id"}  # a pipeline names its tracks at random
    assert [f.model_dump(exclude=random_parts) for f in faces[0]] == [
        f.model_dump(exclude=random_parts) for f in faces[1]
    ]
    tracks = {(a.track_id, b.track_id) for a, b in zip(*faces, strict=True)}
    assert len(tracks) == len({a for a, _ in tracks}) == len({b for _, b in tracks}), "1:1"
    assert [f.probs for f in faces[0]] == [pytest.approx(f.probs, abs=1e-5) for f in faces[1]]

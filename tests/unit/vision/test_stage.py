"""The vision stage on bus records: observations keyed by store, bad frames dead-lettered."""

from __future__ import annotations

from kioskpulse.bus import Record
from kioskpulse.deadletter import DEAD_LETTERS
from kioskpulse.events import DeadLetterHeaders, FaceObservation
from kioskpulse.topics import DEADLETTER, FACES, FRAMES
from tests.support.images import ASTRONAUT_FRAMES, frame_headers, jpeg
from vision.pipeline import FramePipeline
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

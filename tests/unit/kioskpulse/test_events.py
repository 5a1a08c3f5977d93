"""The event contracts: strict input, UTC times, round trips, header codecs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from kioskpulse.events import (
    EXPRESSIONS,
    TONES,
    TRIANGLE,
    DeadLetterHeaders,
    FaceObservation,
    FrameHeaders,
    Heartbeat,
    ObservationSubmission,
    RatingEvent,
    RatingSubmission,
    StoreAggregate,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
UNIFORM = [1 / 7] * 7


def rating_event(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "rating": 2,
        "pressed_at": "2026-11-24T13:00:00+01:00",
        "kiosk_id": "k1",
        "store_id": "s1",
        "scale": 4,
        "received_at": NOW.isoformat(),
    }
    values.update(overrides)
    return values


def test_rating_event_round_trips_through_bytes_in_utc() -> None:
    event = RatingEvent.model_validate(rating_event())
    assert event.pressed_at == NOW
    assert event.pressed_at.tzinfo == UTC
    wire = event.to_bytes()
    assert b'"schema_version":1' in wire
    assert b'"pressed_at":"2026-11-24T12:00:00Z"' in wire
    assert RatingEvent.from_bytes(wire) == event


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        RatingSubmission.model_validate(
            {"event_id": str(uuid.uuid4()), "rating": 1, "pressed_at": NOW, "store_id": "s9"}
        )


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        RatingEvent.model_validate(rating_event(pressed_at="2026-11-24T12:00:00"))


@pytest.mark.parametrize("bad", ["3", 3.5, True, None])
def test_rating_must_be_a_json_integer(bad: object) -> None:
    with pytest.raises(ValidationError):
        RatingEvent.model_validate(rating_event(rating=bad))


def test_rating_beyond_the_kiosk_scale_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"outside 1\.\.3"):
        RatingEvent.model_validate(rating_event(rating=4, scale=3))


@pytest.mark.parametrize("scale", [1, 6])
def test_scale_is_two_to_five(scale: int) -> None:
    with pytest.raises(ValidationError):
        RatingEvent.model_validate(rating_event(rating=1, scale=scale))


def test_heartbeat_round_trip() -> None:
    beat = Heartbeat(
        sent_at=NOW, buffered=3, kiosk_id="k1", store_id="s1", received_at=NOW, firmware="1.2"
    )
    assert Heartbeat.from_bytes(beat.to_bytes()) == beat


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ([0.5, 0.5, 0.5, 0, 0, 0, 0], "sum to 1.5"),
        ([1.2, -0.2, 0, 0, 0, 0, 0], "less than or equal to 1"),
        ([1 / 6] * 6, "at least 7 items"),
        (["0.5", 0.5, 0, 0, 0, 0, 0], "valid number|float"),
    ],
)
def test_probabilities_must_be_a_distribution(probs: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ObservationSubmission.model_validate({"track_id": "t", "captured_at": NOW, "probs": probs})


def test_probability_sums_within_tolerance_pass() -> None:
    probs = [0.995 / 7] * 7
    observation = ObservationSubmission.model_validate(
        {"track_id": "t", "captured_at": NOW, "probs": probs}
    )
    assert len(observation.probs) == len(EXPRESSIONS)


def test_face_observation_round_trip() -> None:
    face = FaceObservation.model_validate(
        {
            "track_id": "t1",
            "captured_at": NOW,
            "probs": UNIFORM,
            "bbox": {"x": 1, "y": 2, "w": 30, "h": 40},
            "camera_id": "c1",
            "store_id": "s1",
            "role": "kiosk",
            "kiosk_id": "k1",
            "source": "server",
        }
    )
    assert FaceObservation.from_bytes(face.to_bytes()) == face


def test_frame_headers_round_trip_through_kafka_headers() -> None:
    headers = FrameHeaders(
        camera_id="c1",
        store_id="s1",
        role="floor",
        captured_at=datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=2))),
        content_type="image/png",
    )
    raw = headers.to_headers()
    assert ("store_id", b"s1") in raw
    assert all(name != "kiosk_id" for name, _ in raw), "None fields are left out"
    parsed = FrameHeaders.from_headers([*raw, ("traceparent", b"ignored")])
    assert parsed == headers
    assert parsed.captured_at == datetime(2026, 1, 1, 7, tzinfo=UTC)


def test_dead_letter_headers_round_trip() -> None:
    headers = DeadLetterHeaders(
        source_topic="kiosk.ratings.v1",
        source_partition=3,
        source_offset=1234,
        error_class="ValidationError",
        error_message="rating: must be 1..4",
    )
    assert DeadLetterHeaders.from_headers(headers.to_headers()) == headers


def aggregate(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "store_id": "s1",
        "bucket_start": "2026-11-24T10:15:00+00:00",
        "bucket_seconds": 60,
        "updated_at": "2026-11-24T10:16:02+00:00",
        "ratings": {
            "4": {
                "presses": [1, 2, 3, 4],
                "linked_presses": [0, 1, 0, 0],
                "linked_prob_sums": [[0.0] * 7, UNIFORM, [0.0] * 7, [0.0] * 7],
            }
        },
        "visitors": 1,
        "visitor_prob_sums": UNIFORM,
        "expression_counts": [0, 0, 0, 1, 0, 0, 0],
        "tone_counts": [0, 1, 0, 0],
    }
    values.update(overrides)
    return values


def test_store_aggregate_round_trip() -> None:
    value = StoreAggregate.model_validate(aggregate())
    assert StoreAggregate.from_bytes(value.to_bytes()) == value
    assert len(value.tone_counts) == len(TONES)
    assert value.key == "s1/2026-11-24T10:15:00Z"


def test_an_empty_bucket_has_zero_statistics_of_the_right_shape() -> None:
    value = StoreAggregate.model_validate(
        {k: aggregate()[k] for k in ("store_id", "bucket_start", "bucket_seconds", "updated_at")}
    )
    assert value.ratings == {}
    assert value.visitor_prob_sums == [0.0] * 7
    assert value.visitor_prob_sq_sums == []  # second moments: absent
    assert value.tone_counts == [0] * len(TONES)


#: The upper triangle of UNIFORM · UNIFORMᵀ, in the order of TRIANGLE.
UNIFORM_SQ = [UNIFORM[i] * UNIFORM[j] for i, j in TRIANGLE]


def test_the_triangle_is_row_major_upper() -> None:
    assert len(TRIANGLE) == 28
    assert TRIANGLE[:8] == ((0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (1, 1))
    assert TRIANGLE[-1] == (6, 6)


def test_second_moments_round_trip() -> None:
    zero_sq = [0.0] * 28
    value = StoreAggregate.model_validate(
        aggregate(
            visitor_prob_sq_sums=UNIFORM_SQ,
            **_scale_4(linked_prob_sq_sums=[zero_sq, UNIFORM_SQ, zero_sq, zero_sq]),
        )
    )
    assert StoreAggregate.from_bytes(value.to_bytes()) == value
    assert value.ratings[4].linked_prob_sq_sums[1] == UNIFORM_SQ


def test_an_aggregate_written_before_second_moments_still_parses() -> None:
    old = StoreAggregate.model_validate(aggregate())  # no *_sq_sums keys at all
    assert old.visitor_prob_sq_sums == []
    assert old.ratings[4].linked_prob_sq_sums == []
    assert old.schema_version == 1


def _scale_4(**overrides: Any) -> dict[str, Any]:
    statistics = dict(aggregate()["ratings"]["4"])
    statistics.update(overrides)
    return {"ratings": {"4": statistics}}


@pytest.mark.parametrize(
    "overrides",
    [
        _scale_4(presses=[1, 2, 3]),
        _scale_4(linked_prob_sums=[[0.0] * 7] * 3),
        _scale_4(linked_prob_sums=[[0.0] * 6] * 4),
        {"visitor_prob_sums": [0.0] * 6},
        {"tone_counts": [0, 0, 0]},
        {"visitor_prob_sq_sums": [0.0] * 27},
        {"visitor_prob_sq_sums": [0.0] * 7},
        _scale_4(linked_prob_sq_sums=[[0.0] * 28] * 3),
        _scale_4(linked_prob_sq_sums=[[0.0] * 27] * 4),
    ],
)
def test_store_aggregate_shapes_must_agree_with_scale(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="entries"):
        StoreAggregate.model_validate(aggregate(**overrides))


def test_store_aggregate_refuses_a_scale_outside_two_to_five() -> None:
    with pytest.raises(ValidationError):
        StoreAggregate.model_validate(aggregate(ratings={"6": aggregate()["ratings"]["4"]}))


def test_a_time_with_no_utc_representation_is_a_validation_error() -> None:
    # Found by the API fuzzer: astimezone() overflows below year 1.
    with pytest.raises(ValidationError, match="out of range"):
        RatingEvent.model_validate(rating_event(pressed_at="0001-01-01T00:00:00+00:01"))

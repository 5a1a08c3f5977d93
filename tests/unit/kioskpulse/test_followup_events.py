"""The follow-up contracts: an answer, a batch of them, the stamped event, the aggregate's tally."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kioskpulse.events import (
    MAX_BATCH,
    FollowupBatch,
    FollowupEvent,
    FollowupsBody,
    FollowupSubmission,
    StoreAggregate,
)
from tests.support.aggregates import aggregate
from tests.support.bodies import followup

BODY: TypeAdapter[Any] = TypeAdapter(FollowupsBody)


def followup_event(**overrides: Any) -> dict[str, Any]:
    values = followup(answered_at="2026-11-24T13:00:05+01:00")
    values.update(kiosk_id="k1", store_id="s1", received_at="2026-11-24T12:00:06Z", **overrides)
    return values


def test_a_followup_event_round_trips_through_bytes_in_utc() -> None:
    event = FollowupEvent.model_validate(followup_event())
    assert event.answered_at.isoformat() == "2026-11-24T12:00:05+00:00"
    wire = event.to_bytes()
    assert b'"schema_version":1' in wire
    assert b'"answered_at":"2026-11-24T12:00:05Z"' in wire
    assert FollowupEvent.from_bytes(wire) == event


def test_a_body_is_one_answer_or_a_batch() -> None:
    single, batch = followup(), {"followups": [followup(), followup("staff")]}
    assert isinstance(BODY.validate_python(single), FollowupSubmission)
    parsed = BODY.validate_python(batch)
    assert isinstance(parsed, FollowupBatch)
    assert [answer.reason for answer in parsed.followups] == ["queue", "staff"]


@pytest.mark.parametrize(
    ("field", "value", "type_"),
    [
        ("reason", "Queue", "string_pattern_mismatch"),
        ("reason", "", "string_pattern_mismatch"),
        ("reason", "q" * 33, "string_pattern_mismatch"),
        ("rating_event_id", "not-a-uuid", "uuid_parsing"),
        ("answered_at", "2026-11-24T12:00:00", "timezone_aware"),
        ("store_id", "s2", "extra_forbidden"),
        ("rating", 1, "extra_forbidden"),
    ],
)
def test_an_invalid_answer_is_refused_at_its_field(field: str, value: Any, type_: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BODY.validate_python(followup(**{field: value}))
    [error] = caught.value.errors()
    assert error["loc"] == ("single", field)
    assert error["type"] == type_


def test_a_batch_error_names_the_index_of_the_answer() -> None:
    answers = [followup(), followup(), followup(rating_event_id="nope")]
    with pytest.raises(ValidationError) as caught:
        BODY.validate_python({"followups": answers})
    [error] = caught.value.errors()
    assert error["loc"] == ("batch", "followups", 2, "rating_event_id")


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_a_batch_holds_one_to_max_batch_answers(count: int) -> None:
    with pytest.raises(ValidationError) as caught:
        BODY.validate_python({"followups": [followup() for _ in range(count)]})
    assert caught.value.errors()[0]["loc"] == ("batch", "followups")


def test_the_server_stamped_fields_are_required_on_the_topic() -> None:
    with pytest.raises(ValidationError, match="store_id"):
        FollowupEvent.model_validate({**followup_event(), "store_id": None})


def test_an_aggregate_carries_answers_by_reason_and_defaults_to_none() -> None:
    assert aggregate().followups == {}
    value = aggregate(followups={"queue": 3, "staff": 1})
    assert StoreAggregate.from_bytes(value.to_bytes()).followups == {"queue": 3, "staff": 1}
    # An aggregate written before follow-ups existed still parses.
    old = value.model_dump(mode="json")
    del old["followups"]
    assert StoreAggregate.model_validate(old).followups == {}


@pytest.mark.parametrize("followups", [{"queue": -1}, {"Not A Reason": 1}])
def test_an_aggregate_refuses_negative_counts_and_bad_reasons(followups: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        StoreAggregate.model_validate(
            {**aggregate().model_dump(mode="json"), "followups": followups}
        )

"""Validation errors in a 4xx body: loc, msg and type, whatever else pydantic adds."""

from __future__ import annotations

import json

import pydantic

from kioskpulse.validation import json_safe_errors


class Rating(pydantic.BaseModel):
    rating: int = pydantic.Field(ge=1, le=4)

    @pydantic.field_validator("rating")
    @classmethod
    def not_three(cls, value: int) -> int:
        if value == 3:
            raise ValueError("three is not a rating")
        return value


def test_pydantic_errors_keep_loc_msg_and_type_only_and_serialise() -> None:
    for body in ({"rating": 9}, {"rating": 3}, {}):
        try:
            Rating.model_validate(body)
        except pydantic.ValidationError as exc:
            errors = exc.errors()
        else:
            raise AssertionError(f"{body} validated")
        safe = json_safe_errors(errors)
        assert [list(error) for error in safe] == [["loc", "msg", "type"]]
        assert safe[0]["loc"] == ("rating",)
        json.dumps(safe)  # a ValueError in ctx would not serialise


def test_our_own_errors_pass_as_they_are() -> None:
    ours = [{"type": "event_time", "msg": "pressed_at is too old", "loc": ("body", "single")}]
    assert json_safe_errors(ours) == [
        {"loc": ("body", "single"), "msg": "pressed_at is too old", "type": "event_time"}
    ]
    assert json_safe_errors([{"msg": "no loc"}]) == [{"msg": "no loc"}]

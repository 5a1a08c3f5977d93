"""Response bodies and the error statuses each route documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

__all__ = ["DEVICE_WRITE_ERRORS", "Accepted", "ErrorBody", "accepted"]


class Accepted(BaseModel):
    """How many events the broker acknowledged."""

    accepted: int


def accepted(count: int) -> Response:
    """The 202 of a write, as a ready response.

    Returning a Response skips FastAPI's validation and serialisation of the
    response model (``Accepted`` still documents it), a measurable share of a
    single-rating request.
    """
    return Response(
        f'{{"accepted":{count}}}'.encode(), status_code=202, media_type="application/json"
    )


class ErrorBody(BaseModel):
    """Every refusal: a reason, or for 422 the list of offending fields."""

    detail: str | list[dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: Statuses shared by every route through which a device writes events.
DEVICE_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("missing, unknown or revoked token"),
    403: _error("the token belongs to another device"),
    413: _error("body larger than the configured limit"),
    422: _error("invalid field, rating outside the kiosk's scale, or implausible timestamp"),
    429: _error("per-device rate limit exceeded; see Retry-After"),
    503: _error("the broker did not acknowledge in time; retry with the same events"),
}

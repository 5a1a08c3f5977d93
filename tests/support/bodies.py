"""Request bodies as devices send them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["JPEG", "PNG", "UNIFORM", "followup", "now_iso", "rating"]

#: The first bytes of a JPEG and of a PNG (enough for the API's type check, not to decode).
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
#: Expression probabilities that say nothing.
UNIFORM = [1 / 7] * 7


def now_iso(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def rating(value: int = 3, **overrides: Any) -> dict[str, Any]:
    """A valid rating body, pressed now."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "rating": value,
        "pressed_at": datetime.now(UTC).isoformat(),
    }
    body.update(overrides)
    return body


def followup(reason: str = "queue", **overrides: Any) -> dict[str, Any]:
    """A valid follow-up answer body, answered now, to a press of its own."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "rating_event_id": str(uuid.uuid4()),
        "reason": reason,
        "answered_at": datetime.now(UTC).isoformat(),
    }
    body.update(overrides)
    return body

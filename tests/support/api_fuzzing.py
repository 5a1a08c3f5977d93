"""What the schemathesis runs share: the device endpoints and how cases are steered.

Used by the in-process fuzz test (tests/unit/kiosk_api/test_api_fuzz.py) and by the one
against the running API process (tests/faults/test_hostile_input.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_api.images import IMAGE_MAGIC
from kioskpulse.events import DEFAULT_FOLLOWUP_REASONS

__all__ = [
    "DEVICE_ENDPOINTS",
    "KIOSK_CONFIG",
    "PAIRING",
    "PAIRING_REFUSALS",
    "answers_to",
    "steer_case",
    "steer_towards_valid",
]

#: (path, method, the device of tests.support.fleet.make_fleet whose identity the path takes)
DEVICE_ENDPOINTS = [
    ("/v1/kiosks/{kiosk_id}/ratings", "POST", {"kiosk_id": "k5"}),
    ("/v1/kiosks/{kiosk_id}/followups", "POST", {"kiosk_id": "k1"}),
    ("/v1/kiosks/{kiosk_id}/heartbeat", "POST", {"kiosk_id": "k1"}),
    ("/v1/cameras/{camera_id}/frames", "POST", {"camera_id": "cam-k1"}),
    ("/v1/cameras/{camera_id}/observations", "POST", {"camera_id": "cam-floor"}),
]

#: The kiosk page's configuration: a read, nothing in it to generate but the path and
#: the token (fuzzed with made-up kiosk ids and tokens beside the real one).
KIOSK_CONFIG = ("/v1/kiosks/{kiosk_id}/config", "GET")

#: The one endpoint without a device token: a guessed code is never right, so every
#: answer is a refusal with a reason (404, 410, 422, or 429 once guessing is too fast).
PAIRING = ("/v1/pairing", "POST")
PAIRING_REFUSALS = {404, 410, 422, 429}


def answers_to(
    cases: st.SearchStrategy[schemathesis.Case],
    count: int,
    call: Callable[[schemathesis.Case], Any],
    check: Callable[[schemathesis.Case, Any], None],
) -> Counter[int]:
    """Send ``count`` generated cases with ``call``, ``check`` each answer; the statuses."""
    statuses: Counter[int] = Counter()

    @given(case=cases)
    @settings(
        max_examples=count, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: schemathesis.Case) -> None:
        response = call(case)
        statuses[response.status_code] += 1
        check(case, response)

    run()
    return statuses


TIME_FIELDS = {"pressed_at", "sent_at", "captured_at", "answered_at"}


def steer_case(case: schemathesis.Case) -> None:
    """Move a generated case towards what the server accepts (see steer_towards_valid)."""
    if isinstance(case.body, bytes):
        # Random bytes almost never start with an image signature: give them one, so
        # that frames reach the publish path (the vision stage decodes, not the API).
        magic = IMAGE_MAGIC.get(case.media_type or "")
        if magic is not None and not case.body.startswith(magic):
            case.body = magic + case.body
    else:
        case.body = steer_towards_valid(case.body)
    if case.query and "captured_at" in case.query:
        case.query = {**case.query, "captured_at": datetime.now(UTC).isoformat()}


def steer_towards_valid(value: Any) -> Any:
    """The same body with timestamps moved to now, probability vectors normalised and
    follow-up reasons among the kiosk's (the registry's defaults).

    The schema cannot say "within the last week", "sums to 1" or "one of the kiosk's
    reasons", so generated data almost never meets those rules; steering half the
    cases lets the fuzzer reach the publish path too.
    """
    if isinstance(value, dict):
        return {key: _steer_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [steer_towards_valid(item) for item in value]
    return value


def _steer_field(key: str, item: Any) -> Any:
    if key in TIME_FIELDS and isinstance(item, str):
        return datetime.now(UTC).isoformat()
    if key == "reason" and isinstance(item, str):
        return DEFAULT_FOLLOWUP_REASONS[0]
    numbers = isinstance(item, list) and all(type(p) in (int, float) for p in item)
    if key == "probs" and numbers:
        total = sum(item)
        if total > 0 and all(p >= 0 for p in item):
            return [p / total for p in item]
    return steer_towards_valid(item)

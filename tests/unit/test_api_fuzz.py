"""Property-based fuzzing of the kiosk API from its own OpenAPI schema (schemathesis).

Each device endpoint gets at least 200 generated requests — valid and invalid
bodies, with the device's real token and without — and none may answer 5xx.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from kiosk_api import create_app
from kioskpulse.bus.memory import MemoryBus
from tests.conftest import make_fleet, memory_settings

MIN_CASES = 200

_fleet = make_fleet(Path(tempfile.mkdtemp(prefix="kioskpulse-fuzz-")) / "devices.yaml")
_app = create_app(memory_settings(_fleet), bus=MemoryBus(retention=1000), manage_bus=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)

# (path, method, the device whose identity the path parameter takes)
DEVICE_ENDPOINTS = [
    ("/v1/kiosks/{kiosk_id}/ratings", "POST", {"kiosk_id": "k5"}),
    ("/v1/kiosks/{kiosk_id}/heartbeat", "POST", {"kiosk_id": "k1"}),
    ("/v1/cameras/{camera_id}/frames", "POST", {"camera_id": "cam-k1"}),
    ("/v1/cameras/{camera_id}/observations", "POST", {"camera_id": "cam-floor"}),
]


TIME_FIELDS = {"pressed_at", "sent_at", "captured_at"}


def steer_towards_valid(value: Any) -> Any:
    """The same body with timestamps moved to now and probability vectors normalised.

    The schema cannot say "within the last week" or "sums to 1", so generated data
    almost never meets those rules; steering half the cases lets the fuzzer reach
    the publish path too.
    """
    if isinstance(value, dict):
        return {key: _steer_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [steer_towards_valid(item) for item in value]
    return value


def _steer_field(key: str, item: Any) -> Any:
    if key in TIME_FIELDS and isinstance(item, str):
        return datetime.now(UTC).isoformat()
    numbers = isinstance(item, list) and all(type(p) in (int, float) for p in item)
    if key == "probs" and numbers:
        total = sum(item)
        if total > 0 and all(p >= 0 for p in item):
            return [p / total for p in item]
    return steer_towards_valid(item)


@pytest.mark.parametrize(("path", "method", "identity"), DEVICE_ENDPOINTS)
def test_no_generated_request_gets_a_server_error(
    path: str, method: str, identity: dict[str, str]
) -> None:
    operation = schema[path][method]
    [device_id] = identity.values()
    auth = {"Authorization": f"Bearer {_fleet.tokens[device_id]}"}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=identity, headers=auth),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=identity, headers=auth),
        operation.as_strategy(GenerationMode.POSITIVE),
    )
    statuses: Counter[int] = Counter()

    @given(case=cases, now=st.booleans())
    @settings(
        max_examples=MIN_CASES + 50,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case, now: bool) -> None:
        if now:
            case.body = steer_towards_valid(case.body)
            if case.query and "captured_at" in case.query:
                case.query = {**case.query, "captured_at": datetime.now(UTC).isoformat()}
        response = case.call()
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}: {response.text[:500]}"
        )

    run()
    assert sum(statuses.values()) >= MIN_CASES, f"only {statuses.total()} cases: {statuses}"
    assert statuses[202] > 0, f"no request went through: {statuses}"
    assert len(statuses) >= 2, f"the fuzzer explored only one outcome: {statuses}"

"""Property-based fuzzing of the kiosk API from its own OpenAPI schema (schemathesis).

Each device endpoint gets at least 200 generated requests — valid and invalid
bodies, with the device's real token and without — and none may answer 5xx.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from kiosk_api import create_app
from kioskpulse.bus.memory import MemoryBus
from tests.support.api_fuzzing import (
    DEVICE_ENDPOINTS,
    PAIRING,
    PAIRING_REFUSALS,
    answers_to,
    steer_case,
)
from tests.support.fleet import make_fleet, memory_settings

MIN_CASES = 200

_fleet = make_fleet(Path(tempfile.mkdtemp(prefix="kioskpulse-fuzz-")) / "devices.yaml")
_app = create_app(memory_settings(_fleet), bus=MemoryBus(retention=1000), manage_bus=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


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
            steer_case(case)
        response = case.call()
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}: {response.text[:500]}"
        )

    run()
    assert sum(statuses.values()) >= MIN_CASES, f"only {statuses.total()} cases: {statuses}"
    assert statuses[202] > 0, f"no request went through: {statuses}"
    assert len(statuses) >= 2, f"the fuzzer explored only one outcome: {statuses}"


def test_every_generated_pairing_code_is_refused_with_a_reason() -> None:
    def refused(case: schemathesis.Case, response: Any) -> None:
        assert response.status_code in PAIRING_REFUSALS, case.as_curl_command()
        assert response.json()["detail"]

    cases = schema[PAIRING[0]][PAIRING[1]].as_strategy()
    statuses = answers_to(cases, MIN_CASES, lambda case: case.call(), refused)
    assert statuses.total() >= MIN_CASES
    assert statuses[429] > 0, f"guessing was never slowed down: {statuses}"

"""With the broker down the API refuses with 503 in time, and recovers by itself.

This test stops and restarts the local broker with deploy/kafka/kafka.sh.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from kioskpulse.events import RatingEvent
from kioskpulse.topics import RATINGS
from tests.support.bodies import rating
from tests.support.kafka import end_offsets, events_of, kafka_script, read_new
from tests.support.processes import PUBLISH_TIMEOUT, RunningApi

# Time the request itself may add to the publish timeout (HTTP, JSON, scheduling).
MARGIN = 0.5
RECOVERY_LIMIT = 90.0


async def test_broker_down_gives_503_in_time_and_recovery_needs_no_api_restart(
    api: RunningApi, kafka_bootstrap: str
) -> None:
    url = f"{api.url}/v1/kiosks/k1/ratings"
    headers = api.fleet.auth("k1")
    async with httpx.AsyncClient(timeout=30) as client:
        warmup = await client.post(url, json=rating(), headers=headers)
        assert warmup.status_code == 202, warmup.text

        kafka_script("stop")
        try:
            for _ in range(3):
                started = time.monotonic()
                refused = await client.post(url, json=rating(), headers=headers)
                elapsed = time.monotonic() - started
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"].isdigit()
                assert elapsed <= PUBLISH_TIMEOUT + MARGIN, f"503 took {elapsed:.2f} s"
            ready = await client.get(f"{api.url}/readyz")
            assert ready.status_code == 503
        finally:
            kafka_script("start")

        start = await end_offsets(kafka_bootstrap, RATINGS)
        # A kiosk retries the same event until it is acknowledged.
        body = rating(2)
        deadline = time.monotonic() + RECOVERY_LIMIT
        statuses = []
        while time.monotonic() < deadline:
            response = await client.post(url, json=body, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 202:
                break
            assert response.status_code == 503, response.text
            await asyncio.sleep(1)
        assert statuses[-1] == 202, f"no recovery within {RECOVERY_LIMIT} s: {statuses}"
        assert api.process.poll() is None, "the API process kept running throughout"
        assert (await client.get(f"{api.url}/readyz")).status_code == 200

    records = await read_new(kafka_bootstrap, start, want=1_000, within=5)
    ids = [str(event.event_id) for event in events_of(records, RatingEvent)]
    assert body["event_id"] in ids

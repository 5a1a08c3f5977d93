"""Posting as a device: its own token, bounded concurrency, retries as real devices must.

The protocol is ``kioskpulse.device_client``'s, the one the edge agent speaks too: a
write refused with 429 or 5xx (503: broker not acking) is retried with the same
body, hence the same event id, after the Retry-After the API gave; a network error
after an exponential backoff (jittered, capped). Any other refusal is final:
retrying cannot fix it. A device gives up after ``max_attempts``, or never (None):
a kiosk that buffers its presses until the API takes them. This module only counts
what the devices saw into ``SimulatorStats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from kioskpulse.device_client import Attempt, DeviceClient, RetryPolicy

__all__ = ["DevicePoster", "DeviceRequest", "EventKind", "SimulatorStats"]

EventKind = Literal["ratings", "followups", "heartbeats", "observations"]


@dataclass
class SimulatorStats:
    """What the simulated devices saw of the API.

    ``sent``, ``accepted`` and ``responses`` count requests (a retry is a request);
    ``events_sent`` and ``events_accepted`` count events, by (store id, kind), each
    event once however often it was retried.
    """

    sent: int = 0
    accepted: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    events_sent: Counter[tuple[str, EventKind]] = field(default_factory=Counter)
    events_accepted: Counter[tuple[str, EventKind]] = field(default_factory=Counter)
    #: Every acknowledged request, when asked for (the fault suite's yardstick).
    acknowledged: list[DeviceRequest] = field(default_factory=list)
    keep_acknowledged: bool = False

    def sent_events(self, kind: EventKind, store_id: str | None = None) -> int:
        return _total(self.events_sent, kind, store_id)

    def accepted_events(self, kind: EventKind, store_id: str | None = None) -> int:
        return _total(self.events_accepted, kind, store_id)


def _total(counts: Counter[tuple[str, EventKind]], kind: EventKind, store_id: str | None) -> int:
    return sum(n for (store, k), n in counts.items() if k == kind and store_id in (None, store))


@dataclass(frozen=True)
class DeviceRequest:
    """One write of one device: the body is sent unchanged on every attempt."""

    store_id: str
    kind: EventKind
    path: str
    token: str
    body: dict[str, Any]
    events: int = 1


class DevicePoster:
    """Sends device requests in the background, at most ``max_in_flight`` at a time."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        stats: SimulatorStats,
        *,
        max_in_flight: int = 32,
        max_attempts: int | None = 5,
        backoff: float = 0.5,
        max_backoff: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._stats = stats
        self._slots = asyncio.Semaphore(max_in_flight)
        self._device = DeviceClient(
            client,
            RetryPolicy(max_attempts=max_attempts, backoff=backoff, max_backoff=max_backoff),
            rng=rng,
            before_attempt=self._sending,
            after_attempt=self._answered,
        )
        self._tasks: set[asyncio.Task[bool]] = set()

    def launch(self, request: DeviceRequest) -> None:
        """Send ``request`` in the background (the caller does not wait for the answer)."""
        self._stats.events_sent[request.store_id, request.kind] += request.events
        task = asyncio.create_task(self._send(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for_launched(self) -> None:
        """Wait until every request launched so far has its answer (retries included)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, within: float | None) -> None:
        """Wait for the requests under way; cancel what is still retrying after ``within`` s
        (None: wait for all)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            self._stats.errors["cancelled at stop"] += len(pending)

    async def _send(self, request: DeviceRequest) -> bool:
        async with self._slots:
            result = await self._device.post(request.path, request.token, json=request.body)
        stats = self._stats
        if result.accepted:
            stats.accepted += 1
            stats.events_accepted[request.store_id, request.kind] += request.events
            if stats.keep_acknowledged:
                stats.acknowledged.append(request)
        elif result.outcome == "refused":
            stats.errors[f"refused {result.status}"] += 1
        else:
            stats.errors["gave up after retries"] += 1
        return result.accepted

    def _sending(self, attempt: int) -> None:
        self._stats.sent += 1

    def _answered(self, attempt: Attempt) -> None:
        if attempt.response is not None:
            self._stats.responses[attempt.response.status_code] += 1
        else:
            self._stats.errors[type(attempt.error).__name__] += 1

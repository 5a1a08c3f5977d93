"""A worker's writes (outputs, changelog) retried until the broker has them.

An agent must not lose a batch whose outputs failed: its input events are
acknowledged only after the outputs, and a crashed agent would leave them neither
processed nor re-read until the next rebalance. So a failed write is retried, the
whole of it (outputs are upserts, dead letters and observations: a second copy is
harmless), and faust's own producer is replaced when ``kioskpulse.bus.recovery``
says it cannot recover. faust's producer is not idempotent, so it does not meet
the sequence-number wedge of the API's producer, but a producer can still be
closed under the worker or stop sending; every write is bounded by a timeout.

``WorkerHealth`` also decides when a worker that does not consume, while a broker
answers, has been stuck long enough to exit for its supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from kioskpulse.bus.recovery import (
    PRODUCER_REPLACEMENTS,
    ProducerHealth,
    Verdict,
    broker_answers,
)

__all__ = ["DurableWrites", "FaustProducerSlot", "ProducerSlot", "StallWatch"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)


class ProducerSlot(Protocol):
    """Where the worker's aiokafka producer lives, and how to put a new one there."""

    def current(self) -> Any:
        """The aiokafka producer in use now (None before the worker started)."""

    async def replace(self) -> None:
        """Start a new producer, put it in use, close the old one (bounded)."""


class FaustProducerSlot:
    """faust's producer service keeps its aiokafka producer in ``_producer``."""

    def __init__(self, app: Any, close_timeout: float) -> None:
        self.app = app
        self.close_timeout = close_timeout

    def current(self) -> Any:
        return getattr(self.app.producer, "_producer", None)

    async def replace(self) -> None:
        driver = self.app.producer
        fresh = driver._new_producer()
        await fresh.start()  # raises if no broker answers: the old one stays meanwhile
        old, driver._producer = driver._producer, fresh
        if old is not None:
            with contextlib.suppress(TimeoutError, KafkaError, OSError):
                async with asyncio.timeout(self.close_timeout):
                    await old.stop()


class DurableWrites:
    """Runs a write until it succeeds; replaces the producer when it cannot recover."""

    def __init__(
        self,
        slot: ProducerSlot,
        *,
        timeout: float,
        readiness_timeout: float = 2.0,
        delays: tuple[float, ...] = _RETRY_DELAYS,
    ) -> None:
        self.slot = slot
        self.timeout = timeout
        self.readiness_timeout = readiness_timeout
        self.delays = delays
        self.health = ProducerHealth()
        #: Since when writes have failed without a success (None: they succeed).
        self.failing_since: float | None = None

    async def run(self, write: Callable[[], Awaitable[T]], what: str) -> T:
        """``write()`` until it returns; every attempt bounded by ``timeout``."""
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    result = await write()
            except (TimeoutError, KafkaError, ProducerSendError) as exc:
                error = exc.__cause__ if isinstance(exc, ProducerSendError) else exc
                await self._failed(error or exc, what)
                await asyncio.sleep(self.delays[min(attempt, len(self.delays) - 1)])
                attempt += 1
                continue
            self.health.succeeded()
            self.failing_since = None
            return result

    async def _failed(self, error: BaseException, what: str) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        producer = self.slot.current()
        verdict, reason = self.health.failed(error, producer)
        log.warning("writing %s failed (%s: %s); retrying", what, type(error).__name__, error)
        if verdict is Verdict.KEEP:
            return
        if verdict is Verdict.CHECK_BROKER and not await broker_answers(
            producer, self.readiness_timeout
        ):
            return  # an outage: the producer resumes once the broker is back
        log.warning("the worker's Kafka producer cannot recover (%s); replacing it", reason)
        try:
            await self.slot.replace()
        except (KafkaError, OSError) as exc:
            log.warning("could not start a new producer yet: %s", exc)
            return
        PRODUCER_REPLACEMENTS.labels(reason).inc()
        self.health.replaced()


@dataclass
class StallWatch:
    """Says when a worker has not consumed, while a broker answered, for ``limit`` seconds.

    faust recovers from most faults by itself; when it does not (a rebalance or a
    table recovery that never ends), a process that stays alive but idle is worse
    than one that exits: its supervisor restarts it, and at-least-once delivery
    with idempotent state makes the restart safe.
    """

    limit: float
    stuck_since: float | None = None

    def observe(self, consuming: bool, broker_answers: bool, now: float) -> bool:
        """Record one look at the worker; True when it is time to exit."""
        if consuming or not broker_answers:
            self.stuck_since = None  # working, or waiting out an outage
            return False
        if self.stuck_since is None:
            self.stuck_since = now
        return now - self.stuck_since >= self.limit

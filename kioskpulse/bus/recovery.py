"""When a Kafka producer must be replaced rather than waited for.

aiokafka retries what it can (lost connections, leader moves) by itself. Some
failures it cannot get out of: after a broker restart with produce requests in
flight, an idempotent producer's sequence numbers no longer match the broker's
and every later batch of that partition fails with ``OutOfOrderSequenceNumber``
(aiokafka does not bump the epoch or reset sequences: aio-libs/aiokafka#1017); a
fenced, closed or stopped producer never sends again. The only way out is a new
producer (a new producer id). This module decides *when*; the owners of a
producer (the API's bus, the worker's outputs) do the replacing.

The decision::

    failure ─┬─ an error of UNRECOVERABLE ........................ replace now
             ├─ the producer's sender task has stopped ........... replace now
             └─ a timeout ── TIMEOUTS_BEFORE_CHECK in a row ─┬─ broker answers: replace
                                                             └─ broker down: wait (normal outage)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from prometheus_client import Counter

__all__ = [
    "PRODUCER_REPLACEMENTS",
    "TIMEOUTS_BEFORE_CHECK",
    "UNRECOVERABLE",
    "ProducerHealth",
    "Verdict",
    "broker_answers",
    "sender_stopped",
]

#: Errors after which a producer never produces again.
UNRECOVERABLE: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    ProducerClosed,
)

#: Publishes that timed out in a row before the broker is asked whether it is back.
TIMEOUTS_BEFORE_CHECK = 3

PRODUCER_REPLACEMENTS = Counter(
    "kioskpulse_bus_producer_replacements",
    "Kafka producers replaced by a new one because they could not recover, by reason.",
    ["reason"],
)


class Verdict(Enum):
    KEEP = "keep"  # a failure the producer recovers from by itself
    REPLACE = "replace"  # beyond saving: make a new producer
    CHECK_BROKER = "check_broker"  # replace if the broker answers (it is not an outage)


def sender_stopped(producer: Any) -> bool:
    """Whether an aiokafka producer's sender task has ended (nothing will be sent again)."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    return task is not None and task.done()


async def broker_answers(producer: Any, within: float) -> bool:
    """Whether a broker answers the producer's client within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            await producer.client.fetch_all_metadata()
    except (TimeoutError, KafkaError, OSError):
        return False
    return True


@dataclass
class ProducerHealth:
    """Follows one producer's publishes and says what a failure calls for."""

    timeouts_before_check: int = TIMEOUTS_BEFORE_CHECK
    timeouts_in_a_row: int = 0

    def succeeded(self) -> None:
        self.timeouts_in_a_row = 0

    def failed(self, error: BaseException, producer: Any = None) -> tuple[Verdict, str]:
        """The verdict on a failed publish and its reason (a bounded metric label)."""
        if isinstance(error, UNRECOVERABLE):
            return Verdict.REPLACE, type(error).__name__
        if producer is not None and sender_stopped(producer):
            return Verdict.REPLACE, "sender_stopped"
        if isinstance(error, TimeoutError):
            self.timeouts_in_a_row += 1
            if self.timeouts_in_a_row >= self.timeouts_before_check:
                return Verdict.CHECK_BROKER, "timeouts"
        return Verdict.KEEP, type(error).__name__

    def replaced(self) -> None:
        self.timeouts_in_a_row = 0

"""The worker's writes are retried until they succeed; a producer beyond saving is replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber, ProducerClosed
from faust.exceptions import ProducerSendError

from kioskpulse.bus.recovery import TIMEOUTS_BEFORE_CHECK
from stream_processors.durable_output import DurableWrites, StallWatch

NO_WAIT = (0.0,)


class Client:
    def __init__(self, answers: bool) -> None:
        self.answers = answers

    async def fetch_all_metadata(self) -> None:
        if not self.answers:
            raise KafkaConnectionError("down")


class Producer:
    def __init__(self, answers: bool = True) -> None:
        self.client = Client(answers)


class Slot:
    """Stands in for faust's producer service; counts replacements."""

    def __init__(self, answers: bool = True) -> None:
        self.producer = Producer(answers)
        self.replaced = 0

    def current(self) -> Any:
        return self.producer

    async def replace(self) -> None:
        self.replaced += 1
        self.producer = Producer()


def failing(*errors: BaseException) -> Any:
    """A write that raises ``errors`` in turn, then returns "written"."""
    remaining = list(errors)
    calls = []

    async def write() -> str:
        calls.append(1)
        if remaining:
            raise remaining.pop(0)
        return "written"

    write.calls = calls  # type: ignore[attr-defined]
    return write


@pytest.mark.parametrize(
    "error",
    [
        OutOfOrderSequenceNumber(),
        ProducerClosed(),
        # faust wraps what aiokafka's send() raises
        ProducerSendError("Error while sending"),
    ],
    ids=["wedged", "closed", "wrapped-by-faust"],
)
async def test_an_unrecoverable_error_replaces_the_producer_and_the_write_is_retried(
    error: Exception,
) -> None:
    if isinstance(error, ProducerSendError):
        error.__cause__ = ProducerClosed()
    slot = Slot()
    writes = DurableWrites(slot, timeout=1, delays=NO_WAIT)
    write = failing(error)
    assert await writes.run(write, "outputs") == "written"
    assert slot.replaced == 1
    assert len(write.calls) == 2
    assert writes.failing_since is None


async def test_a_lost_connection_is_retried_with_the_same_producer() -> None:
    slot = Slot()
    writes = DurableWrites(slot, timeout=1, delays=NO_WAIT)
    write = failing(KafkaConnectionError("gone"), KafkaConnectionError("gone"))
    assert await writes.run(write, "outputs") == "written"
    assert slot.replaced == 0
    assert len(write.calls) == 3


async def test_writes_that_hang_while_the_broker_answers_replace_the_producer() -> None:
    slot = Slot()
    writes = DurableWrites(slot, timeout=0.01, delays=NO_WAIT)
    hangs = [True] * TIMEOUTS_BEFORE_CHECK

    async def write() -> str:
        if hangs and hangs.pop():
            await asyncio.sleep(1)
        return "written"

    assert await writes.run(write, "the changelog") == "written"
    assert slot.replaced == 1


async def test_writes_that_hang_in_an_outage_keep_the_producer() -> None:
    slot = Slot(answers=False)
    writes = DurableWrites(slot, timeout=0.01, delays=NO_WAIT)
    hangs = [True] * (TIMEOUTS_BEFORE_CHECK + 2)
    failing_seen = []

    async def write() -> str:
        if hangs and hangs.pop():
            failing_seen.append(writes.failing_since is not None)
            await asyncio.sleep(1)
        return "written"

    assert await writes.run(write, "outputs") == "written"
    assert slot.replaced == 0
    assert failing_seen[1:] == [True] * (len(failing_seen) - 1), "readiness sees the failure"


def test_the_stall_watch_exits_only_when_stuck_while_the_broker_answers() -> None:
    watch = StallWatch(limit=60)
    assert not watch.observe(consuming=False, broker_answers=True, now=0)
    assert not watch.observe(consuming=False, broker_answers=True, now=59)
    assert watch.observe(consuming=False, broker_answers=True, now=60)


def test_the_stall_watch_waits_out_outages_and_forgets_after_progress() -> None:
    watch = StallWatch(limit=60)
    for now in range(0, 600, 10):  # a ten-minute outage: not the worker's fault
        assert not watch.observe(consuming=False, broker_answers=False, now=now)
    assert not watch.observe(consuming=False, broker_answers=True, now=600)
    assert not watch.observe(consuming=True, broker_answers=True, now=650)
    assert not watch.observe(consuming=False, broker_answers=True, now=700)
    assert not watch.observe(consuming=False, broker_answers=True, now=759)
    assert watch.observe(consuming=False, broker_answers=True, now=760)

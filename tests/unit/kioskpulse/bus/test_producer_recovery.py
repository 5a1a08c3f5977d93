"""The Kafka bus replaces a producer that cannot recover, driven with aiokafka's own errors.

The producer is a stand-in (this tests our decision and swap, not aiokafka); the
real wedge on a real broker is tests/faults/test_producer_wedge.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    RequestTimedOutError,
)
from prometheus_client import REGISTRY

from kioskpulse.bus import BusUnavailable, PublishError, PublishTimeout, Record
from kioskpulse.bus.kafka import KafkaBus
from kioskpulse.bus.recovery import (
    TIMEOUTS_BEFORE_CHECK,
    UNRECOVERABLE,
    ProducerHealth,
    Verdict,
)
from kioskpulse.settings import Settings

RECORD = Record("kiosk.ratings.v1", "s1", b"{}")


class StandInClient:
    def __init__(self, producer: StandInProducer) -> None:
        self.producer = producer

    async def fetch_all_metadata(self) -> None:
        if not self.producer.broker_answers:
            raise KafkaConnectionError("no broker")


class StandInProducer:
    """Answers every send with ``outcome``: an exception, None for an ack, or "hang"."""

    def __init__(self, outcome: BaseException | str | None) -> None:
        self.outcome = outcome
        self.broker_answers = True
        self.started = self.stopped = False
        self.client = StandInClient(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if isinstance(self.outcome, BaseException):
            future.set_exception(self.outcome)
        elif self.outcome is None:
            future.set_result("ack")
        return future  # "hang": never resolves


def bus_with(producers: list[StandInProducer]) -> KafkaBus:
    """A bus whose successive producers are ``producers``, in order."""
    made = iter(producers)

    def factory(**_: Any) -> StandInProducer:
        return next(made)

    settings = Settings(publish_timeout_seconds=0.05, readiness_timeout_seconds=0.05)
    return KafkaBus(settings, producer_factory=factory)


def replacements(reason: str) -> float:
    sample = REGISTRY.get_sample_value(
        "kioskpulse_bus_producer_replacements_total", {"reason": reason}
    )
    return sample or 0.0


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (polls a plain attribute of a stand-in)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("error_type", UNRECOVERABLE, ids=lambda t: t.__name__)
async def test_an_unrecoverable_error_replaces_the_producer(error_type: type[Exception]) -> None:
    wedged, fresh = StandInProducer(error_type()), StandInProducer(None)
    bus = bus_with([wedged, fresh])
    before = replacements(error_type.__name__)
    await bus.start()
    with pytest.raises(PublishError):
        await bus.publish([RECORD])  # the request in flight fails: the device retries
    assert replacements(error_type.__name__) == before + 1
    await eventually(lambda: fresh.started)
    assert await bus.ready()
    await bus.publish([RECORD])  # the retry goes through the new producer
    await eventually(lambda: wedged.stopped)
    await bus.stop()
    assert fresh.stopped


async def test_publishes_fail_fast_and_readiness_is_false_while_replacing() -> None:
    wedged, fresh = StandInProducer(OutOfOrderSequenceNumber()), StandInProducer(None)
    fresh_start = asyncio.Event()

    async def slow_start() -> None:
        await fresh_start.wait()
        fresh.started = True

    fresh.start = slow_start  # type: ignore[method-assign]
    bus = bus_with([wedged, fresh])
    await bus.start()
    with pytest.raises(PublishError):
        await bus.publish([RECORD])
    assert not await bus.ready()
    with pytest.raises(BusUnavailable):
        await bus.publish([RECORD])
    fresh_start.set()
    await eventually(lambda: fresh.started)
    assert await bus.ready()
    await bus.stop()


async def test_a_run_of_timeouts_while_the_broker_answers_replaces_the_producer() -> None:
    stuck, fresh = StandInProducer("hang"), StandInProducer(None)
    bus = bus_with([stuck, fresh])
    before = replacements("timeouts")
    await bus.start()
    for _ in range(TIMEOUTS_BEFORE_CHECK):
        with pytest.raises(PublishTimeout):
            await bus.publish([RECORD])
    await eventually(lambda: fresh.started)
    assert replacements("timeouts") == before + 1
    await bus.publish([RECORD])
    await bus.stop()


async def test_timeouts_while_the_broker_is_down_keep_the_producer() -> None:
    """An outage: the producer resends by itself once the broker is back."""
    waiting = StandInProducer("hang")
    waiting.broker_answers = False
    bus = bus_with([waiting])
    before = replacements("timeouts")
    await bus.start()
    for _ in range(TIMEOUTS_BEFORE_CHECK + 2):
        with pytest.raises(PublishTimeout):
            await bus.publish([RECORD])
    await asyncio.sleep(0.2)  # let the broker checks run
    assert replacements("timeouts") == before
    assert not waiting.stopped
    waiting.outcome, waiting.broker_answers = None, True
    await bus.publish([RECORD])
    await bus.stop()


@pytest.mark.parametrize(
    "error",
    [NotLeaderForPartitionError(), RequestTimedOutError(), KafkaConnectionError("gone")],
    ids=lambda e: type(e).__name__,
)
def test_errors_the_client_retries_by_itself_keep_the_producer(error: Exception) -> None:
    assert ProducerHealth().failed(error)[0] is Verdict.KEEP


def test_a_success_ends_a_run_of_timeouts() -> None:
    health = ProducerHealth(timeouts_before_check=2)
    assert health.failed(TimeoutError())[0] is Verdict.KEEP
    health.succeeded()
    assert health.failed(TimeoutError())[0] is Verdict.KEEP
    assert health.failed(TimeoutError()) == (Verdict.CHECK_BROKER, "timeouts")


def test_a_producer_whose_sender_task_ended_is_replaced() -> None:
    class EndedTask:
        def done(self) -> bool:
            return True

    class Sender:
        sender_task = EndedTask()

    class Dead:
        _sender = Sender()

    assert ProducerHealth().failed(TimeoutError(), Dead()) == (Verdict.REPLACE, "sender_stopped")

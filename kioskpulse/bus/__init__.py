"""The message bus: one publish interface over Kafka (production) and memory (embedded).

Exceptions::

    PublishError               the bus could not durably take the write
      ├─ PublishTimeout        no acknowledgement within the publish timeout
      └─ BusUnavailable        not connected to any broker (yet)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kioskpulse.settings import Settings
from kioskpulse.topics import TopicSpec

__all__ = [
    "Bus",
    "BusUnavailable",
    "PublishError",
    "PublishTimeout",
    "Record",
    "StageOutput",
    "make_bus",
]

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One message: what producers hand to the bus and what subscribers receive."""

    topic: str
    key: str | None
    value: bytes
    headers: Headers = ()
    # Set by the bus on delivery; None on records being published.
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None


@dataclass
class StageOutput:
    """What a transport-free stage returns for a batch: the records it made (faces,
    bucket values) and the dead letters of the input it could not take."""

    produced: list[Record] = field(default_factory=list)
    dead_letters: list[Record] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        """Everything to publish, in order."""
        return [*self.produced, *self.dead_letters]


class PublishError(Exception):
    """The bus could not durably take the write; nothing may be acknowledged."""


class PublishTimeout(PublishError):
    """The broker did not acknowledge within the publish timeout."""


class BusUnavailable(PublishError):
    """Not connected to any broker (yet); the bus keeps trying in the background."""


class Bus(Protocol):
    """What the API needs from a transport: Kafka in the processes, memory in the demo."""

    async def start(self) -> None:
        """Connect, or begin connecting in the background; never fails on a down broker."""

    async def stop(self) -> None:
        """Flush what was accepted and disconnect."""

    async def publish(self, records: Sequence[Record]) -> None:
        """Return only once every record is durably written; raise PublishError otherwise."""

    async def ready(self) -> bool:
        """Whether a broker answers now (bounded by the readiness timeout)."""

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create the topics that are missing."""


def make_bus(settings: Settings) -> Bus:
    """The bus that ``settings.bus`` names."""
    if settings.bus == "memory":
        from kioskpulse.bus.memory import MemoryBus

        return MemoryBus(publish_timeout=settings.publish_timeout_seconds)
    from kioskpulse.bus.kafka import KafkaBus

    return KafkaBus(settings)

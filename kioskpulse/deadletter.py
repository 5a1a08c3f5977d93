"""Poison messages: set aside with where they came from and why, never crash a worker."""

from __future__ import annotations

import logging

from prometheus_client import Counter

from kioskpulse.bus import Record
from kioskpulse.events import DeadLetterHeaders
from kioskpulse.topics import DEADLETTER

__all__ = ["DEAD_LETTERS", "dead_letter"]

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "kioskpulse_pipeline_dead_letters",
    "Messages set aside on the dead-letter topic, by source topic and reason.",
    ["source_topic", "reason"],
)

_MAX_MESSAGE = 1000


def dead_letter(record: Record, reason: str, error: Exception) -> Record:
    """The dead-letter record for ``record`` (the raw bytes, keyed by source topic); counted."""
    message = str(error)[:_MAX_MESSAGE] or type(error).__name__
    headers = DeadLetterHeaders(
        source_topic=record.topic,
        source_partition=-1 if record.partition is None else record.partition,
        source_offset=-1 if record.offset is None else record.offset,
        error_class=type(error).__name__,
        error_message=message,
    )
    DEAD_LETTERS.labels(record.topic, reason).inc()
    log.warning(
        "dead-lettered %s[%s]@%s (%s): %s",
        record.topic,
        headers.source_partition,
        headers.source_offset,
        reason,
        message,
    )
    return Record(DEADLETTER, record.topic, record.value, tuple(headers.to_headers()))

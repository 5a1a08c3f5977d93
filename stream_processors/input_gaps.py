"""Input offsets that jump forward: records the consumer skipped, to be read again.

The store-keyed input topics are plain (no compaction, no transactions), so the
offsets of one partition reach an agent one after the other. A worker restarted
under load has been seen (faust 0.15.3, aiokafka 0.14, about one restart in
three in tests/integration/test_aggregator_worker.py) to deliver a partition's
records with a jump of a few dozen offsets right after it became ready: those
records were neither processed nor acknowledged, so the committed offset stays
before them, but the stream had moved past them and would only read them after
the next restart. ``InputGaps`` notices the jump; the worker seeks the partition
back to the first missing offset, and reads again what follows (a second copy of
an event counts once: the aggregator de-duplicates).

After a seek, records fetched before it may still arrive first (offsets past the
seek's): they are let through (the aggregator de-duplicates them when they come again)
and tracking resumes with the first record at or before the seek's offset. Measuring
them against the committed offset instead would see a second, false gap and seek back
to it (seen once in CI: a worker sent back hundreds of records it had handled).

A gap that is still there after one repair (records deleted by retention while the
worker lagged) is reported, not chased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter

__all__ = ["INPUT_GAPS", "InputGaps"]

INPUT_GAPS = Counter(
    "kioskpulse_worker_input_gaps",
    "Forward jumps in an input partition's offsets: records skipped by the consumer, "
    "read again by seeking back (repaired) or not (given_up).",
    ["topic", "outcome"],
)

#: (topic, partition, offset)
Position = tuple[str, int, int]


class InputGaps:
    """Follows the next expected offset of every input partition."""

    def __init__(self, start: Callable[[str, int], int | None] = lambda topic, partition: None):
        """``start(topic, partition)``: where a partition's records begin after an
        assignment (the committed offset the consumer seeked to), None if unknown."""
        self._start = start
        self._next: dict[tuple[str, int], int] = {}
        #: Partitions sought back, and to where: until the re-read arrives.
        self._sought: dict[tuple[str, int], int] = {}
        self._repaired: set[tuple[str, int, int]] = set()

    def forget(self) -> None:
        """Partitions moved: the next records start from the committed offsets."""
        self._next.clear()
        self._sought.clear()

    def observe(self, positions: Iterable[Position]) -> list[Position]:
        """Record a batch's positions; returns where to read again (first missing offsets)."""
        seek_back: dict[tuple[str, int], int] = {}
        for topic, partition, offset in positions:
            key = (topic, partition)
            sought = self._sought.get(key)
            if sought is not None:
                if offset > sought:
                    continue  # fetched before the seek; it comes again after the re-read
                # The re-read has begun: it follows on from where the seek went.
                self._next[key] = self._sought.pop(key)
            expected = self._next.get(key)
            if expected is None:
                expected = self._start(topic, partition)
            if expected is not None and offset > expected and key not in seek_back:
                if (topic, partition, expected) in self._repaired:
                    INPUT_GAPS.labels(topic, "given_up").inc()
                else:
                    self._repaired.add((topic, partition, expected))
                    INPUT_GAPS.labels(topic, "repaired").inc()
                    seek_back[key] = expected
            if key not in seek_back:
                self._next[key] = offset + 1
        for key, offset in seek_back.items():
            self._next.pop(key, None)  # the records come again from the seek on
            self._sought[key] = offset
        return [(topic, partition, offset) for (topic, partition), offset in seek_back.items()]

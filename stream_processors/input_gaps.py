"""Input offsets that jump forward: records the consumer skipped, to be read again.

The store-keyed input topics are plain (no compaction, no transactions), so the
offsets of one partition reach an agent one after the other. A worker restarted
under load has been seen (faust 0.15.3, aiokafka 0.14, about one restart in
three in tests/integration/test_aggregator_worker.py) to deliver a partition's
records with a jump of a few dozen offsets right after it became ready: those
records were never processed, and faust's drain loop records such a jump as a
"gap" that it counts as acknowledged (meant for compacted and transactional
topics), so it would commit past them.

A skip at the end of what a partition holds shows no jump: no later record comes to
reveal it (seen in CI: 4,948 of 5,000 counted, the stream over, the last records
never handed over nor committed). So, once the stream has handed the agent nothing
for a while, ``InputGaps.behind`` compares the next expected offset of every
partition with its high watermark: records the consumer fetched but never delivered.

``InputGaps`` notices the jump and returns the missing range; the worker reads it
beside the stream with a consumer of its own (``gap_repair.py``), processes it, and
acknowledges it (and faust's gap bookkeeping is switched off for these topics, so
nothing is committed unread). The stream is never sought back: a seek while faust's
drain loop is in the middle of a fetched batch moves its read offset past the
re-read, which faust then drops as already read (seen in CI: 4,963 of 5,000 counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

__all__ = ["INPUT_GAPS", "Gap", "InputGaps", "count_repair"]

INPUT_GAPS = Counter(
    "kioskpulse_worker_input_gaps",
    "Forward jumps in an input partition's offsets, or records at its end never handed "
    "over: records skipped by the consumer, read again beside the stream (repaired) or "
    "gone from the broker (given_up).",
    ["topic", "outcome"],
)

#: (topic, partition, offset)
Position = tuple[str, int, int]


@dataclass(frozen=True)
class Gap:
    """Offsets ``start`` .. ``end - 1`` of a partition, skipped by the stream."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class InputGaps:
    """Follows the next expected offset of every input partition."""

    def __init__(self, start: Callable[[str, int], int | None] = lambda topic, partition: None):
        """``start(topic, partition)``: where a partition's records begin after an
        assignment (the committed offset the consumer seeked to), None if unknown."""
        self._start = start
        self._next: dict[tuple[str, int], int] = {}
        #: First offsets seen before the committed offset was known (``missed_starts``).
        self._unchecked: dict[tuple[str, int], int] = {}

    def forget(self) -> None:
        """Partitions moved: the next records start from the committed offsets."""
        self._next.clear()
        self._unchecked.clear()

    def missed_starts(self) -> list[Gap]:
        """Skips before a partition's first record that came before its committed offset
        was known (faust hands records over while it still seeks): now it is known."""
        gaps = []
        for (topic, partition), first in list(self._unchecked.items()):
            start = self._start(topic, partition)
            if start is None:
                continue
            del self._unchecked[topic, partition]
            if first > start:
                gaps.append(Gap(topic, partition, start, first))
        return gaps

    def expected(self, topic: str, partition: int) -> int | None:
        """The next offset the stream should hand over (None: not known yet)."""
        expected = self._next.get((topic, partition))
        return self._start(topic, partition) if expected is None else expected

    def behind(self, highwaters: Mapping[tuple[str, int], int | None]) -> list[Gap]:
        """The ranges between the expected offset and the high watermark of each partition
        (call it only while the stream is idle: else they may be on their way)."""
        gaps = []
        for (topic, partition), highwater in highwaters.items():
            expected = self.expected(topic, partition)
            if expected is not None and highwater is not None and highwater > expected:
                gaps.append(Gap(topic, partition, expected, highwater))
        return gaps

    def repaired(self, gap: Gap) -> None:
        """``gap`` was read beside the stream (or is gone): expect what follows it."""
        key = (gap.topic, gap.partition)
        self._next[key] = max(gap.end, self._next.get(key, gap.end))

    def observe(self, positions: Iterable[Position]) -> list[Gap]:
        """Record a batch's positions; returns the ranges the stream skipped."""
        gaps: list[Gap] = []
        for topic, partition, offset in positions:
            key = (topic, partition)
            expected = self.expected(topic, partition)
            if expected is None:
                self._unchecked[key] = offset
            elif offset > expected:
                gaps.append(Gap(topic, partition, expected, offset))
            # A record read a second time (offset below the expected one) changes nothing.
            self._next[key] = max(offset + 1, expected or 0)
        return gaps


def count_repair(gap: Gap, recovered: int) -> None:
    """Count a repaired gap, or one whose records are gone (retention deleted them)."""
    INPUT_GAPS.labels(gap.topic, "repaired" if recovered >= gap.size else "given_up").inc()

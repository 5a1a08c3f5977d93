"""How fresh each stage's data is: the newest event time it has handled, as a gauge.

Every stage exports ``kioskpulse_<stage>_newest_event_timestamp_seconds{topic}``
(Unix time). Freshness is ``time() - that`` (the recording rules compute it); the
delay of the pipeline is the API's newest minus a later stage's newest, which does
not grow at night when no one presses (deploy/prometheus/rules/).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Gauge

__all__ = ["NewestEventTime"]


class NewestEventTime:
    """A gauge per topic that only moves forward: a late (back-dated) event leaves it."""

    def __init__(self, stage: str, what: str) -> None:
        self._gauge = Gauge(
            f"kioskpulse_{stage}_newest_event_timestamp_seconds",
            f"Newest event time {what}, by topic (Unix time; freshness: time() minus this).",
            ["topic"],
        )
        self._newest: dict[str, float] = {}

    def see(self, topic: str, at: float) -> None:
        if at > self._newest.get(topic, float("-inf")):
            self._newest[topic] = at
            self._gauge.labels(topic).set(at)

    def see_all(self, topic: str, times: Iterable[float]) -> None:
        """One update for a batch (the newest of ``times``; nothing if empty)."""
        newest = max(times, default=None)
        if newest is not None:
            self.see(topic, newest)

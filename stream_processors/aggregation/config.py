"""The aggregator's knobs, taken from Settings once."""

from __future__ import annotations

from dataclasses import dataclass

from kioskpulse.events import BBox
from kioskpulse.settings import Settings

__all__ = ["TICK_SECONDS", "AggregationConfig"]

#: How often idle visits are closed and pending bucket values emitted (the
#: faust timer and the embedded runtime's loop alike).
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class AggregationConfig:
    bucket_seconds: int = 60
    #: How far behind a store's stream time an event may be and still count. Events
    #: the API accepted are within it (the API refuses older ones), and state older
    #: than it is dropped: this is what bounds the state of a store.
    lateness_seconds: float = 24 * 3600.0
    #: How far ahead of the worker's wall clock an event may be. A store's stream
    #: time is its latest event time, so one event from a clock set years ahead
    #: would otherwise expire every current bucket and make every current event
    #: too late.
    max_ahead_seconds: float = 300.0
    misuse_interval_seconds: float = 5.0
    link_before_seconds: float = 3.0
    link_after_seconds: float = 1.0
    #: A visit (a floor camera's track of one visitor) ends after this long unseen.
    visit_idle_seconds: float = 10.0
    #: Hard bound on the events a store keeps (presses, faces, visits); beyond it,
    #: events are dead-lettered rather than growing memory without limit.
    max_store_entries: int = 200_000
    #: Faces narrower than this (pixels of their frame) carry no expression: below it the
    #: expression model is no better than a store's prior (docs/vision.md, "Expressions
    #: of small faces"). Such a face still makes its visitor count. 0: every face is read.
    min_expression_face_px: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AggregationConfig:
        return cls(
            bucket_seconds=settings.aggregate_bucket_seconds,
            # The API accepts events up to the clock skew ahead of its own clock.
            lateness_seconds=settings.allowed_lateness_seconds + settings.max_clock_skew_seconds,
            # The API refuses events further ahead of its own clock; the worker sees
            # them later, so by its clock they are no further ahead.
            max_ahead_seconds=settings.max_clock_skew_seconds,
            misuse_interval_seconds=settings.misuse_interval_seconds,
            link_before_seconds=settings.link_before_seconds,
            link_after_seconds=settings.link_after_seconds,
            visit_idle_seconds=settings.track_idle_seconds,
            max_store_entries=settings.aggregate_max_store_entries,
            min_expression_face_px=settings.min_expression_face_px,
        )

    def reads_expression(self, bbox: BBox | None) -> bool:
        """Whether a face of this box is read for its expression. A face of unknown size
        (an edge agent that sends no box) is, as it was before sizes were looked at."""
        return bbox is None or bbox.w >= self.min_expression_face_px

    def bucket_of(self, at: float) -> int:
        """Start (epoch seconds) of the bucket holding the instant ``at``."""
        return int(at // self.bucket_seconds) * self.bucket_seconds

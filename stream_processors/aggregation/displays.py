"""Display cameras' tracks (issue 16): watchers, dwell and attention, by display label.

A display camera looks at a display ("spring collection"); each of its vision tracks
is one watcher. A track is keyed by camera, *label* and track id, so a relabel in the
middle of a track splits it there: each label's history holds only what was seen
while the display carried it.

- **dwell**: first to last sighting of the track (one sighting: 0 s);
- **attention**: the time between consecutive sightings that both looked at the
  camera (``frontal``), each gap counted only up to ``ATTENTION_MAX_GAP_SECONDS``
  (a longer one is time the tracker could not vouch for);
- **expression**: the mean of the track's read faces, counted by dominant expression
  and tone, as a floor visitor's is.

A track counts once, when it closes (idle like a floor visit), in the bucket of its
last sighting. Times are kept in whole milliseconds, so sums are exact integers and a
bucket's value depends only on the set of tracks in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kioskpulse.events import DISPLAY_SECONDS_BOUNDS, EXPRESSIONS, TONES, DisplayStatistics
from stream_processors.aggregation import fixedpoint
from stream_processors.aggregation.fixedpoint import Vector
from stream_processors.statistics import E, tone_of

__all__ = ["ATTENTION_MAX_GAP_SECONDS", "DisplayTally", "DisplayTrack", "DisplayTracks"]

#: The longest gap between two frontal sightings that counts as attention throughout.
ATTENTION_MAX_GAP_SECONDS = 3.0

_BOUNDS_MS = [round(bound * 1000) for bound in DISPLAY_SECONDS_BOUNDS]


def _ms(at: float) -> int:
    return round(at * 1000)


@dataclass(slots=True)
class DisplayTrack:
    """One watcher of one display label: a display camera's vision track."""

    camera_id: str
    label: str
    first_at: float
    last_at: float
    last_wall: float
    last_frontal: bool
    attention_ms: int = 0
    sightings: int = 0
    expressed: int = 0
    sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(len(EXPRESSIONS)))
    closed: bool = False

    @classmethod
    def start(
        cls,
        camera_id: str,
        label: str,
        at: float,
        frontal: bool,
        probs: Vector | None,
        wall: float,
    ) -> DisplayTrack:
        track = cls(camera_id, label, at, at, wall, frontal)
        track._read(probs)
        return track

    def see(self, at: float, frontal: bool, probs: Vector | None, wall: float) -> None:
        """A later sighting (one camera's faces come in capture order)."""
        gap = _ms(at) - _ms(self.last_at)
        if frontal and self.last_frontal and gap <= _ms(ATTENTION_MAX_GAP_SECONDS):
            self.attention_ms += gap
        self.last_at, self.last_wall, self.last_frontal = at, wall, frontal
        self._read(probs)

    def _read(self, probs: Vector | None) -> None:
        self.sightings += 1
        if probs is not None:
            self.expressed += 1
            fixedpoint.add(self.sums, probs)

    @property
    def dwell_ms(self) -> int:
        return _ms(self.last_at) - _ms(self.first_at)

    def dominant(self) -> int | None:
        """The index of the dominant expression of its mean; None if no face was read."""
        if not self.expressed:
            return None
        return max(range(E), key=lambda i: (self.sums[i], -i))

    def encode(self) -> bytes:
        fields: list[Any] = [
            self.camera_id,
            self.label,
            self.first_at,
            self.last_at,
            self.last_wall,
            self.last_frontal,
            self.attention_ms,
            self.sightings,
            self.expressed,
            self.sums,
            self.closed,
        ]
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> DisplayTrack:
        return cls(*json.loads(value))


@dataclass
class DisplayTally:
    """The closed tracks of one label in one bucket: the sums ``DisplayStatistics`` holds."""

    watchers: int = 0
    dwell_ms: int = 0
    dwell_ms_sq: int = 0
    dwell_buckets: list[int] = field(default_factory=lambda: [0] * len(_BOUNDS_MS))
    attention_ms: int = 0
    attention_ms_sq: int = 0
    attention_buckets: list[int] = field(default_factory=lambda: [0] * len(_BOUNDS_MS))
    expression_counts: list[int] = field(default_factory=lambda: [0] * E)
    tone_counts: list[int] = field(default_factory=lambda: [0] * len(TONES))

    def add(self, track: DisplayTrack) -> None:
        dwell, attention = track.dwell_ms, track.attention_ms
        self.watchers += 1
        self.dwell_ms += dwell
        self.dwell_ms_sq += dwell * dwell
        self.attention_ms += attention
        self.attention_ms_sq += attention * attention
        for index, bound in enumerate(_BOUNDS_MS):
            self.dwell_buckets[index] += dwell <= bound
            self.attention_buckets[index] += attention <= bound
        dominant = track.dominant()
        if dominant is not None:
            self.expression_counts[dominant] += 1
            self.tone_counts[tone_of(dominant)] += 1

    def to_contract(self) -> DisplayStatistics:
        return DisplayStatistics.model_construct(
            watchers=self.watchers,
            dwell_seconds_sum=self.dwell_ms / 1e3,
            dwell_seconds_sq_sum=self.dwell_ms_sq / 1e6,
            dwell_buckets=list(self.dwell_buckets),
            attention_seconds_sum=self.attention_ms / 1e3,
            attention_seconds_sq_sum=self.attention_ms_sq / 1e6,
            attention_buckets=list(self.attention_buckets),
            expression_counts=list(self.expression_counts),
            tone_counts=list(self.tone_counts),
        )


@dataclass
class DisplayTracks:
    """A store's open display tracks, and the keys of those counted (closed)."""

    open: dict[str, DisplayTrack] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)

    def see(
        self,
        key: str,
        sighting: tuple[str, str, float, bool],
        probs: Vector | None,
        wall: float,
    ) -> tuple[DisplayTrack, bool] | None:
        """Take one sighting ``(camera, label, at, frontal)``: its track and whether it is
        new; None for a replay (its track closed, or a face no later than its last)."""
        if key in self.counted:
            return None
        camera_id, label, at, frontal = sighting
        track = self.open.get(key)
        if track is None:
            track = self.open[key] = DisplayTrack.start(camera_id, label, at, frontal, probs, wall)
            return track, True
        if at <= track.last_at:
            return None
        track.see(at, frontal, probs, wall)
        return track, False

    def take_idle(self, clock: float, wall: float, idle: float) -> list[tuple[str, DisplayTrack]]:
        """Remove and return the tracks unseen for ``idle`` by event time or wall clock."""
        done = [
            key
            for key, track in self.open.items()
            if clock - track.last_at > idle or wall - track.last_wall > idle
        ]
        return [(key, self.open.pop(key)) for key in done]

    def take_older(self, horizon: float) -> list[tuple[str, DisplayTrack]]:
        """Remove and return the tracks last seen before ``horizon`` (their bucket expires)."""
        done = [key for key, track in self.open.items() if track.last_at < horizon]
        return [(key, self.open.pop(key)) for key in done]

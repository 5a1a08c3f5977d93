"""Everything the aggregator keeps about one store, and how each event changes it.

The state is a set of small entries (a press, a kiosk-camera face, a visit of a
visitor tracked by a floor camera, a heartbeat, a camera sighting, a follow-up
answer, a kiosk camera's closed track, a floor camera's face in a kiosk's zone, a
display camera's track; see ``entries``), each under its own key, so a change writes
a few bytes to the changelog, never a whole bucket. The running bucket statistics are
derived from those entries and rebuilt from them after a restart; because every
entry is keyed by its identity, replaying events changes nothing (idempotence).

Time is event time: a store's *clock* is the latest event time it has seen.
Entries older than ``clock - lateness`` are dropped (that bounds the state) and
events that old are refused as too late, since their buckets are gone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from kioskpulse.events import (
    FaceObservation,
    FollowupEvent,
    Heartbeat,
    RatingEvent,
    StoreAggregate,
)
from stream_processors.aggregation import entries, fixedpoint
from stream_processors.aggregation.buckets import Bucket, PressContribution
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.displays import DisplayTrack, DisplayTracks
from stream_processors.aggregation.entries import Followup, Press, Visit
from stream_processors.aggregation.linkage import KioskFace, KioskLinks
from stream_processors.aggregation.misuse import KioskTimeline
from vision.attention import frontal_by_box

__all__ = ["Outcome", "StoreState"]


class Outcome(StrEnum):
    """What became of one event."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # already counted: a replay or a retried upload
    TOO_LATE = "too_late"  # older than the allowed lateness: its bucket is gone
    STATE_FULL = "state_full"  # the store's bounded state is full
    #: Further ahead of the wall clock than the allowed clock skew: a wrong device
    #: clock (refused by the stage, which knows the wall clock; see stage.py).
    TOO_EARLY = "too_early"


@dataclass
class _Writes:
    """State entries changed since the last flush: key → encoded value, None = delete.

    A value may be given as the function that encodes it (``put_latest``): an entry
    that changes with every event of a batch (a visit, a camera's last sighting) is
    then encoded once per flush, as it is then, instead of once per event.
    """

    pending: dict[str, bytes | Callable[[], bytes] | None]

    def put(self, key: str, value: bytes) -> None:
        self.pending[key] = value

    def put_latest(self, key: str, encode: Callable[[], bytes]) -> None:
        self.pending[key] = encode

    def delete(self, key: str) -> None:
        self.pending[key] = None

    def take(self) -> dict[str, bytes | None]:
        pending, self.pending = self.pending, {}
        return {key: value() if callable(value) else value for key, value in pending.items()}


class StoreState:
    def __init__(self, store_id: str, config: AggregationConfig) -> None:
        self.store_id = store_id
        self.config = config
        self.clock = -math.inf
        self.buckets: dict[int, Bucket] = {}
        self._oldest: int | None = None  # the earliest bucket's start
        self.presses: dict[str, Press] = {}
        self.timelines: dict[str, KioskTimeline] = {}
        self.links = KioskLinks(config.link_before_seconds, config.link_after_seconds)
        #: Floor cameras' faces in a kiosk's zone: a press's second, independent link.
        self.zone_links = KioskLinks(config.link_before_seconds, config.link_after_seconds)
        self.open_visits: dict[str, Visit] = {}
        self.counted_visits: set[str] = set()
        #: Kiosk cameras' tracks, as visits (issue 14): every face of one, pressers and
        #: passers-by alike; counted in ``Bucket.kiosk_camera``, never as visitors.
        self.open_kiosk_tracks: dict[str, Visit] = {}
        self.counted_kiosk_tracks: set[str] = set()
        #: Display cameras' tracks (issue 16): watchers of a display label, never visitors.
        self.display_tracks = DisplayTracks()
        self.followups: dict[str, Followup] = {}
        self.entries = 0
        self.dirty: set[int] = set()
        self.writes = _Writes({})
        #: Wall clock of the last event accepted (``heard``); not restored after a restart.
        self.heard = -math.inf

    # ------------------------------------------------------------------ events

    def add_rating(self, event: RatingEvent) -> Outcome:
        key = entries.press_key(self.store_id, str(event.event_id))
        if key in self.presses:
            return Outcome.DUPLICATE
        at = event.pressed_at.timestamp()
        if refused := self._admit(at):
            return refused
        press = Press(str(event.event_id), event.kiosk_id, at, event.rating, event.scale)
        self._insert_press(key, press)
        self.writes.put(key, press.encode())
        return Outcome.ACCEPTED

    def add_heartbeat(self, heartbeat: Heartbeat) -> Outcome:
        at = heartbeat.sent_at.timestamp()
        if refused := self._admit(at):
            return refused
        bucket = self._bucket(at)
        if not bucket.see_kiosk(heartbeat.kiosk_id, at, heartbeat.buffered):
            return Outcome.DUPLICATE
        key = entries.heartbeat_key(self.store_id, bucket.start, heartbeat.kiosk_id)
        bucket.keys.add(key)
        self.writes.put(key, entries.encode_heartbeat(heartbeat.kiosk_id, at, heartbeat.buffered))
        self.dirty.add(bucket.start)
        return Outcome.ACCEPTED

    def add_observation(self, observation: FaceObservation, wall: float) -> Outcome:
        at = observation.captured_at.timestamp()
        if refused := self._admit(at):
            return refused
        self._see_camera(observation.camera_id, at)
        probs = self._expression(observation)
        if observation.role == "display":
            return self._add_display_sighting(observation, at, probs, wall)
        if observation.role == "kiosk" and observation.kiosk_id is not None:
            area = observation.bbox.w * observation.bbox.h if observation.bbox else 0
            face = KioskFace(at, observation.camera_id, observation.track_id, area, probs)
            return self._add_kiosk_face(observation.kiosk_id, face, wall)
        outcome = self._add_floor_sighting(observation, at, probs, wall)
        if observation.zone_kiosk_id is not None and probs is not None:
            # Also the floor camera's view of whoever is at that kiosk. Taken even when
            # the sighting was not (a face older than its visit's last one): the zone
            # face is known by its own key, so links do not depend on arrival order.
            area = observation.bbox.w * observation.bbox.h if observation.bbox else 0
            face = KioskFace(at, observation.camera_id, observation.track_id, area, probs)
            if self._add_zone_face(observation.zone_kiosk_id, face) is Outcome.ACCEPTED:
                return Outcome.ACCEPTED
        return outcome

    def add_followup(self, event: FollowupEvent) -> Outcome:
        """Count an answer in the bucket of its ``answered_at``, one per press.

        Answers live beside the presses and never change their statistics: the press may
        come later, or be in another bucket. A resent answer is a duplicate; of two
        different answers to one press the lower ``Followup.rank`` counts, whatever
        the order they arrive in."""
        key = entries.followup_key(self.store_id, str(event.rating_event_id))
        answer = Followup(str(event.event_id), event.answered_at.timestamp(), event.reason)
        counted = self.followups.get(key)
        if counted is not None and counted.rank <= answer.rank:
            return Outcome.DUPLICATE
        if refused := self._admit(answer.at):
            return refused
        if counted is not None:
            self._uncount_followup(key, counted)
            replaced = max(counted.at, counted.replaced_at or counted.at)
            if replaced > answer.at:
                answer = dataclasses.replace(answer, replaced_at=replaced)
        self._count_followup(key, answer)
        self.writes.put(key, answer.encode())
        return Outcome.ACCEPTED

    # ------------------------------------------------------------------ time

    def close_idle_visits(self, wall: float) -> int:
        """Close the visits idle for ``visit_idle`` by event time or by wall clock.

        The wall clock matters for a camera that went quiet: its store's clock may
        not move for a long time, and its last visitors must still be counted.
        """
        idle = self.config.visit_idle_seconds
        done = [
            key
            for key, visit in self.open_visits.items()
            if self.clock - visit.last_at > idle or wall - visit.last_wall > idle
        ]
        for key in done:
            self._close_visit(key, self.open_visits.pop(key))
        tracks = []
        for key, visit in self.open_kiosk_tracks.items():
            if visit.last_wall == -math.inf:
                # Rebuilt after a restart, when it was last seen by the wall clock is not
                # known: from now on, as a restored store is not quiet before it hears.
                visit.last_wall = wall
            if self.clock - visit.last_at > idle or wall - visit.last_wall > idle:
                tracks.append(key)
        for key in tracks:
            self._close_kiosk_track(key, self.open_kiosk_tracks.pop(key))
        watchers = self.display_tracks.take_idle(self.clock, wall, idle)
        for key, track in watchers:
            self._close_display_track(key, track)
        return len(done) + len(tracks) + len(watchers)

    def expire(self) -> int:
        """Drop the buckets that ended before ``clock - lateness``; returns how many."""
        horizon = self.clock - self.config.lateness_seconds
        size = self.config.bucket_seconds
        # Called every second for every store: skip the scan while nothing can be due.
        if self._oldest is None or self._oldest + size > horizon:
            return 0
        old = [start for start in self.buckets if start + size <= horizon]
        for key, visit in list(self.open_visits.items()):
            if visit.last_at < horizon:
                self._close_visit(key, self.open_visits.pop(key))
        for key, visit in list(self.open_kiosk_tracks.items()):
            if visit.last_at < horizon:
                self._close_kiosk_track(key, self.open_kiosk_tracks.pop(key))
        for key, track in self.display_tracks.take_older(horizon):
            self._close_display_track(key, track)
        cutoff = max(old) + size
        for timeline in self.timelines.values():
            timeline.remove_until(cutoff)
        self.links.remove_until(cutoff)
        self.zone_links.remove_until(cutoff)
        for start in old:
            bucket = self.buckets.pop(start)
            self.dirty.discard(start)
            for key in bucket.keys:
                self.writes.delete(key)
                _KINDS[entries.kind_of(key)].forget(self, key)
        self._oldest = min(self.buckets, default=None)
        return len(old)

    # ------------------------------------------------------------------ output

    def take_dirty(self, updated_at: datetime) -> list[StoreAggregate]:
        """The full value of every bucket changed since the last call.

        Every value carries the store's settled time as of ``updated_at`` (the wall
        clock). Nothing is sent only because that time moved on: a worker that lost the
        store's partition would write an old value over its new owner's. The exporter
        settles a store that fell quiet itself (``exporter.windows``).
        """
        if not self.dirty:
            return []
        settled = self.settled_until(updated_at.timestamp())
        seconds = self.config.bucket_seconds
        settled_at = None if settled is None else datetime.fromtimestamp(settled, UTC)
        values = [
            self.buckets[start].to_aggregate(self.store_id, seconds, updated_at, settled_at)
            for start in sorted(self.dirty)
        ]
        self.dirty.clear()
        return values

    def hear(self, wall: float) -> None:
        """An event of this store was accepted at ``wall`` (the worker's clock)."""
        self.heard = max(self.heard, wall)

    def settled_until(self, wall: float) -> float | None:
        """The end of the newest bucket whose visitors are all counted (None: no clock yet).

        A visitor counts when its track closes, in the bucket where it was last seen,
        while a press counts at once; so the newest buckets have their presses before
        their visitors, and the bias correction must not read them yet (issue 14). A
        bucket is settled once (1) the store's event-time clock is ``visit_idle`` past
        its end: a track seen in it is then closed, or seen again later, by the
        event-time rule of ``close_idle_visits``; and (2) no track last seen in it or
        before is still open. Event time, not the wall clock: while history is
        replayed faster than real time the wall clock is far ahead of what has been
        seen. Except in a store that fell quiet (nothing accepted for ``visit_idle``
        by the wall clock, as in the wall-clock rule of ``close_idle_visits``): its
        clock stops, and what ended ``visit_idle`` before the wall clock is settled
        too. A store restored after a restart is not quiet until it hears an event:
        its backlog may still be unread. Sightings later than all that (a camera
        lagging behind the rest of its store) are not foreseen.
        """
        if self.clock == -math.inf:
            return None
        idle = self.config.visit_idle_seconds
        until = self.clock - idle
        if self.heard != -math.inf and wall - self.heard > idle:
            until = max(until, wall - idle)
        for visits in (self.open_visits, self.open_kiosk_tracks):
            for visit in visits.values():
                until = min(until, visit.last_at)
        # The start of the bucket holding ``until`` is the end of the last settled one.
        return float(self.config.bucket_of(until))

    def take_writes(self) -> dict[str, bytes | None]:
        return self.writes.take()

    # ------------------------------------------------------------------ recovery

    def restore(self, key: str, value: bytes) -> None:
        """Rebuild from one stored entry (after a restart); writes nothing."""
        kind = _KINDS.get(entries.kind_of(key))
        if kind is not None:  # else a kind this version does not know: left alone
            kind.restore(self, key, value)

    def _restore_press(self, key: str, value: bytes) -> None:
        self._insert_press(key, Press.decode(value))

    def _restore_face(self, key: str, value: bytes) -> None:
        kiosk_id, face = entries.decode_face(value)
        # Reopens its track's visit unless that one is closed; when seen is not known.
        self._add_kiosk_face(kiosk_id, face, -math.inf, persist=False)

    def _restore_zone_face(self, key: str, value: bytes) -> None:
        kiosk_id, face = entries.decode_face(value)
        self._add_zone_face(kiosk_id, face, persist=False)

    def _restore_kiosk_track(self, key: str, value: bytes) -> None:
        visit = Visit.decode(value)
        self._tick(visit.last_at)
        # Its faces, restored before it in any order, may have reopened it: counted once.
        if self.open_kiosk_tracks.pop(key, None) is None:
            self.entries += 1
        self._count_kiosk_track(key, visit)

    def _restore_visit(self, key: str, value: bytes) -> None:
        visit = Visit.decode(value)
        self._tick(visit.last_at)
        self.entries += 1
        if visit.closed:
            self._count_visitor(key, visit)
        else:
            self.open_visits[key] = visit

    def _restore_display_track(self, key: str, value: bytes) -> None:
        track = DisplayTrack.decode(value)
        self._tick(track.last_at)
        self.entries += 1
        if track.closed:
            self._count_display_track(key, track)
        else:
            self.display_tracks.open[key] = track

    def _restore_heartbeat(self, key: str, value: bytes) -> None:
        kiosk_id, at, buffered = entries.decode_heartbeat(value)
        self._tick(at)
        bucket = self._bucket(at)
        bucket.see_kiosk(kiosk_id, at, buffered)
        bucket.keys.add(key)

    def _restore_camera(self, key: str, value: bytes) -> None:
        camera_id, at = entries.decode_camera(value)
        self._tick(at)
        self._see_camera(camera_id, at, persist=False)

    def _restore_followup(self, key: str, value: bytes) -> None:
        answer = Followup.decode(value)
        if answer.replaced_at is not None:
            self._tick(answer.replaced_at)
        self._count_followup(key, answer)

    # ------------------------------------------------------------------ expiry

    # What an expired entry leaves behind in memory: presses, visits, kiosk tracks and
    # follow-up answers have their own objects; a face's object (a zone face's too) went
    # with its kiosk's faces; heartbeats and camera sightings live in their bucket only
    # (``_forget_nothing``). Each kind but those two counts toward the store's bound on
    # entries (an open kiosk track, not stored yet, counts from its first face).

    def _forget_press(self, key: str) -> None:
        del self.presses[key]
        self.entries -= 1

    def _forget_face(self, key: str) -> None:
        self.entries -= 1

    def _forget_visit(self, key: str) -> None:
        self.counted_visits.discard(key)
        self.entries -= 1

    def _forget_kiosk_track(self, key: str) -> None:
        self.counted_kiosk_tracks.discard(key)
        self.entries -= 1

    def _forget_display_track(self, key: str) -> None:
        self.display_tracks.counted.discard(key)
        self.entries -= 1

    def _forget_followup(self, key: str) -> None:
        del self.followups[key]
        self.entries -= 1

    def _forget_nothing(self, key: str) -> None:
        pass

    # ------------------------------------------------------------------ internals

    def _admit(self, at: float) -> Outcome | None:
        if at < self.clock - self.config.lateness_seconds:
            return Outcome.TOO_LATE
        if self.entries >= self.config.max_store_entries:
            return Outcome.STATE_FULL
        self._tick(at)
        return None

    def _tick(self, at: float) -> None:
        self.clock = max(self.clock, at)

    def _bucket(self, at: float) -> Bucket:
        start = self.config.bucket_of(at)
        bucket = self.buckets.get(start)
        if bucket is None:
            bucket = self.buckets[start] = Bucket(start)
            if self._oldest is None or start < self._oldest:
                self._oldest = start
        return bucket

    def _contribution(self, press: Press) -> PressContribution:
        return PressContribution(
            press.scale, press.rating, press.counted, press.link, press.zone_link
        )

    def _insert_press(self, key: str, press: Press) -> None:
        self._tick(press.at)
        self.presses[key] = press
        self.entries += 1
        bucket = self._bucket(press.at)
        bucket.keys.add(key)
        press.link = self.links.link(press.kiosk_id, press.at)
        press.zone_link = self.zone_links.link(press.kiosk_id, press.at)
        timeline = self.timelines.get(press.kiosk_id)
        if timeline is None:
            timeline = self.timelines[press.kiosk_id] = KioskTimeline(
                self.config.misuse_interval_seconds
            )
        for event_id in timeline.insert(press.at, press.event_id):
            self._update_press(
                self.presses[entries.press_key(self.store_id, event_id)],
                counted=timeline.counted[event_id],
            )

    def _update_press(self, press: Press, *, counted: bool | None = None) -> None:
        """Take back a press's contribution, change it, add it again."""
        self._change_press(press, counted=counted, link=press.link, zone_link=press.zone_link)

    def _relink(self, press: Press) -> None:
        """Link ``press`` again (a face near it came); its bucket changes if a link did."""
        link = self.links.link(press.kiosk_id, press.at)
        zone_link = self.zone_links.link(press.kiosk_id, press.at)
        if (link, zone_link) != (press.link, press.zone_link) and press.contributes:
            self._change_press(press, counted=None, link=link, zone_link=zone_link)
        else:
            press.link, press.zone_link = link, zone_link

    def _change_press(
        self,
        press: Press,
        *,
        counted: bool | None,
        link: fixedpoint.Vector | None,
        zone_link: fixedpoint.Vector | None,
    ) -> None:
        bucket = self._bucket(press.at)
        if press.contributes:
            bucket.add_press(self._contribution(press), -1)
        if counted is not None:
            press.counted = counted
        press.link, press.zone_link = link, zone_link
        press.contributes = True
        bucket.add_press(self._contribution(press))
        self.dirty.add(bucket.start)

    def _expression(self, observation: FaceObservation) -> fixedpoint.Vector | None:
        """The face's probabilities, or None for a face too small to read."""
        if not self.config.reads_expression(observation.bbox):
            return None
        return fixedpoint.to_fixed(observation.probs)

    def _add_kiosk_face(
        self, kiosk_id: str, face: KioskFace, wall: float, *, persist: bool = True
    ) -> Outcome:
        if not self.links.add(kiosk_id, face):
            return Outcome.DUPLICATE
        self._tick(face.at)
        self.entries += 1
        key = entries.face_key(self.store_id, face)
        self._bucket(face.at).keys.add(key)
        if persist:
            self.writes.put(key, entries.encode_face(kiosk_id, face))
        self._see_kiosk_track(face, wall)
        if face.probs is None:  # a face too small to read links nobody
            return Outcome.ACCEPTED
        # The presses whose link window contains this face may link differently now.
        for press in self._presses_between(kiosk_id, *self.links.reach(face.at)):
            self._relink(press)
        return Outcome.ACCEPTED

    def _add_zone_face(self, kiosk_id: str, face: KioskFace, *, persist: bool = True) -> Outcome:
        """A floor camera's read face in ``kiosk_id``'s zone: links presses as a kiosk
        camera's face does, into the press's zone link."""
        if not self.zone_links.add(kiosk_id, face):
            return Outcome.DUPLICATE
        self._tick(face.at)
        self.entries += 1
        key = entries.zone_face_key(self.store_id, face)
        self._bucket(face.at).keys.add(key)
        if persist:
            self.writes.put(key, entries.encode_face(kiosk_id, face))
        for press in self._presses_between(kiosk_id, *self.zone_links.reach(face.at)):
            self._relink(press)
        return Outcome.ACCEPTED

    def _see_kiosk_track(self, face: KioskFace, wall: float) -> None:
        # Its open visit is not stored: its faces are, and rebuild it after a restart
        # (``wall`` -inf there), so a kiosk face costs no second write.
        key = entries.kiosk_track_key(self.store_id, face.camera_id, face.track_id)
        if key in self.counted_kiosk_tracks:  # a face after its track closed links only
            return
        visit = self.open_kiosk_tracks.get(key)
        if visit is None:
            self.open_kiosk_tracks[key] = Visit.start(face.at, face.probs, wall)
            self.entries += 1
        else:
            visit.take(face.at, face.probs, wall)

    def _close_kiosk_track(self, key: str, visit: Visit) -> None:
        visit.closed = True
        self.writes.put(key, visit.encode())
        self._count_kiosk_track(key, visit)

    def _count_kiosk_track(self, key: str, visit: Visit) -> None:
        # In the bucket where it was last seen, if some face of it was read; stored all
        # the same, so that its later faces do not open it again.
        bucket = self._bucket(visit.last_at)
        bucket.keys.add(key)
        self.counted_kiosk_tracks.add(key)
        mean = visit.mean()
        if mean is not None:
            bucket.add_kiosk_track(mean)
            self.dirty.add(bucket.start)

    def _presses_between(self, kiosk_id: str, start: float, end: float) -> list[Press]:
        timeline = self.timelines.get(kiosk_id)
        if timeline is None:
            return []
        return [
            self.presses[entries.press_key(self.store_id, event_id)]
            for event_id in timeline.between(start, end)
        ]

    def _add_floor_sighting(
        self, observation: FaceObservation, at: float, probs: fixedpoint.Vector | None, wall: float
    ) -> Outcome:
        # One vision track of a floor camera is one visit; a face too small to read
        # (probs None) makes or extends it all the same.
        key = entries.visit_key(self.store_id, observation.camera_id, observation.track_id)
        if key in self.counted_visits:
            return Outcome.DUPLICATE
        visit = self.open_visits.get(key)
        if visit is None:
            visit = self.open_visits[key] = Visit.start(at, probs, wall)
            self.entries += 1
        elif at <= visit.last_at:
            # One camera's faces arrive in capture order; an older one is a replay.
            return Outcome.DUPLICATE
        else:
            visit.see(at, probs, wall)
        self.writes.put_latest(key, visit.encode)
        return Outcome.ACCEPTED

    def _close_visit(self, key: str, visit: Visit) -> None:
        visit.closed = True
        self.writes.put(key, visit.encode())
        self._count_visitor(key, visit)

    def _count_visitor(self, key: str, visit: Visit) -> None:
        # A visitor counts in the bucket where the visit was last seen; its expression
        # only if some sighting of it was read (``Bucket.add_visitor``).
        bucket = self._bucket(visit.last_at)
        bucket.add_visitor(visit.mean())
        bucket.keys.add(key)
        self.counted_visits.add(key)
        self.dirty.add(bucket.start)

    def _add_display_sighting(
        self, observation: FaceObservation, at: float, probs: fixedpoint.Vector | None, wall: float
    ) -> Outcome:
        # One vision track of a display camera under one label is one watcher; its
        # frontal sightings make its attention (vision.attention for the box fallback).
        assert observation.display is not None, "the contract gives a display camera its label"
        key = entries.display_track_key(
            self.store_id, observation.camera_id, observation.display, observation.track_id
        )
        frontal = observation.frontal
        if frontal is None:
            frontal = frontal_by_box(observation.bbox)
        sighting = (observation.camera_id, observation.display, at, frontal)
        seen = self.display_tracks.see(key, sighting, probs, wall)
        if seen is None:
            return Outcome.DUPLICATE
        track, new = seen
        if new:
            self.entries += 1
        self.writes.put_latest(key, track.encode)
        return Outcome.ACCEPTED

    def _close_display_track(self, key: str, track: DisplayTrack) -> None:
        track.closed = True
        self.writes.put(key, track.encode())
        self._count_display_track(key, track)

    def _count_display_track(self, key: str, track: DisplayTrack) -> None:
        bucket = self._bucket(track.last_at)
        bucket.add_display_track(track)
        bucket.keys.add(key)
        self.display_tracks.counted.add(key)
        self.dirty.add(bucket.start)

    def _count_followup(self, key: str, answer: Followup) -> None:
        self._tick(answer.at)
        self.followups[key] = answer
        self.entries += 1
        bucket = self._bucket(answer.at)
        bucket.add_followup(answer.reason)
        bucket.keys.add(key)
        self.dirty.add(bucket.start)

    def _uncount_followup(self, key: str, answer: Followup) -> None:
        """Take back a counted answer (a lower-ranked one replaces it)."""
        # Its bucket is there: an entry expires with its bucket.
        bucket = self.buckets[self.config.bucket_of(answer.at)]
        bucket.add_followup(answer.reason, -1)
        bucket.keys.discard(key)
        self.dirty.add(bucket.start)
        del self.followups[key]
        self.entries -= 1

    def _see_camera(self, camera_id: str, at: float, *, persist: bool = True) -> None:
        bucket = self._bucket(at)
        if bucket.see_camera(camera_id, at):
            key = entries.camera_key(self.store_id, bucket.start, camera_id)
            bucket.keys.add(key)
            if persist:  # the camera's latest sighting in the bucket when flushed
                self.writes.put_latest(key, bucket.camera_entry(camera_id))
            self.dirty.add(bucket.start)


@dataclass(frozen=True, slots=True)
class _EntryKind:
    restore: Callable[[StoreState, str, bytes], None]
    forget: Callable[[StoreState, str], None]


#: Every kind of entry: how a store takes one back after a restart, and what an
#: expired one leaves to forget. The one dispatch on the kind of an entry; a new kind
#: of event adds its key and encoding in ``entries``, its ``add_`` method above, and a
#: line here.
_KINDS: dict[str, _EntryKind] = {
    entries.PRESS: _EntryKind(StoreState._restore_press, StoreState._forget_press),
    entries.FACE: _EntryKind(StoreState._restore_face, StoreState._forget_face),
    entries.VISIT: _EntryKind(StoreState._restore_visit, StoreState._forget_visit),
    entries.HEARTBEAT: _EntryKind(StoreState._restore_heartbeat, StoreState._forget_nothing),
    entries.CAMERA: _EntryKind(StoreState._restore_camera, StoreState._forget_nothing),
    entries.FOLLOWUP: _EntryKind(StoreState._restore_followup, StoreState._forget_followup),
    entries.KIOSK_TRACK: _EntryKind(
        StoreState._restore_kiosk_track, StoreState._forget_kiosk_track
    ),
    entries.ZONE_FACE: _EntryKind(StoreState._restore_zone_face, StoreState._forget_face),
    entries.DISPLAY_TRACK: _EntryKind(
        StoreState._restore_display_track, StoreState._forget_display_track
    ),
}

"""The misuse filter: presses on one kiosk closer than an interval count once.

A press counts if it comes at least ``interval`` after the previous *counted* press
of its kiosk, in ``pressed_at`` order whatever the arrival order: kiosks upload
late, so a late press can change which of the later presses count. The timeline
re-decides from the inserted press forward and stops as soon as a counted press
keeps its status, since everything after it depends only on its time.
"""

from __future__ import annotations

import bisect

__all__ = ["KioskTimeline"]


class KioskTimeline:
    """The presses of one kiosk, in time order, each counted or suppressed."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._presses: list[tuple[float, str]] = []  # (pressed_at, event_id), sorted
        self.counted: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self._presses)

    def insert(self, at: float, event_id: str) -> list[str]:
        """Add a press; returns the presses whose status is new or changed (this one first)."""
        entry = (at, event_id)
        index = bisect.bisect_left(self._presses, entry)
        if index < len(self._presses) and self._presses[index] == entry:
            return []
        self._presses.insert(index, entry)
        return self._redecide_from(index)

    def remove_until(self, at: float) -> list[str]:
        """Forget the presses before ``at`` (expired state); returns their ids."""
        cut = bisect.bisect_left(self._presses, (at, ""))
        gone = [event_id for _, event_id in self._presses[:cut]]
        del self._presses[:cut]
        for event_id in gone:
            del self.counted[event_id]
        return gone

    def _last_counted_before(self, index: int) -> float | None:
        for at, event_id in reversed(self._presses[:index]):
            if self.counted[event_id]:
                return at
        return None

    def _redecide_from(self, index: int) -> list[str]:
        changed = []
        last = self._last_counted_before(index)
        for position in range(index, len(self._presses)):
            at, event_id = self._presses[position]
            counts = last is None or at - last >= self.interval
            before = self.counted.get(event_id)
            if counts != before:
                self.counted[event_id] = counts
                changed.append(event_id)
            elif counts and position > index:
                break  # unchanged counted press: the rest of the timeline stands
            if counts:
                last = at
        return changed

    def between(self, start: float, end: float) -> list[str]:
        """The ids of the presses from ``start`` to ``end`` inclusive."""
        lo = bisect.bisect_left(self._presses, (start, ""))
        hi = bisect.bisect_right(self._presses, (end, "\U0010ffff"))
        return [event_id for _, event_id in self._presses[lo:hi]]

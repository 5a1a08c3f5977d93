"""The demo's live console: per-store figures of the last 15 minutes, from the exporter."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kioskpulse.events import TONES

if TYPE_CHECKING:
    from stream_processors.exporter.state import ExporterState

__all__ = ["SummaryConsole"]

WINDOW = "15m"
HEADER = "per store, last 15 min"


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


class SummaryConsole:
    """Renders what an operator would see on the dashboard, as text."""

    def __init__(self, state: ExporterState) -> None:
        self.state = state
        self.started = time.monotonic()

    def render(self) -> str:
        elapsed = time.monotonic() - self.started
        now = datetime.now(UTC)
        lines = [
            f"-- {HEADER} ({elapsed:.0f} s) " + "-" * 40,
            f"{'store':<12} {'presses':>7} {'suppr.':>6} {'happy(raw)':>10} "
            f"{'happy(all visitors)':>24} {'visitors':>8} {'resp.rate':>9} {'linked':>6}"
            "  floor mood",
        ]
        stores = self.state.windows.stores()
        if not stores:
            lines.append("(nothing yet: the first bucket values come within a second or two)")
        for store_id in stores:
            figures = self.state.windows.window(store_id, WINDOW, now)
            rate = figures.response_rate()
            tones = figures.tone_shares()
            mood = "–"
            if tones is not None:
                share, tone = max(zip(tones, TONES, strict=True))
                mood = f"{tone.replace('_', '/')} {share:.0%}"
            lines.append(
                f"{store_id:<12} {figures.presses:>7} {figures.suppressed:>6} "
                f"{_number(figures.raw_happy_index(), '.1f'):>10} "
                f"{self._corrected(store_id, now):>24} {figures.visitors:>8} "
                f"{_number(None if rate is None else 100 * rate, '.0f') + '%':>9} "
                f"{figures.linked_presses:>6}  {mood}"
            )
        return "\n".join(lines)

    def _corrected(self, store_id: str, now: datetime) -> str:
        """The bias-corrected index with its 95 % interval, or why there is none yet."""
        from stream_processors.exporter.corrected import correction_of

        correction = correction_of(self.state.windows, store_id, WINDOW, now)
        if correction.happy_index is None or correction.lower is None or correction.upper is None:
            return f"({correction.reason.replace('_', ' ')})"
        half = (correction.upper - correction.lower) / 2
        return f"{correction.happy_index:.1f} ±{half:.1f}"

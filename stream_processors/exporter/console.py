"""The demo's live console: the exporter's per-store summaries of the last 15 minutes, as text.

A formatter only: the figures are those of the read API (``summary.summarise``), so
the console and ``/v1/stores/{store}`` can never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from stream_processors.exporter.display_report import display_lines
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import StoreSummary, summarise
from stream_processors.exporter.windows import WindowName

__all__ = ["HEADER", "SummaryConsole", "render"]

WINDOW: WindowName = "15m"
HEADER = "per store, last 15 min"


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def _corrected(summary: StoreSummary) -> str:
    """The bias-corrected index with its 95 % interval, or why there is none yet."""
    corrected = summary.corrected or {}
    index, lower, upper = (
        corrected.get("happy_index"),
        corrected.get("happy_index_lower"),
        corrected.get("happy_index_upper"),
    )
    if index is None or lower is None or upper is None:
        return f"({str(corrected.get('reason', 'unavailable')).replace('_', ' ')})"
    return f"{index:.1f} ±{(upper - lower) / 2:.1f}"


def _mood(summary: StoreSummary) -> str:
    """The floor's dominant tone and its share (ties: the later tone name wins)."""
    if not summary.tone_shares:
        return "–"
    tone, share = max(summary.tone_shares.items(), key=lambda item: (item[1], item[0]))
    return f"{tone.replace('_', '/')} {share:.0%}"


#: How many reasons the console names after "why unhappy:".
TOP_REASONS = 3


def _why_unhappy(summary: StoreSummary) -> str:
    """The most given follow-up reasons, e.g. "  why unhappy: queue 3, staff 1"; "" without."""
    top = summary.followup_reasons[:TOP_REASONS]
    if not top:
        return ""
    return "  why unhappy: " + ", ".join(f"{r.reason} {r.count}" for r in top)


def _nps(summary: StoreSummary) -> str:
    """The NPS kiosks' figures, e.g. "  NPS: raw -21.4, all visitors 18.2 ±6.0"; "" without."""
    if summary.nps_raw is None:
        return ""
    corrected = summary.corrected_nps or {}
    nps, lower, upper = (corrected.get(key) for key in ("nps", "nps_lower", "nps_upper"))
    if nps is None or lower is None or upper is None:
        reason = str(corrected.get("reason", "unavailable")).replace("_", " ")
        return f"  NPS: raw {summary.nps_raw:.1f}, all visitors ({reason})"
    return f"  NPS: raw {summary.nps_raw:.1f}, all visitors {nps:.1f} ±{(upper - lower) / 2:.1f}"


def render(summaries: Sequence[StoreSummary], elapsed: float) -> str:
    """What an operator would see on the dashboard, one line per store."""
    lines = [
        f"-- {HEADER} ({elapsed:.0f} s) " + "-" * 40,
        f"{'store':<12} {'presses':>7} {'suppr.':>6} {'happy(raw)':>10} "
        f"{'happy(all visitors)':>24} {'visitors':>8} {'resp.rate':>9} {'linked':>6}"
        "  floor mood",
    ]
    if not summaries:
        lines.append("(nothing yet: the first bucket values come within a second or two)")
    for summary in summaries:
        rate = summary.response_rate
        lines.append(
            f"{summary.store:<12} {summary.presses:>7} {summary.suppressed:>6} "
            f"{_number(summary.happy_index_raw, '.1f'):>10} "
            f"{_corrected(summary):>24} {summary.visitors:>8} "
            f"{_number(None if rate is None else 100 * rate, '.0f') + '%':>9} "
            f"{summary.linked_presses:>6}  {_mood(summary)}{_why_unhappy(summary)}{_nps(summary)}"
        )
    return "\n".join(lines)


class SummaryConsole:
    """Renders an exporter's stores now, with the time since the console started."""

    def __init__(self, exporter: ExporterState) -> None:
        self.exporter = exporter
        self.started = time.monotonic()

    def render(self) -> str:
        now = self.exporter.clock()
        windows = self.exporter.windows
        summaries = [summarise(windows, store_id, WINDOW, now) for store_id in windows.stores()]
        # The display cameras' labels under the stores (issue 16).
        displays = display_lines(windows, WINDOW, now)
        return "\n".join([render(summaries, time.monotonic() - self.started), *displays])

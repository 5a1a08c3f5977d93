"""The JSON of the display API (issue 16): a store's display labels, and one label set
against another label or against the store's floor cameras (``displays.compare``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from stream_processors.displays import Z_95, Comparison, DisplaySums, Sample, compare, interested
from stream_processors.exporter.windows import AggregateWindows, WindowName
from stream_processors.statistics import Statistics

__all__ = [
    "DisplayComparison",
    "DisplayListing",
    "FigureComparison",
    "UnknownDisplay",
    "compare_displays",
    "display_lines",
    "list_displays",
]

#: The name of the floor baseline in a comparison (``b`` left out).
FLOOR = "floor"


class UnknownDisplay(LookupError):
    """The label has no watchers in the store's window (the message says which)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DisplayListing(_Model):
    """One display label's figures in the window."""

    display: str
    watchers: int
    dwell_mean_seconds: float
    attention_mean_seconds: float
    interest_share: float | None = Field(description="null: no watcher's expression was read")


class FigureComparison(_Model):
    """One figure of ``a`` against ``b``: means, difference, ratio and 95 % intervals
    (delta method over tracks); null figures are undefined and ``reason`` says why."""

    a: float | None
    b: float | None
    a_tracks: int
    b_tracks: int
    difference: float | None
    difference_interval: tuple[float, float] | None
    ratio: float | None
    ratio_interval: tuple[float, float] | None
    reason: str | None = None


class DisplayComparison(_Model):
    """Display label ``a`` against label ``b`` or the store's floor cameras."""

    store: str
    window: WindowName
    to: datetime
    a: str
    b: str = Field(description="a display label, or 'floor': the store's floor cameras")
    method: str = "delta"
    confidence: float = 0.95
    dwell_seconds: FigureComparison
    attention_seconds: FigureComparison
    interest_share: FigureComparison


def list_displays(
    windows: AggregateWindows, store_id: str, window: str, now: datetime
) -> list[DisplayListing]:
    """Every display label with watchers in the store's window (KeyError: unknown store)."""
    statistics = windows.window(store_id, window, now)
    return [
        DisplayListing(
            display=label,
            watchers=sums.watchers,
            dwell_mean_seconds=sums.dwell / sums.watchers,
            attention_mean_seconds=sums.attention / sums.watchers,
            interest_share=sums.interest_sample().mean,
        )
        for label, sums in sorted(statistics.displays.items())
        if sums.watchers > 0
    ]


def _figure(
    comparison: Comparison, a: Sample, b: Sample, reason: str | None = None
) -> FigureComparison:
    return FigureComparison(
        a=comparison.a,
        b=comparison.b,
        a_tracks=a.n,
        b_tracks=b.n,
        difference=comparison.difference,
        difference_interval=comparison.difference_interval,
        ratio=comparison.ratio,
        ratio_interval=comparison.ratio_interval,
        reason=reason or comparison.reason,
    )


def _unavailable(a: Sample, why: str) -> FigureComparison:
    return FigureComparison(
        a=a.mean,
        b=None,
        a_tracks=a.n,
        b_tracks=0,
        difference=None,
        difference_interval=None,
        ratio=None,
        ratio_interval=None,
        reason=why,
    )


def _label(statistics: Statistics, store_id: str, label: str) -> DisplaySums:
    sums = statistics.displays.get(label)
    if sums is None or sums.watchers <= 0:
        known = ", ".join(repr(name) for name in sorted(statistics.displays)) or "none"
        raise UnknownDisplay(
            f"display {label!r} has no watchers in store {store_id} in this window "
            f"(labels with watchers: {known})"
        )
    return sums


def compare_displays(
    windows: AggregateWindows,
    store_id: str,
    window: WindowName,
    now: datetime,
    a: str,
    b: str | None,
) -> DisplayComparison:
    """``a`` against ``b`` (None: the floor) over the window ending ``now``.

    KeyError: unknown store; UnknownDisplay: a label without watchers in the window."""
    statistics = windows.window(store_id, window, now)
    sums_a = _label(statistics, store_id, a)
    if b is not None:
        sums_b = _label(statistics, store_id, b)
        figures = [
            _figure(compare(x, y, Z_95), x, y)
            for x, y in (
                (sums_a.dwell_sample(), sums_b.dwell_sample()),
                (sums_a.attention_sample(), sums_b.attention_sample()),
                (sums_a.interest_sample(), sums_b.interest_sample()),
            )
        ]
    else:
        # The floor cameras count visitors, not watchers of anything: no dwell or
        # attention of theirs compares; their interest share does (same tones).
        floor_interested = interested(statistics.tone_counts)
        floor = Sample(sum(statistics.tone_counts), floor_interested, floor_interested)
        why = "the floor cameras have no dwell or attention figures: compare two labels"
        interest = sums_a.interest_sample()
        figures = [
            _unavailable(sums_a.dwell_sample(), why),
            _unavailable(sums_a.attention_sample(), why),
            _figure(compare(interest, floor, Z_95), interest, floor),
        ]
    dwell, attention, interest_share = figures
    return DisplayComparison(
        store=store_id,
        window=window,
        to=now,
        a=a,
        b=FLOOR if b is None else b,
        dwell_seconds=dwell,
        attention_seconds=attention,
        interest_share=interest_share,
    )


def display_lines(windows: AggregateWindows, window: str, now: datetime) -> list[str]:
    """The demo console's lines for the display labels with watchers in the window, e.g.
    ``store-1  display 'spring collection': 62 watchers, dwell 7.9 s, attention 4.9 s,
    interested 52 % (floor 70 %)``; none without display cameras."""
    lines = []
    for store_id in windows.stores():
        statistics = windows.window(store_id, window, now)
        read = sum(statistics.tone_counts)
        floor = f" (floor {interested(statistics.tone_counts) / read:.0%})" if read else ""
        for item in list_displays(windows, store_id, window, now):
            share = "–" if item.interest_share is None else f"{item.interest_share:.0%}"
            lines.append(
                f"{store_id:<12} display {item.display!r}: {item.watchers} watchers, "
                f"dwell {item.dwell_mean_seconds:.1f} s, attention "
                f"{item.attention_mean_seconds:.1f} s, interested {share}{floor}"
            )
    return lines

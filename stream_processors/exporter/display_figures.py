"""The display cameras' figures per store, window and display label (issue 16).

Watchers, their dwell and attention (means, and cumulative counts by ``bound`` as a
Prometheus histogram's ``le`` buckets have them: ``histogram_quantile`` reads quantiles
after a ``label_replace`` to ``le``, a label promtool reserves for histograms), the
expression and tone mix of the watchers, and the interest share against the store's
floor cameras over the same window (``interest_lift``: a display that lifts interest
shows above 1). Undefined figures are left out (``figures`` module docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kioskpulse.devices import Registry
from kioskpulse.events import DISPLAY_SECONDS_BOUNDS, EXPRESSIONS, TONES
from stream_processors.displays import interested
from stream_processors.exporter.figures import Figure, GaugeSpec
from stream_processors.statistics import Statistics

__all__ = ["DisplayFigures", "display_camera_info", "floor_interest_share"]

WATCHERS = GaugeSpec(
    "kioskpulse_display_watchers",
    "Watchers of the display (display cameras' tracks closed) in the window.",
    ("display",),
)
DWELL_WATCHERS = GaugeSpec(
    "kioskpulse_display_dwell_watchers",
    "Watchers whose dwell (first to last sighting) was at most bound seconds (cumulative, "
    "as a histogram's buckets).",
    ("display", "bound"),
)
ATTENTION_WATCHERS = GaugeSpec(
    "kioskpulse_display_attention_watchers",
    "Watchers whose attention (time facing the camera) was at most bound seconds (cumulative).",
    ("display", "bound"),
)
DWELL_MEAN = GaugeSpec(
    "kioskpulse_display_dwell_mean_seconds",
    "Mean dwell of the display's watchers in the window.",
    ("display",),
)
ATTENTION_MEAN = GaugeSpec(
    "kioskpulse_display_attention_mean_seconds",
    "Mean attention (time facing the camera) of the display's watchers in the window.",
    ("display",),
)
INTEREST_SHARE = GaugeSpec(
    "kioskpulse_display_interest_share",
    "Share of the display's read watchers whose dominant tone was interest or satisfaction.",
    ("display",),
)
FLOOR_INTEREST_SHARE = GaugeSpec(
    "kioskpulse_display_floor_interest_share",
    "The same share over the store's floor-camera visitors in the window: the baseline.",
)
INTEREST_LIFT = GaugeSpec(
    "kioskpulse_display_interest_lift_ratio",
    "The display's interest share over the floor's in the same window (above 1: it lifts "
    "interest).",
    ("display",),
)
TONE_SHARE = GaugeSpec(
    "kioskpulse_display_tone_share",
    "Share of the display's read watchers by emotional tone.",
    ("display", "tone"),
)
EXPRESSION_SHARE = GaugeSpec(
    "kioskpulse_display_expression_share",
    "Share of the display's read watchers by dominant expression.",
    ("display", "expression"),
)

_LE = [f"{bound:g}" for bound in DISPLAY_SECONDS_BOUNDS]


def floor_interest_share(statistics: Statistics) -> float | None:
    """The share of the floor's read visitors who were interested; None without any."""
    read = sum(statistics.tone_counts)
    return interested(statistics.tone_counts) / read if read else None


class DisplayFigures:
    """What the display cameras say, per display label."""

    def gauges(self) -> Sequence[GaugeSpec]:
        return (
            WATCHERS,
            DWELL_WATCHERS,
            ATTENTION_WATCHERS,
            DWELL_MEAN,
            ATTENTION_MEAN,
            INTEREST_SHARE,
            FLOOR_INTEREST_SHARE,
            INTEREST_LIFT,
            TONE_SHARE,
            EXPRESSION_SHARE,
        )

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        """Each store's display figures need its own sums only."""

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        floor = floor_interest_share(statistics)
        if floor is not None and statistics.displays:
            yield (FLOOR_INTEREST_SHARE.name, (), floor)
        for label, sums in sorted(statistics.displays.items()):
            if sums.watchers <= 0:
                continue
            yield (WATCHERS.name, (label,), sums.watchers)
            for le, dwell, attention in zip(
                _LE, sums.dwell_buckets, sums.attention_buckets, strict=True
            ):
                yield (DWELL_WATCHERS.name, (label, le), dwell)
                yield (ATTENTION_WATCHERS.name, (label, le), attention)
            yield (DWELL_WATCHERS.name, (label, "+Inf"), sums.watchers)
            yield (ATTENTION_WATCHERS.name, (label, "+Inf"), sums.watchers)
            yield (DWELL_MEAN.name, (label,), sums.dwell / sums.watchers)
            yield (ATTENTION_MEAN.name, (label,), sums.attention / sums.watchers)
            share = sums.interest_sample().mean
            if share is not None:
                yield (INTEREST_SHARE.name, (label,), share)
                if floor:
                    yield (INTEREST_LIFT.name, (label,), share / floor)
            for tone, value in zip(TONES, sums.tone_shares() or (), strict=False):
                yield (TONE_SHARE.name, (label, tone), value)
            for expression, value in zip(EXPRESSIONS, sums.expression_shares() or (), strict=False):
                yield (EXPRESSION_SHARE.name, (label, expression), value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def display_camera_info(registry: Registry) -> bytes:
    """``kioskpulse_display_camera_info{store, camera, display} 1`` for every active display
    camera of the registry: which cameras should see watchers, and under which label now,
    even while one sees no one (the alert KioskPulseDisplaySeesNoOne)."""
    name = "kioskpulse_display_camera_info"
    lines = [
        f"# HELP {name} An active display camera of the devices registry and its current "
        "label (always 1).\n",
        f"# TYPE {name} gauge\n",
    ]
    for camera_id, camera in sorted(registry.cameras.items()):
        if camera.role == "display" and not camera.revoked and camera.display is not None:
            labels = (
                f'store="{camera.store}",camera="{camera_id}",display="{_escape(camera.display)}"'
            )
            lines.append(f"{name}{{{labels}}} 1.0\n")
    return "".join(lines).encode()

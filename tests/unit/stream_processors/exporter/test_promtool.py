"""``promtool check metrics`` on a realistic exposition of the exporter (never skipped)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import generate_latest

from kioskpulse.events import KioskStatus
from stream_processors.exporter.state import ExporterState
from tests.support.aggregates import NOW, aggregate
from tests.support.promtool import promtool_problems


def realistic_state(kiosk_status: Callable[[float, int], KioskStatus]) -> ExporterState:
    """Three stores: both scales, floor and kiosk cameras, one store with no camera at all."""
    state = ExporterState(clock=lambda: NOW)
    for minute in range(0, 24 * 60, 7):
        state.windows.apply(
            aggregate(
                "airport-1",
                minute,
                presses={4: [1, 0, 2, minute % 5], 5: [0, 1, 0, 1, 3]},
                suppressed=minute % 2,
                linked={4: [0, 0, 1, 1], 5: [0, 0, 0, 1, 1]},
                visitors=12,
                expressions=[1, 0, 0, 6, 2, 1, 2],
                tones=[1, 6, 1, 4],
                kiosks={"gate-a": kiosk_status(0.5, 0), "gate-b": kiosk_status(40, 12)},
                cameras={"floor-1": NOW, "kiosk-cam-a": NOW},
                followups={"queue": minute % 3 + 1, "staff": 1},
            ),
            NOW,
        )
    state.windows.apply(aggregate("bank-7", 3, presses={4: [0, 0, 1, 1]}, visitors=2), NOW)
    state.windows.apply(
        aggregate("shop-2", 70, presses={5: [2, 0, 0, 0, 0]}, kiosks={"k": kiosk_status(70, 3)}),
        NOW,
    )
    state.ingest(b"garbage", "test")
    state.mark_ready()
    return state


def test_the_exposition_passes_promtool(
    kiosk_status: Callable[[float, int], KioskStatus],
) -> None:
    exposition = generate_latest(realistic_state(kiosk_status).registry)
    assert b"kioskpulse_rating_share" in exposition
    assert b"kioskpulse_camera_last_seen_timestamp_seconds" in exposition
    assert b'kioskpulse_followup_total{reason="queue",store="airport-1"}' in exposition
    assert promtool_problems(exposition) == ""

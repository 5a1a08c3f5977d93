"""Scrapes serve the store figures rendered on a schedule, so their cost does not grow."""

from __future__ import annotations

import asyncio

from stream_processors.exporter.state import REFRESH_MIN_SECONDS, ExporterState
from tests.support.aggregates import NOW, aggregate


async def test_a_scrape_serves_the_latest_rendering_and_changes_show_within_the_interval() -> None:
    state = ExporterState(clock=lambda: NOW)
    state.ingest(aggregate("s1", 3, presses={4: [0, 0, 0, 1]}).to_bytes(), "test")
    refreshing = asyncio.create_task(state.refresh_forever())
    try:
        await asyncio.sleep(0.05)
        assert b'kioskpulse_ratings_total{store="s1"' in state.exposition()
        state.ingest(aggregate("s2", 3, presses={4: [1, 0, 0, 0]}).to_bytes(), "test")
        assert b'store="s2"' not in state.exposition(), "served, not rendered, by the scrape"
        await asyncio.sleep(REFRESH_MIN_SECONDS + 0.1)
        assert b'kioskpulse_ratings_total{store="s2"' in state.exposition()
        assert b"kioskpulse_exporter_render_seconds " in state.exposition()
    finally:
        refreshing.cancel()
        await asyncio.gather(refreshing, return_exceptions=True)
    state.ingest(aggregate("s3", 3, presses={4: [1, 0, 0, 0]}).to_bytes(), "test")
    assert b'store="s3"' in state.exposition(), "without the schedule, a scrape renders"

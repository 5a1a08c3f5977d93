"""The faust settings that set a worker's cost per Kafka record (docs/benchmarks.md).

Apart from the worker so that bench/faust_noop.py runs its no-op agent with exactly
the same ones without importing the stages.
"""

from __future__ import annotations

from typing import Any

from kioskpulse.settings import Settings

__all__ = ["faust_tuning"]


def faust_tuning(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``faust.App`` from kioskpulse's settings."""
    return {
        "broker_max_poll_records": settings.faust_max_poll_records,
        "stream_buffer_maxsize": settings.faust_stream_buffer_maxsize,
        # stream_wait_empty stays True (faust's default): a rebalance waits for the
        # batch in hand, so a worker never writes a store's state after losing it.
    }

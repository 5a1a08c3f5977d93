"""``kioskpulse exporter``: the exporter against Kafka, served by uvicorn."""

from __future__ import annotations

from datetime import timedelta

from kioskpulse.devices import RegistryFile
from kioskpulse.settings import Settings
from stream_processors.exporter.app import create_exporter_app
from stream_processors.exporter.source import feed_from_kafka
from stream_processors.exporter.state import ExporterState

__all__ = ["build_exporter", "run_exporter"]


def build_exporter(settings: Settings) -> tuple[ExporterState, RegistryFile]:
    """A fresh exporter state and the registry its operators authenticate against."""
    state = ExporterState(
        lateness=timedelta(seconds=settings.allowed_lateness_seconds),
        max_ahead=timedelta(seconds=settings.max_clock_skew_seconds),
        track_idle=timedelta(seconds=settings.track_idle_seconds),
    )
    registry = RegistryFile(settings.devices_file, settings.devices_reload_seconds)
    return state, registry


def run_exporter(settings: Settings, host: str, port: int, *, log_level: str = "info") -> int:
    """Serve the exporter until interrupted; it reads store.aggregates.v1 from Kafka."""
    import asyncio

    import uvicorn

    from kioskpulse.bus.kafka import create_topics_when_reachable
    from kioskpulse.topics import topic_specs
    from stream_processors.exporter.lag import watch_consumer_lag

    # Like the worker: the topics exist before anyone reads them (a fresh broker has none);
    # started during a broker outage, it waits for the broker here.
    asyncio.run(create_topics_when_reachable(settings, topic_specs(settings)))
    state, registry = build_exporter(settings)

    async def feed() -> None:
        await asyncio.gather(feed_from_kafka(state, settings), watch_consumer_lag(state, settings))

    app = create_exporter_app(state, registry, feed=feed)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    return 0

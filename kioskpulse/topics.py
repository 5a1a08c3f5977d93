"""Topic names and how each topic is created (docs/operations.md, Topics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kioskpulse.settings import Settings

__all__ = [
    "AGGREGATES",
    "DEADLETTER",
    "FACES",
    "FOLLOWUPS",
    "FRAMES",
    "HEARTBEATS",
    "RATINGS",
    "STORE_KEYED",
    "TopicSpec",
    "topic_specs",
]

RATINGS = "kiosk.ratings.v1"
HEARTBEATS = "kiosk.heartbeats.v1"
FOLLOWUPS = "kiosk.followups.v1"
FRAMES = "camera.frames.v1"
FACES = "camera.faces.v1"
AGGREGATES = "store.aggregates.v1"
DEADLETTER = "pipeline.deadletter.v1"

#: Topics keyed by store id. They must share one partition count, because the
#: store aggregator joins them per partition (faust co-partitioning).
STORE_KEYED: tuple[str, ...] = (RATINGS, HEARTBEATS, FOLLOWUPS, FACES, AGGREGATES)


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must look like on the broker."""

    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic kioskpulse needs, as configured."""
    n, rf = settings.topic_partitions, settings.topic_replication
    frames_retention_ms = str(settings.frames_retention_seconds * 1000)
    aggregates_retention_ms = str(settings.aggregates_retention_seconds * 1000)
    return [
        TopicSpec(RATINGS, n, rf),
        TopicSpec(HEARTBEATS, n, rf),
        TopicSpec(FOLLOWUPS, n, rf),
        # Frames are personal data: keep them only briefly (docs/architecture.md, Privacy).
        TopicSpec(FRAMES, n, rf, {"retention.ms": frames_retention_ms}),
        TopicSpec(FACES, n, rf),
        # One value per (store, bucket): compaction keeps the latest upsert, and buckets
        # older than the retention go (the exporter's windows reach back 24 h).
        TopicSpec(
            AGGREGATES,
            n,
            rf,
            {"cleanup.policy": "compact,delete", "retention.ms": aggregates_retention_ms},
        ),
        TopicSpec(DEADLETTER, n, rf),
    ]

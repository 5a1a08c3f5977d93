"""One settings object, read from ``KIOSKPULSE_*`` environment variables, validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every knob of kioskpulse; env var = ``KIOSKPULSE_`` + upper-case field name."""

    model_config = SettingsConfigDict(env_prefix="KIOSKPULSE_", extra="ignore", frozen=True)

    # Transport
    bus: Literal["kafka", "memory"] = "kafka"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_client_id: str = "kioskpulse"
    topic_partitions: int = Field(6, ge=1, le=1024, description="same for every store-keyed topic")
    topic_replication: int = Field(1, ge=1, le=5)
    frames_retention_seconds: int = Field(3600, ge=60)
    aggregates_retention_seconds: int = Field(
        30 * 24 * 3600, ge=2 * 24 * 3600, description="how long bucket values stay in Kafka"
    )
    # Several events of one store in one Kafka record (kioskpulse.event_records): false
    # while workers of a version that reads one event per record still run.
    batch_records: bool = Field(True, description="several events of a store per record")
    publish_timeout_seconds: float = Field(5.0, gt=0, le=120)
    readiness_timeout_seconds: float = Field(2.0, gt=0, le=30)

    # Devices
    devices_file: Path = Path("devices.yaml")
    devices_reload_seconds: float = Field(1.0, ge=0, description="how often to check the file")

    # Request limits
    max_json_body_bytes: int = Field(1 * MiB, ge=1024)
    # A frame travels as one Kafka record: the producer's request limit (1 MiB) and the
    # broker's message.max.bytes (1 MiB + 12) bound it with its headers, and a larger
    # frame would be answered 503 (retry) for ever instead of 413.
    max_frame_bytes: int = Field(1_000_000, ge=1024, le=1_000_000)
    rate_limit_per_second: float = Field(20.0, ge=0, description="per device; 0 disables")
    rate_limit_burst: int = Field(100, ge=1)

    # The kiosk page (/kiosk, docs/kiosk-page.md); its press interval is misuse_interval_seconds
    kiosk_thanks_seconds: float = Field(4.0, gt=0, le=60, description="the thank-you screen")
    kiosk_followup_timeout_seconds: float = Field(
        15.0, gt=0, le=300, description="an unanswered follow-up question goes back"
    )
    kiosk_heartbeat_seconds: float = Field(60.0, ge=1, le=3600, description="page heartbeats")
    pairing_attempts_per_minute: float = Field(
        12.0, gt=0, le=600, description="per client address: pairing codes cannot be guessed"
    )

    # Vision stage
    vision_batch_size: int = Field(16, ge=1, le=512, description="frames per inference batch")
    vision_batch_seconds: float = Field(0.2, gt=0, le=10, description="longest wait to fill one")
    vision_threads: int = Field(2, ge=1, le=64, description="decode/detect/infer threads")
    vision_max_pixels: int = Field(40_000_000, ge=10_000, description="larger frames are refused")
    vision_detector: Literal["mtcnn", "haar"] = Field(
        "mtcnn", description="face detector (docs/vision.md); yunet_model overrides it"
    )
    # The smallest face looked for, per camera role; a camera's own min_face_px (devices
    # file) wins. 24 px is a face at ~3 m from a 640×480 camera with a 70° lens.
    vision_floor_min_face_px: int = Field(24, ge=12, le=1000, description="floor cameras")
    vision_kiosk_min_face_px: int = Field(48, ge=12, le=1000, description="kiosk cameras")
    vision_detect_width: int = Field(320, ge=160, le=4096, description="Haar works at this width")
    vision_detect_scale: float = Field(1.2, gt=1.0, le=2.0, description="Haar pyramid step")
    yunet_model: Path | None = Field(None, description="use OpenCV YuNet instead")

    # Stream processors (faust)
    faust_app_id: str = "kioskpulse"
    faust_web_port: int = Field(6066, ge=1, le=65535)
    faust_datadir: Path = Path(".kioskpulse-worker")

    faust_store: str = Field("rocksdb://", description="faust table store; memory:// in tests")
    faust_session_timeout_seconds: float = Field(
        60.0, ge=6, le=300, description="how soon a dead worker's partitions move"
    )
    # faust hands a worker its input one Kafka record at a time: these bound how many it
    # fetches per poll and holds per agent (docs/benchmarks.md, "Stream throughput").
    faust_max_poll_records: int | None = Field(
        None, ge=1, le=100_000, description="records per fetch; None: aiokafka's default"
    )
    faust_stream_buffer_maxsize: int = Field(
        4096, ge=1, le=1_000_000, description="records waiting for an agent"
    )
    worker_write_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="one attempt at writing a batch's outputs"
    )
    worker_stall_exit_seconds: float = Field(
        300.0, ge=30, description="not consuming this long while the broker answers: exit"
    )

    # Store aggregator
    aggregate_bucket_seconds: int = Field(60, ge=1, le=3600, description="event-time bucket")
    aggregate_batch_size: int = Field(5000, ge=1, le=100_000, description="events per batch")
    aggregate_batch_seconds: float = Field(0.2, gt=0, le=10, description="longest wait to fill one")
    # Each emission writes every changed bucket of every store: with 2,000 stores a worker,
    # 1 s instead of 0.5 s halves that work (a tenth of the worker's time; docs/benchmarks.md).
    aggregate_emit_seconds: float = Field(1.0, ge=0, le=60, description="bucket upserts at most")
    aggregate_max_store_entries: int = Field(200_000, ge=100, description="state bound per store")
    # Faces narrower than this count as visitors but bring no expression (0: all do).
    # bench/face_size.py: from 24 px the expression model is clearly better than any
    # store's prior with under 60 % happy; at 20 px only than one with under 36 %, and
    # its answers drift to fear (docs/vision.md, "Expressions of small faces").
    min_expression_face_px: int = Field(
        24, ge=0, le=1000, description="faces narrower than this carry no expression"
    )
    misuse_interval_seconds: float = Field(
        5.0, ge=0, description="one kiosk's presses closer count once"
    )
    link_before_seconds: float = Field(
        3.0, ge=0, description="kiosk-camera faces this long before a press"
    )
    link_after_seconds: float = Field(1.0, ge=0, description="… and this long after it")
    track_idle_seconds: float = Field(10.0, gt=0, description="a visitor track ends after this")

    # Exporter
    exporter_port: int = Field(9108, ge=1, le=65535, description="/metrics and the JSON API")
    exporter_retry_seconds: float = Field(
        5.0, gt=0, le=300, description="wait between attempts to reach the broker"
    )

    # Event time. The lateness also bounds the aggregator's state: a day of events.
    max_clock_skew_seconds: float = Field(300.0, ge=0, description="how far in the future")
    allowed_lateness_seconds: float = Field(24 * 3600.0, gt=0, description="how far back")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

"""The API's own Prometheus metrics (module-level, registered once)."""

from __future__ import annotations

import time
from typing import Literal

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kioskpulse.freshness import NewestEventTime

__all__ = [
    "EVENTS_ACCEPTED",
    "NEWEST_ACCEPTED",
    "PUBLISH_SECONDS",
    "REJECTIONS",
    "REQUESTS",
    "REQUEST_SECONDS",
    "RejectionReason",
    "RequestMetricsMiddleware",
]

#: Why a request was refused: a bounded label set.
RejectionReason = Literal[
    "validation",
    "event_time",
    "unauthenticated",
    "wrong_device",
    "rate_limited",
    "too_large",
    "unsupported_media_type",
    "broker_unavailable",
    "pairing_refused",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "kioskpulse_api_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "kioskpulse_api_request_duration_seconds",
    "Time from request start to the last byte of the response.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
PUBLISH_SECONDS = Histogram(
    "kioskpulse_api_publish_duration_seconds",
    "Time for the broker to acknowledge the events of one request.",
    ["topic"],
    buckets=_LATENCY_BUCKETS,
)
EVENTS_ACCEPTED = Counter(
    "kioskpulse_api_events_accepted",
    "Events acknowledged by the broker, by topic.",
    ["topic"],
)
#: The newest event time the broker acknowledged, per topic: where the pipeline's
#: delay is measured from.
NEWEST_ACCEPTED = NewestEventTime("api", "acknowledged by the broker")
REJECTIONS = Counter(
    "kioskpulse_api_rejections",
    "Requests refused, by reason.",
    ["reason"],
)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request (plain ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so that scanners cannot grow the label set.
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(template, scope["method"], str(status)).inc()
            REQUEST_SECONDS.labels(template).observe(time.perf_counter() - started)

"""What every request of one API instance shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kiosk_api.ratelimit import RateLimiter
from kioskpulse.bus import Bus
from kioskpulse.devices import RegistryFile
from kioskpulse.eventtime import EventTimeWindow
from kioskpulse.settings import Settings

__all__ = ["ApiState"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiState:
    settings: Settings
    bus: Bus
    registry: RegistryFile
    limiter: RateLimiter
    #: Pairing attempts per client address (a code is short: guessing must be slow).
    pairing_limiter: RateLimiter
    event_time: EventTimeWindow
    clock: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def build(cls, settings: Settings, bus: Bus, registry: RegistryFile | None = None) -> ApiState:
        return cls(
            settings=settings,
            bus=bus,
            registry=registry
            or RegistryFile(settings.devices_file, settings.devices_reload_seconds),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            pairing_limiter=RateLimiter(settings.pairing_attempts_per_minute / 60, burst=5),
            event_time=EventTimeWindow.from_settings(settings),
        )

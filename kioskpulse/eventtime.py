"""Whether a device's timestamp is plausible enough to accept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kioskpulse.settings import Settings

__all__ = ["EventTimeWindow"]


@dataclass(frozen=True)
class EventTimeWindow:
    """Accept event times from ``lateness`` ago up to ``skew`` ahead of the server clock.

    The future bound absorbs kiosk clock drift; the past bound is how long a kiosk
    may stay offline and still upload (later stages keep state that long).
    """

    skew: timedelta
    lateness: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> EventTimeWindow:
        return cls(
            skew=timedelta(seconds=settings.max_clock_skew_seconds),
            lateness=timedelta(seconds=settings.allowed_lateness_seconds),
        )

    def problem(self, when: datetime, now: datetime) -> str | None:
        """Why ``when`` is refused, or None when it is acceptable."""
        if when > now + self.skew:
            ahead = (when - now).total_seconds()
            return (
                f"{ahead:.0f} s in the future (at most {self.skew.total_seconds():.0f} s "
                "allowed: check the device clock)"
            )
        if when < now - self.lateness:
            return f"older than the allowed lateness of {self.lateness}"
        return None

"""Fixtures of the exporter's tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from kioskpulse.events import KioskStatus
from tests.support.aggregates import NOW


@pytest.fixture
def kiosk_status() -> Callable[[float, int], KioskStatus]:
    """A kiosk status: last seen ``minutes_ago`` before NOW with ``buffered`` events."""

    def make(minutes_ago: float, buffered: int) -> KioskStatus:
        return KioskStatus(last_seen=NOW - timedelta(minutes=minutes_ago), buffered=buffered)

    return make

"""The per-device token bucket."""

from __future__ import annotations

from kiosk_api.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_applies() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("k1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k1")
    assert wait == 0.5
    clock.now += 0.5
    assert limiter.acquire("k1") == 0.0


def test_devices_have_separate_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=FakeClock())
    assert limiter.acquire("k1") == 0.0
    assert limiter.acquire("k1") > 0
    assert limiter.acquire("k2") == 0.0


def test_zero_rate_disables_limiting() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=FakeClock())
    assert not limiter.enabled
    assert all(limiter.acquire("k1") == 0.0 for _ in range(1000))


def test_retry_after_is_a_whole_positive_number_of_seconds() -> None:
    assert RateLimiter.retry_after_header(0.01) == "1"
    assert RateLimiter.retry_after_header(2.2) == "3"

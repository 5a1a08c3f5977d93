"""The device side of the kiosk API, written once: how a kiosk or a camera posts.

The rules of ``docs/api.md`` ("Errors"), for every client that speaks as a device
(the edge agent, the simulator):

- every request carries the device's own ``Authorization: Bearer <token>``;
- ``202`` means accepted: done;
- ``429``, ``503`` (the broker did not acknowledge), a gateway's ``502``/``504`` and
  network errors are
  retried with the same body, hence the same event ids: after the ``Retry-After``
  the API gave (whole seconds, capped at ``RetryPolicy.longest_wait``), or, without
  one or when it is not whole seconds (an HTTP date, garbage), after an exponential
  backoff with jitter, capped at ``RetryPolicy.max_backoff``;
- any other answer (401, 403, 413, 415, 422, a 500 bug, …) is final, retrying cannot
  fix it:
  the result carries the API's reason (its ``detail``);
- after ``RetryPolicy.max_attempts`` attempts the client gives up; with None it
  retries until the write is accepted or the task is cancelled.

Callers watch the attempts through two hooks (``before_attempt``: a request is about
to leave; ``after_attempt``: its answer or error and the wait before the next one),
and get a ``PostResult`` at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from kioskpulse.http_auth import bearer_header

__all__ = [
    "ACCEPTED",
    "Attempt",
    "DeviceClient",
    "Outcome",
    "PostResult",
    "RetryPolicy",
    "is_retryable",
    "refusal_reason",
    "retry_after_seconds",
]

#: The API's only success: every event acknowledged by the broker.
ACCEPTED = 202
_RETRYABLE = frozenset({429, 502, 503, 504})
_REASON_CHARS = 300  # a refusal's reason is cut here (an HTML error page of a proxy, say)

Outcome = Literal["accepted", "refused", "gave up"]


def is_retryable(status: int) -> bool:
    """Whether an answer asks for the same write again later: 429, 502, 503 and 504.

    A 500 is a bug of the API: retrying the same body would only hit it again."""
    return status in _RETRYABLE


def retry_after_seconds(value: str | None) -> int | None:
    """A ``Retry-After`` header value as whole seconds; None when absent or anything else.

    The API sends whole seconds; an HTTP date, a fraction, a sign or garbage is None,
    and the caller falls back to its backoff.
    """
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value)
    except ValueError:  # more digits than Python converts: garbage too
        return None


def refusal_reason(response: httpx.Response) -> str:
    """The API's reason for a refusal: its ``detail``, else the body, else the status phrase.

    A list of field errors (a 422) reads ``body.single.rating: Input should be …; …``.
    """
    try:
        detail = response.json()["detail"]
    except (ValueError, TypeError, KeyError):  # not JSON, or JSON without a detail
        reason = response.text.strip() or response.reason_phrase
    else:
        if isinstance(detail, str):
            reason = detail
        elif isinstance(detail, list) and all(_is_field_error(item) for item in detail):
            reason = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in detail
            )
        else:
            reason = json.dumps(detail)
    return reason[:_REASON_CHARS]


def _is_field_error(item: object) -> bool:
    return isinstance(item, Mapping) and isinstance(item.get("loc"), list) and "msg" in item


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again, and how long to wait first.

    The n-th failure in a row waits ``backoff * 2**(n-1)``, capped at ``max_backoff``,
    less a random share of up to ``jitter`` of it (devices that failed together do
    not come back together); a ``Retry-After`` of the API replaces that wait, capped
    at ``longest_wait`` (it is obeyed, not jittered).
    """

    max_attempts: int | None = 5
    backoff: float = 0.5
    max_backoff: float = 5.0
    jitter: float = 0.2
    longest_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, not {self.max_attempts}")
        if min(self.backoff, self.max_backoff, self.longest_wait) < 0:
            raise ValueError("backoff, max_backoff and longest_wait must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter is a share of the backoff, 0..1, not {self.jitter}")

    def backoff_after(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after ``failures`` (1, 2, …) failed attempts in a row."""
        base = min(self.backoff * 2.0 ** min(failures - 1, 16), self.max_backoff)
        return base * (1.0 - self.jitter * rng.random())

    def wait_after(
        self, failures: int, response: httpx.Response | None, rng: random.Random
    ) -> float:
        """The wait before the next attempt: the API's ``Retry-After``, else the backoff."""
        if response is not None:
            told = retry_after_seconds(response.headers.get("Retry-After"))
            if told is not None:
                return min(float(told), self.longest_wait)
        return self.backoff_after(failures, rng)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request and what came of it: an answer or a network error, never both."""

    #: 1 for the first request of a write, 2 for its first retry, …
    number: int
    response: httpx.Response | None
    error: httpx.HTTPError | None
    #: Seconds before the next attempt; None when this one was the last.
    wait: float | None

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status_code


@dataclass(frozen=True, slots=True)
class PostResult:
    """How a write ended."""

    outcome: Outcome
    #: Requests made, the last included.
    attempts: int
    #: The last answer's status; None when the last attempt was a network error.
    status: int | None
    #: Why it was not accepted (the API's ``detail`` for a refusal); None when accepted.
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


class DeviceClient:
    """Posts writes as a device through ``client`` (its base URL is the API's)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        before_attempt: Callable[[int], None] | None = None,
        after_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._client = client
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._before_attempt = before_attempt
        self._after_attempt = after_attempt

    async def post(
        self,
        path: str,
        token: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PostResult:
        """Post until accepted, refused, out of attempts or cancelled; the same body each time."""
        request_headers = {**(headers or {}), **bearer_header(token)}
        limit = self.policy.max_attempts
        numbers = itertools.count(1) if limit is None else range(1, limit + 1)
        last = Attempt(0, None, None, None)
        for number in numbers:
            if self._before_attempt is not None:
                self._before_attempt(number)
            response: httpx.Response | None = None
            error: httpx.HTTPError | None = None
            try:
                response = await self._client.post(
                    path, json=json, content=content, params=params, headers=request_headers
                )
            except httpx.HTTPError as exc:
                error = exc
            else:
                status = response.status_code
                if status == ACCEPTED or not is_retryable(status):
                    self._report(Attempt(number, response, None, None))
                    if status == ACCEPTED:
                        return PostResult("accepted", number, status, None)
                    return PostResult("refused", number, status, refusal_reason(response))
            wait = None if number == limit else self.policy.wait_after(number, response, self._rng)
            last = Attempt(number, response, error, wait)
            self._report(last)
            if wait is not None:
                await self._sleep(wait)
        problem = f"answered {last.status}" if last.error is None else type(last.error).__name__
        return PostResult(
            "gave up", last.number, last.status, f"gave up after {last.number} attempts ({problem})"
        )

    def _report(self, attempt: Attempt) -> None:
        if self._after_attempt is not None:
            self._after_attempt(attempt)

"""The device side of the API: what is retried, how long it waits, when it stops.

A unit test of our own retry logic: the API is an ``httpx.MockTransport`` giving
scripted answers, and the client's sleep only records the waits.
"""

from __future__ import annotations

import json
import random

import httpx
import pytest

from kioskpulse.device_client import (
    Attempt,
    DeviceClient,
    PostResult,
    RetryPolicy,
    is_retryable,
    refusal_reason,
    retry_after_seconds,
)

PATH = "/v1/kiosks/k1/ratings"
BODY = {"event_id": "6f1c2a52-4a4b-4bd6-9a37-2f8a4b7c8d9e", "rating": 2}
NO_JITTER = RetryPolicy(backoff=1.0, max_backoff=8.0, jitter=0.0)

Answer = httpx.Response | Exception


class Api:
    """Scripted answers in turn; every request, every attempt seen and every wait recorded."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.before: list[int] = []
        self.attempts: list[Attempt] = []
        self.waits: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def post(
        self, policy: RetryPolicy = NO_JITTER, rng: random.Random | None = None
    ) -> PostResult:
        transport = httpx.MockTransport(self.handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            device = DeviceClient(
                client,
                policy,
                rng=rng,
                sleep=self.sleep,
                before_attempt=self.before.append,
                after_attempt=self.attempts.append,
            )
            return await device.post(PATH, "kp_secret", json=BODY)


def busy(status: int = 503, retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(status, headers=headers, json={"detail": "retry later"})


ACCEPTED = httpx.Response(202, json={"accepted": 1})


async def test_202_is_done_with_the_bearer_token_and_the_body() -> None:
    api = Api([ACCEPTED])
    result = await api.post()
    assert result == PostResult("accepted", attempts=1, status=202, reason=None)
    assert result.accepted
    (request,) = api.requests
    assert (request.method, request.url.path) == ("POST", PATH)
    assert request.headers["Authorization"] == "Bearer kp_secret"
    assert json.loads(request.content) == BODY
    assert api.before == [1]
    assert [(a.number, a.status, a.wait) for a in api.attempts] == [(1, 202, None)]
    assert api.waits == []


async def test_retry_after_is_obeyed_and_capped() -> None:
    policy = RetryPolicy(backoff=1.0, jitter=0.0, longest_wait=30.0)
    api = Api([busy(429, "3"), busy(503, "120"), ACCEPTED])
    result = await api.post(policy)
    assert (result.outcome, result.attempts) == ("accepted", 3)
    assert api.waits == [3.0, 30.0]
    assert [(a.status, a.wait) for a in api.attempts] == [(429, 3.0), (503, 30.0), (202, None)]


@pytest.mark.parametrize(
    "value", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "1.5", "-2", "", "9" * 5000]
)
async def test_a_retry_after_that_is_not_whole_seconds_falls_back_to_the_backoff(
    value: str,
) -> None:
    api = Api([busy(503, value), busy(503, value), ACCEPTED])
    assert (await api.post()).accepted
    assert api.waits == [1.0, 2.0], "the backoff of NO_JITTER: 1 s, then 2 s"


async def test_busy_and_gateway_answers_are_retried_with_the_same_body() -> None:
    api = Api([busy(503), busy(504), busy(502), ACCEPTED])
    result = await api.post()
    assert (result.outcome, result.attempts) == ("accepted", 4)
    assert len({request.content for request in api.requests}) == 1, "the same event id"
    assert api.waits == [1.0, 2.0, 4.0]


async def test_a_server_error_is_final() -> None:
    api = Api([busy(500), ACCEPTED])
    result = await api.post()
    assert (result.outcome, result.attempts, result.status) == ("refused", 1, 500)


async def test_network_errors_are_retried_with_a_capped_backoff() -> None:
    errors = [httpx.ConnectError("connection refused"), httpx.ReadTimeout("no answer")] * 3
    api = Api([*errors, ACCEPTED])
    result = await api.post(RetryPolicy(max_attempts=None, backoff=1.0, max_backoff=8.0, jitter=0))
    assert (result.outcome, result.attempts) == ("accepted", 7)
    assert api.waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    failed = [a for a in api.attempts if a.error is not None]
    assert [type(a.error).__name__ for a in failed] == ["ConnectError", "ReadTimeout"] * 3
    assert all(a.response is None and a.status is None for a in failed)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, {"detail": "unknown or revoked token"}, "unknown or revoked token"),
        (403, {"detail": "k1 is a kiosk, not a camera"}, "k1 is a kiosk, not a camera"),
        (
            422,
            {"detail": [{"loc": ["body", "single", "rating"], "msg": "too high", "type": "x"}]},
            "body.single.rating: too high",
        ),
        (413, None, "Request Entity Too Large"),
    ],
)
async def test_any_other_4xx_is_final_at_once_with_the_reason(
    status: int, body: object, reason: str
) -> None:
    api = Api([httpx.Response(status, json=body) if body else httpx.Response(status)])
    result = await api.post()
    assert result == PostResult("refused", attempts=1, status=status, reason=reason)
    assert not result.accepted
    assert api.waits == []
    assert [(a.status, a.wait) for a in api.attempts] == [(status, None)]


async def test_it_gives_up_after_max_attempts_without_waiting_after_the_last() -> None:
    policy = RetryPolicy(max_attempts=3, backoff=1.0, jitter=0.0)
    api = Api([busy(503, "2"), httpx.ConnectError("down"), busy(429)])
    result = await api.post(policy)
    assert result.outcome == "gave up"
    assert not result.accepted
    assert (result.attempts, result.status) == (3, 429)
    assert result.reason == "gave up after 3 attempts (answered 429)"
    assert api.before == [1, 2, 3]
    assert api.waits == [2.0, 2.0]
    assert api.attempts[-1].wait is None


async def test_giving_up_after_a_network_error_names_it() -> None:
    api = Api([httpx.ConnectError("down")])
    result = await api.post(RetryPolicy(max_attempts=1))
    assert (result.outcome, result.status) == ("gave up", None)
    assert result.reason == "gave up after 1 attempts (ConnectError)"


def test_jitter_stays_within_its_share_of_the_backoff() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0, jitter=0.25)
    rng = random.Random(7)
    for failures in range(1, 10):
        base = min(0.5 * 2 ** (failures - 1), 4.0)
        waits = [policy.backoff_after(failures, rng) for _ in range(200)]
        assert all(base * 0.75 <= wait <= base for wait in waits)
        assert max(waits) - min(waits) > base * 0.2, "spread over the whole share"


async def test_jitter_is_deterministic_with_a_seeded_rng() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=8.0, jitter=0.5)
    runs = []
    for _ in range(2):
        api = Api([busy(503), busy(503), ACCEPTED])
        await api.post(policy, random.Random(42))
        runs.append(api.waits)
    assert runs[0] == runs[1]
    assert runs[0] != [1.0, 2.0]
    assert 0.5 <= runs[0][0] <= 1.0
    assert 1.0 <= runs[0][1] <= 2.0


def test_the_helpers() -> None:
    assert [is_retryable(s) for s in (429, 502, 503, 504, 500, 501, 400, 401, 422, 202)] == [
        *[True] * 4,
        *[False] * 6,
    ]
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(" 7 ") == 7
    assert retry_after_seconds("²") is None, "a digit to str.isdigit, not to int"
    not_json = httpx.Response(502, text="<html>bad gateway</html>" * 50)
    assert refusal_reason(not_json).startswith("<html>bad gateway")
    assert len(refusal_reason(not_json)) == 300
    assert refusal_reason(httpx.Response(400, json={"detail": {"odd": 1}})) == '{"odd": 1}'


@pytest.mark.parametrize(
    "fields",
    [{"max_attempts": 0}, {"backoff": -1.0}, {"jitter": 1.5}, {"longest_wait": -1.0}],
)
def test_a_policy_that_makes_no_sense_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|jitter"):
        RetryPolicy(**fields)  # type: ignore[arg-type]

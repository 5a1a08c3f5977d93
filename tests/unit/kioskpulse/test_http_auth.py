"""The bearer scheme both APIs read and both device clients write."""

from __future__ import annotations

import pytest

from kioskpulse.http_auth import bearer_header, bearer_token


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer kp_abc", "kp_abc"),
        ("bearer kp_abc", "kp_abc"),
        ("BEARER   kp_abc  ", "kp_abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("kp_abc", None),
    ],
)
def test_the_token_of_an_authorization_header(authorization: str | None, token: str | None) -> None:
    assert bearer_token(authorization) == token


def test_the_header_a_client_sends_reads_back_as_its_token() -> None:
    header = bearer_header("kp_abc")
    assert header == {"Authorization": "Bearer kp_abc"}
    assert bearer_token(header["Authorization"]) == "kp_abc"

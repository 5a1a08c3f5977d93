"""The bearer scheme of kioskpulse's HTTP APIs, both sides of it, written once.

Devices (kiosk API) and operators (exporter's JSON API) authenticate the same way:
``Authorization: Bearer <token>``. Pure functions on header values: the servers
read the token with ``bearer_token`` (FastAPI stays out of the core), the clients
write the header with ``bearer_header``.
"""

from __future__ import annotations

__all__ = ["BEARER_CHALLENGE", "bearer_header", "bearer_token"]

#: The headers of a 401: which scheme the client should use.
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header value; None unless it is a non-blank bearer.

    The scheme is case-insensitive; white space around the token is ignored.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_header(token: str) -> dict[str, str]:
    """The ``Authorization`` header that presents ``token``."""
    return {"Authorization": f"Bearer {token}"}

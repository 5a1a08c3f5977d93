"""Bounded request bodies, enforced before anything is buffered.

A declared Content-Length over the limit is refused at once; a chunked body is
counted as it streams in and refused as soon as it crosses the limit.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiosk_api.metrics import REJECTIONS

__all__ = ["BodyLimitMiddleware"]


class _BodyTooLarge(HTTPException):
    # An HTTPException, so that FastAPI's body reader lets it through unchanged.
    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit), {"Connection": "close"})


def _too_large_message(limit: int) -> str:
    return f"request body larger than the limit of {limit} bytes"


class BodyLimitMiddleware:
    """Answer 413 for bodies above ``limit_for(path)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            REJECTIONS.labels("too_large").inc()
            await _refuse(limit, scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    REJECTIONS.labels("too_large").inc()
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            # Raised where no exception handler turned it into a response.
            if response_started:
                raise
            await _refuse(limit, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        {"detail": _too_large_message(limit)}, status_code=413, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

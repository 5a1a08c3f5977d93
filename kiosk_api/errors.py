"""Error responses: one JSON shape, a reason a person can act on, a counted rejection.

Every refusal has the body ``{"detail": ...}``; 422s list the offending fields as
FastAPI does (``loc``, ``msg``, ``type``: ``kioskpulse.validation``), whether pydantic or
our own checks found them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiosk_api.metrics import REJECTIONS, RejectionReason
from kioskpulse.validation import json_safe_errors

__all__ = ["ApiError", "EventRejected", "install_error_handlers"]


class ApiError(Exception):
    """A refusal with its status, counted reason and message."""

    def __init__(
        self,
        status: int,
        reason: RejectionReason,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.headers = status, reason, message, headers


class EventRejected(Exception):
    """Events that parse but are refused by the server's rules (scale, event time)."""

    def __init__(self, reason: RejectionReason, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid event(s)")
        self.reason, self.errors = reason, list(errors)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    REJECTIONS.labels(exc.reason).inc()
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)


async def _on_event_rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EventRejected)
    REJECTIONS.labels(exc.reason).inc()
    return JSONResponse({"detail": json_safe_errors(exc.errors)}, status_code=422)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    REJECTIONS.labels("validation").inc()
    return JSONResponse({"detail": json_safe_errors(exc.errors())}, status_code=422)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(EventRejected, _on_event_rejected)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)

"""Dependencies of the routes, as ``Annotated`` aliases.

A route needs exactly one: the authenticated device of its path, together with
the state of the API. One dependency rather than three (state, bearer header,
device) because FastAPI's dependency resolution is the largest cost of a small
request (measured in docs/benchmarks.md). They are ``async`` although they never
await: FastAPI runs plain functions in a thread pool, which costs more still.
The bearer scheme is declared in the OpenAPI schema by ``openapi.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Request

from kiosk_api.errors import ApiError
from kiosk_api.state import ApiState
from kioskpulse.devices import Device, UnknownToken, WrongDevice
from kioskpulse.http_auth import BEARER_CHALLENGE, bearer_token

__all__ = ["Caller", "CameraDep", "KioskDep", "StateDep", "api_state"]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated device and the API state its request works with."""

    device: Device
    state: ApiState


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.kioskpulse
    return state


async def _state(request: Request) -> ApiState:
    return api_state(request)


#: The API state, for routes that need no device (health, readiness).
StateDep = Annotated[ApiState, Depends(_state)]


def _authenticate(request: Request, device_id: str, kind: Literal["kiosk", "camera"]) -> Caller:
    """The device of the path, if the bearer token is its own; then its rate limit."""
    state = api_state(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ApiError(401, "unauthenticated", "missing bearer token", BEARER_CHALLENGE)
    try:
        device = state.registry.authenticate(device_id, token)
    except UnknownToken as exc:
        raise ApiError(401, "unauthenticated", str(exc), BEARER_CHALLENGE) from None
    except WrongDevice as exc:
        raise ApiError(403, "wrong_device", str(exc)) from None
    if device.kind != kind:
        raise ApiError(403, "wrong_device", f"{device_id} is a {device.kind}, not a {kind}")
    wait = state.limiter.acquire(device.id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {state.limiter.rate:g} requests/s for {device.id} exceeded",
            {"Retry-After": state.limiter.retry_after_header(wait)},
        )
    return Caller(device, state)


async def _kiosk(
    request: Request,
    kiosk_id: Annotated[str, Path(max_length=64, description="the kiosk's registered id")],
) -> Caller:
    return _authenticate(request, kiosk_id, "kiosk")


async def _camera(
    request: Request,
    camera_id: Annotated[str, Path(max_length=64, description="the camera's registered id")],
) -> Caller:
    return _authenticate(request, camera_id, "camera")


#: The authenticated kiosk of the path (401/403/429 otherwise).
KioskDep = Annotated[Caller, Depends(_kiosk)]
#: The authenticated camera of the path (401/403/429 otherwise).
CameraDep = Annotated[Caller, Depends(_camera)]

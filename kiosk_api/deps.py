"""Dependencies of the routes, as ``Annotated`` aliases.

They are ``async`` although they never await: FastAPI runs plain functions in a
thread pool, which costs more than the work they do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kiosk_api.errors import ApiError
from kiosk_api.state import ApiState
from kioskpulse.devices import Device, UnknownToken, WrongDevice

__all__ = ["CameraDep", "KioskDep", "StateDep"]

_bearer = HTTPBearer(auto_error=False, description="the device's own token")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.kioskpulse
    return state


StateDep = Annotated[ApiState, Depends(_state)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _authenticate(
    state: ApiState,
    credentials: HTTPAuthorizationCredentials | None,
    device_id: str,
    kind: Literal["kiosk", "camera"],
) -> Device:
    """The device of the path, if the bearer token is its own; then its rate limit."""
    if credentials is None:
        raise ApiError(401, "unauthenticated", "missing bearer token", _CHALLENGE)
    try:
        device = state.registry.authenticate(device_id, credentials.credentials)
    except UnknownToken as exc:
        raise ApiError(401, "unauthenticated", str(exc), _CHALLENGE) from None
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
    return device


async def _kiosk(
    state: StateDep,
    credentials: CredentialsDep,
    kiosk_id: Annotated[str, Path(max_length=64, description="the kiosk's registered id")],
) -> Device:
    return _authenticate(state, credentials, kiosk_id, "kiosk")


async def _camera(
    state: StateDep,
    credentials: CredentialsDep,
    camera_id: Annotated[str, Path(max_length=64, description="the camera's registered id")],
) -> Device:
    return _authenticate(state, credentials, camera_id, "camera")


#: The authenticated kiosk of the path (401/403/429 otherwise).
KioskDep = Annotated[Device, Depends(_kiosk)]
#: The authenticated camera of the path (401/403/429 otherwise).
CameraDep = Annotated[Device, Depends(_camera)]

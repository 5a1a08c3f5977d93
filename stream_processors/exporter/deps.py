"""Dependencies of the exporter's routes, as ``Annotated`` aliases (as in ``kiosk_api``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kioskpulse.devices import RegistryFile, UnknownToken
from kioskpulse.http_auth import BEARER_CHALLENGE, bearer_token
from stream_processors.exporter.state import ExporterState

__all__ = ["ExporterContext", "ExporterDep", "Operator", "OperatorDep"]


@dataclass(frozen=True, slots=True)
class ExporterContext:
    """What the routes work with: the exporter's state and the registry of operators."""

    exporter: ExporterState
    registry: RegistryFile


@dataclass(frozen=True, slots=True)
class Operator:
    """An authenticated operator and the context of their request."""

    name: str
    context: ExporterContext


def _context(request: Request) -> ExporterContext:
    context: ExporterContext = request.app.state.exporter
    return context


async def _exporter(request: Request) -> ExporterContext:
    return _context(request)


async def _operator(request: Request) -> Operator:
    context = _context(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise HTTPException(401, "missing bearer token (an operator token)", BEARER_CHALLENGE)
    try:
        name = context.registry.authenticate_operator(token)
    except UnknownToken as exc:
        raise HTTPException(401, str(exc), BEARER_CHALLENGE) from None
    return Operator(name, context)


#: The exporter's context, for routes open to anyone (health, metrics).
ExporterDep = Annotated[ExporterContext, Depends(_exporter)]
#: An authenticated operator (401 with a Bearer challenge otherwise).
OperatorDep = Annotated[Operator, Depends(_operator)]

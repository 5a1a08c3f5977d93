"""The read-only JSON API: stores and their window summaries (operator token required)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from stream_processors.exporter.deps import OperatorDep
from stream_processors.exporter.summary import StoreListing, StoreSummary, list_stores, summarise
from stream_processors.exporter.windows import WindowName

router = APIRouter(prefix="/v1/stores", tags=["stores"])

_UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown or revoked operator token"}
}


@router.get("", responses=_UNAUTHENTICATED)
async def stores(operator: OperatorDep) -> list[StoreListing]:
    """Every store with aggregates, and the kiosks and cameras seen there."""
    return list_stores(operator.context.exporter.windows)


@router.get(
    "/{store_id}/summary",
    responses={**_UNAUTHENTICATED, 404: {"description": "no aggregates of this store"}},
)
async def summary(
    operator: OperatorDep,
    store_id: Annotated[str, Path(max_length=64)],
    window: Annotated[WindowName, Query(description="15m, 1h or 24h")] = "1h",
) -> StoreSummary:
    """The store's figures over the window ending now."""
    exporter = operator.context.exporter
    if store_id not in exporter.windows:
        raise HTTPException(404, f"no aggregates of store {store_id}")
    return summarise(exporter.windows, store_id, window, exporter.clock())

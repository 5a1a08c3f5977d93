"""The display API (issue 16): a store's display labels, and label comparisons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from stream_processors.exporter.deps import OperatorDep
from stream_processors.exporter.display_report import (
    DisplayComparison,
    DisplayListing,
    UnknownDisplay,
    compare_displays,
    list_displays,
)
from stream_processors.exporter.windows import WindowName

router = APIRouter(prefix="/v1/stores/{store_id}/displays", tags=["displays"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown or revoked operator token"},
    404: {"description": "no aggregates of this store"},
}

StoreId = Annotated[str, Path(max_length=64)]
Window = Annotated[WindowName, Query(description="15m, 1h or 24h")]
Label = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("", responses=_ERRORS)
async def displays(
    operator: OperatorDep, store_id: StoreId, window: Window = "24h"
) -> list[DisplayListing]:
    """The store's display labels with watchers in the window, and their figures."""
    exporter = operator.context.exporter
    if store_id not in exporter.windows:
        raise HTTPException(404, f"no aggregates of store {store_id}")
    return list_displays(exporter.windows, store_id, window, exporter.clock())


@router.get(
    "/compare",
    responses={**_ERRORS, 404: {"description": "no such store, or a label without watchers"}},
)
async def compare(
    operator: OperatorDep,
    store_id: StoreId,
    a: Label,
    b: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="another label; left out: the floor"),
    ] = None,
    window: Window = "24h",
) -> DisplayComparison:
    """Display label ``a`` against ``b`` (or the store's floor cameras): differences,
    ratios and 95 % intervals of dwell, attention and interest share."""
    exporter = operator.context.exporter
    if store_id not in exporter.windows:
        raise HTTPException(404, f"no aggregates of store {store_id}")
    try:
        return compare_displays(exporter.windows, store_id, window, exporter.clock(), a, b)
    except UnknownDisplay as exc:
        raise HTTPException(404, str(exc)) from None

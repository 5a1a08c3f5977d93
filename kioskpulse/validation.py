"""The one shape of a validation error in a 4xx body: ``loc``, ``msg`` and ``type``.

Both HTTP APIs (kiosk API, exporter) answer a ``422`` with ``{"detail": [...]}``, one
item per offending field as FastAPI spells it. pydantic's errors carry more
(``input``, ``ctx`` with the raw exception, ``url``): what may not serialise, or
echoes a device's body back, is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ERROR_KEYS", "json_safe_errors"]

#: What a validation error in a response keeps, in this order.
ERROR_KEYS = ("loc", "msg", "type")


def json_safe_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``errors`` (pydantic's, or our own checks' of the same shape) trimmed to ``ERROR_KEYS``."""
    return [{key: error[key] for key in ERROR_KEYS if key in error} for error in errors]

"""The dashboards as the JSON files Grafana provisions: deterministic (sorted keys, two
spaces, a trailing newline), panel ids numbered in order, no dashboard id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from tools.dashboards import displays, fleet, pipeline, store_satisfaction

__all__ = ["DASHBOARDS", "DASHBOARDS_DIR", "render", "render_all"]

REPO = Path(__file__).resolve().parents[2]
#: Where the JSON files are committed; provisioning reads them from there
#: (deploy/grafana/provisioning/dashboards/kioskpulse.yaml).
DASHBOARDS_DIR = REPO / "deploy" / "grafana" / "dashboards"

#: File name → the function that builds that dashboard.
DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "store-satisfaction.json": store_satisfaction.build,
    "fleet.json": fleet.build,
    "pipeline.json": pipeline.build,
    "displays.json": displays.build,
}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def render(built: dashboard.Dashboard) -> str:
    """One dashboard as JSON text."""
    document: dict[str, Any] = json.loads(JSONEncoder().encode(built.build()))
    # Grafana assigns the dashboard's numeric id itself; a provisioned file has none.
    document.pop("id", None)
    # Panel ids must be unique within a dashboard: number every panel (rows too) in order.
    for number, panel in enumerate(_panels(document.get("panels", [])), start=1):
        panel["id"] = number
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}

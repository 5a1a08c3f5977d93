"""The operations tools the tests run (``make tools`` puts them in .tools/bin)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kioskpulse.monitoring import MonitoringUnavailable, find_tool

__all__ = ["REPO", "run_tool", "tool"]

REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The path of ``name`` (prometheus, promtool, alertmanager, amtool); fails clearly."""
    try:
        return str(find_tool(name))
    except MonitoringUnavailable as exc:
        raise AssertionError(str(exc)) from None


def run_tool(name: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root; its output as text, never raising on failure."""
    return subprocess.run(
        [tool(name), *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )

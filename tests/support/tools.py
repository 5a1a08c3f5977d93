"""The operations tools the tests run (``make tools`` puts them in .tools/bin)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["REPO", "run_tool", "tool"]

REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The path of ``name`` (prometheus, promtool, alertmanager, amtool); fails clearly."""
    found = REPO / ".tools" / "bin" / name
    if found.is_file():
        return str(found)
    on_path = shutil.which(name)
    assert on_path, f"{name} not found: run `make tools` (puts it in .tools/bin)"
    return on_path


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

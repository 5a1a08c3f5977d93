"""The real ``promtool`` (from PATH, else where ``make tools`` puts it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["REPO", "promtool_problems"]

REPO = Path(__file__).resolve().parents[2]


def promtool_problems(exposition: bytes) -> str:
    """What the real ``promtool check metrics`` says of an exposition ("" when clean)."""
    found = shutil.which("promtool") or str(REPO / ".tools/bin/promtool")
    assert Path(found).is_file(), "promtool not found: run `make tools` (puts it in .tools/bin)"
    result = subprocess.run(
        [found, "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
    )
    problems = (result.stdout + result.stderr).decode().strip()
    return problems if problems or result.returncode == 0 else f"exit {result.returncode}"

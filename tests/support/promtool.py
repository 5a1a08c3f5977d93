"""The real ``promtool check metrics`` on an exposition."""

from __future__ import annotations

from tests.support.tools import run_tool

__all__ = ["promtool_problems"]


def promtool_problems(exposition: bytes) -> str:
    """What the real ``promtool check metrics`` says of an exposition ("" when clean)."""
    result = run_tool("promtool", "check", "metrics", stdin=exposition)
    problems = (result.stdout + result.stderr).strip()
    return problems if problems or result.returncode == 0 else f"exit {result.returncode}"

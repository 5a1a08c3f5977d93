"""The fault suite's figures: one row per scenario, printed and written as Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Figures:
    fault: str
    fault_seconds: float
    requests: int
    responses: dict[int, int]
    presses: int
    observations: int
    counted_presses: float
    visitors: float
    recovery_seconds: float
    unready_polls: dict[str, int] = field(default_factory=dict)
    restarted_by_supervisor: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        restarts = self.restarted_by_supervisor
        return (
            f"\n[faults] {self.fault}: fault {self.fault_seconds:.1f} s, {self.requests} requests "
            f"{self.responses}, {self.presses} presses and {self.observations} observations "
            f"acknowledged, {self.counted_presses:g} presses and {self.visitors:g} visitors "
            f"counted, all ready {self.recovery_seconds:.1f} s after the fault ended "
            f"(not-ready polls: {self.unready_polls})"
            + (f", restarted by the supervisor: {restarts}" if restarts else "")
        )


#: The figures of this pytest run, printed in the terminal summary (tests/faults/conftest.py).
RUN: list[Figures] = []


def write_report(rows: list[Figures], path: Path) -> None:
    """A Markdown table of ``rows`` (for docs/reliability.md), written to ``path``."""
    if rows:
        path.write_text("\n".join(table(rows)) + "\n")


def table(rows: list[Figures]) -> list[str]:
    lines = [
        f"Fault suite run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| fault | fault lasted | requests | 202 / 503 | presses acked / counted "
        "| observations acked | visitors counted | all ready after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.fault} | {row.fault_seconds:.1f} s | {row.requests} "
            f"| {row.responses.get(202, 0)} / {row.responses.get(503, 0)} "
            f"| {row.presses} / {row.counted_presses:g} | {row.observations} "
            f"| {row.visitors:g} | {row.recovery_seconds:.1f} s |"
        )
    longest = max(row.recovery_seconds for row in rows)
    return [*lines, "", f"Longest recovery: {longest:.1f} s."]

"""What the benchmarks share: progress output, child processes, CPU time, run provenance."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    """Progress, to stderr (stdout is for the results)."""
    print(message, file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM if the benchmark dies (no orphans, even on SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None if it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command name start at field 3 (state): utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def code_version(paths: Sequence[str]) -> dict[str, Any]:
    """The commit measured, and uncommitted changes under ``paths`` (the code under test)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], capture_output=True, text=True, check=False, cwd=REPO, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        # rstrip: porcelain lines start with a meaningful space (" M file").
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", *paths)
    return {
        "commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


def machine_facts(packages: Sequence[str]) -> dict[str, Any]:
    """CPU, memory, kernel, Python and the versions of ``packages``."""
    model, mhz = "unknown", None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            if key.strip() == "cpu MHz" and mhz is None:
                mhz = float(value)
    memory = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        memory = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    versions = {}
    for package in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": sorted(os.sched_getaffinity(0)),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "memory_gib": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "load_average_at_start": os.getloadavg(),
    }


def write_results(benchmark: str, stamp: str, report: dict[str, Any]) -> Path:
    """Save a run's report as bench/results/<benchmark>-<stamp>.json (git-ignored)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def run_bench(script: str, work: Coroutine[Any, Any, int], setup_error: type[Exception]) -> int:
    """Run a benchmark's main coroutine: its exit status, 2 on ``setup_error``, 130 on Ctrl-C."""
    try:
        return asyncio.run(work)
    except setup_error as exc:
        say(f"bench/{script}: {exc}")
        return 2
    except KeyboardInterrupt:
        say(f"bench/{script}: interrupted")
        return 130

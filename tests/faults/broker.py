"""A Kafka broker of the fault suite's own, to stop, kill and restart at will.

Started with deploy/kafka/kafka.sh on free ports and a state directory of its own,
so the faults never touch the shared broker the other tests use; the jars are the
shared broker's (KAFKA_LIB_DIR), so no second download.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.kafka import KAFKA_SCRIPT, REPO
from tests.support.processes import free_port

#: Where `make test`'s broker keeps its jars (kafka.sh's default state directory).
SHARED_LIB = Path(
    os.environ.get("KAFKA_LIB_DIR")
    or Path(os.environ.get("KAFKA_STATE_DIR") or REPO / "deploy/kafka/.state") / "lib"
)


@dataclass
class PrivateBroker:
    state_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    #: (action, monotonic time when kafka.sh returned) for the figures.
    history: list[tuple[str, float]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str) -> None:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_STATE_DIR": str(self.state_dir),
            "KAFKA_LIB_DIR": str(SHARED_LIB),
            "KAFKA_HEAP_OPTS": "-Xmx384m -Xms128m",
        }
        result = subprocess.run(
            [str(KAFKA_SCRIPT), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, f"kafka.sh {action}: {result.stdout}{result.stderr}"
        self.history.append((action, time.monotonic()))

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        """SIGTERM: a controlled shutdown, as a rolling restart does."""
        self._run("stop")

    def kill(self) -> None:
        """SIGKILL: a crash; the restart then recovers the logs."""
        self._run("kill")

    def log_tail(self, lines: int = 40) -> str:
        log = self.state_dir / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

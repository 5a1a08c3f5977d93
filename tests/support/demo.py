"""`kioskpulse demo` as a subprocess on free ports, and the metric names its endpoints serve.

The demo runs the API, the vision stage, the store aggregator and the exporter in one
process on the in-process bus: the API's ``/metrics`` also carries the stages' metrics
(vision, aggregator, dead letters), the exporter's the per-store figures and its own.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import free_port, stop_process

__all__ = [
    "RunningDemo",
    "exposed_metric_names",
    "running_demo",
    "scrape",
    "wait_for_sample",
]

#: How long the demo may take to show its first per-store figure.
FIRST_FIGURES_TIMEOUT = 40.0


@dataclass(frozen=True)
class RunningDemo:
    api_url: str
    exporter_url: str
    process: subprocess.Popen[bytes]
    #: The demo's stdout and stderr (the registry and tokens are in .kioskpulse-demo/ beside it).
    log: Path
    #: The demo's Prometheus and Alertmanager (``running_demo(prometheus=True)``), else None.
    prometheus_url: str | None = None
    alertmanager_url: str | None = None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running_demo(
    directory: Path,
    *args: str,
    prometheus: bool = False,
    duration: float = 60,
    startup_timeout: float = 30,
) -> Iterator[RunningDemo]:
    """Start ``kioskpulse demo`` in ``directory`` (its ``.kioskpulse-demo/`` lands there, not
    in the repository) on free ports, wait until its servers answer, yield their URLs and
    stop it (SIGTERM, then SIGKILL) when the block ends.

    ``args`` are more demo options (``--no-history``, ``--rate 2``, ``--incident ...``).
    Without ``prometheus`` the demo runs no Prometheus and Alertmanager
    (``--no-prometheus``); with it they run on free ports too (``make tools`` provides
    them). ``duration`` bounds the process even if the test process dies."""
    ports = {name: free_port() for name in ("api", "exporter", "prometheus", "alertmanager")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    monitoring = (
        ["--prometheus-port", str(ports["prometheus"]),
         "--alertmanager-port", str(ports["alertmanager"])]
        if prometheus else ["--no-prometheus"]
    )  # fmt: skip
    log = directory / "demo.log"
    command = [
        sys.executable, "-m", "kioskpulse.cli", "demo", "--api-port", str(ports["api"]),
        "--exporter-port", str(ports["exporter"]), "--duration", str(duration),
        *monitoring, *args,
    ]  # fmt: skip
    with log.open("wb") as out:
        # A file, not a pipe: nobody reads the summaries it prints every two seconds.
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    demo = RunningDemo(
        urls["api"],
        urls["exporter"],
        process,
        log,
        urls["prometheus"] if prometheus else None,
        urls["alertmanager"] if prometheus else None,
    )
    try:
        ready = [f"{demo.api_url}/healthz", f"{demo.exporter_url}/healthz"]
        if prometheus:
            ready.append(f"{urls['prometheus']}/-/ready")
        _wait_until_ready(demo, ready, startup_timeout)
        yield demo
    finally:
        stop_process(process)


def _wait_until_ready(demo: RunningDemo, urls: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            assert demo.process.poll() is None, f"the demo exited:\n{demo.tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"{url} did not answer:\n{demo.tail()}"
            time.sleep(0.2)


def scrape(url: str) -> str:
    """The text of ``url``/metrics."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    return response.text


def wait_for_sample(demo: RunningDemo, name: str, timeout: float = FIRST_FIGURES_TIMEOUT) -> str:
    """Poll the exporter's /metrics until it has a sample of ``name``; returns that scrape."""
    deadline = time.monotonic() + timeout
    while True:
        assert demo.process.poll() is None, f"the demo exited:\n{demo.tail()}"
        with contextlib.suppress(httpx.HTTPError):
            text = scrape(demo.exporter_url)
            if name in _sample_names(text):
                return text
        assert time.monotonic() < deadline, (
            f"no {name} sample on {demo.exporter_url}/metrics after {timeout:.0f} s:\n{demo.tail()}"
        )
        time.sleep(0.5)


def _sample_names(exposition: str) -> set[str]:
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in exposition.splitlines()
        if line.strip() and not line.startswith("#")
    }


#: The series a family of each type exposes, from its ``# TYPE`` line.
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
}


def exposed_metric_names(exposition: str) -> set[str]:
    """Every series name a Prometheus scrape of ``exposition`` can give: the names of its
    sample lines, and those its ``# TYPE`` lines announce, so that a family with labels
    but no child yet (only HELP and TYPE lines) counts too. A counter is ``<name>_total``
    (prometheus_client writes the TYPE line without the suffix, the exporter's own
    writer with it), a histogram its ``_bucket``, ``_sum`` and ``_count``."""
    names = _sample_names(exposition)
    for line in exposition.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[:2] != ["#", "TYPE"]:
            continue
        family, kind = parts[2], parts[3]
        if kind == "counter":
            names.add(family if family.endswith("_total") else f"{family}_total")
        else:
            names.update(family + suffix for suffix in _SUFFIXES.get(kind, ("",)))
    return names

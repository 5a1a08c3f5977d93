"""The fault suite: real processes, a real broker, faults injected under load.

Every test here is marked ``kafka`` (it needs a broker) and ``faults``; ``make test``
runs them all. Faults are injected into a broker of the suite's own
(``private_broker``); the hostile-input tests use the shared one (the root
conftest's ``kafka_bootstrap`` and ``api``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.broker import PrivateBroker
from tests.faults.report import RUN, table

__all__ = ["private_broker"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/faults/" in str(item.path):
            item.add_marker(pytest.mark.kafka)
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's figures, whether or not output is captured."""
    if RUN:
        terminalreporter.write_sep("-", "fault suite figures (docs/reliability.md)")
        for line in table(RUN):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def private_broker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateBroker]:
    """A broker to stop and kill (``kafka_bootstrap``: the shared one has the jars)."""
    broker = PrivateBroker(tmp_path_factory.mktemp("private-broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()

"""The fault suite: real processes, a real broker, faults injected under load.

Every test here is marked ``kafka`` (it needs a broker) and ``faults``; ``make test``
runs them all. The integration fixtures (the shared broker, the API process) are
re-exported so the hostile-input tests can use them.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import api, kafka_bootstrap

__all__ = ["api", "kafka_bootstrap"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/faults/" in str(item.path):
            item.add_marker(pytest.mark.kafka)
            item.add_marker(pytest.mark.faults)

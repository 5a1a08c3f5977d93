"""Tests against the real local Kafka broker (deploy/kafka/kafka.sh): every test here is
marked ``kafka``. The broker and API fixtures are the root conftest's."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.kafka)

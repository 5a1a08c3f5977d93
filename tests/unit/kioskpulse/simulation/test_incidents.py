"""Incidents: parsing and what they change in a simulated run."""

from __future__ import annotations

import pytest

from kioskpulse.simulation.incidents import Incident, parse_incident, parse_seconds


def test_an_incident_reads_kind_target_start_and_duration() -> None:
    assert parse_incident("unhappy:store-2@3m+90s") == Incident("unhappy", "store-2", 180, 90)
    assert parse_incident("silent-kiosk:s1-k1@45").duration == 300, "5 minutes by default"
    assert parse_seconds("1.5h") == 5400


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("unhappy store-2", "KIND:TARGET@START"),
        ("grumpy:store-2@3m", "unknown incident 'grumpy'"),
        ("unhappy:store-2@soon", "not a duration"),
        ("unhappy:store-2@3m+0s", "longer than 0 s"),
    ],
)
def test_a_wrong_incident_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_incident(text)


def test_an_incident_is_active_from_its_start_for_its_duration() -> None:
    incident = Incident("unhappy", "s1", 60, 30)
    assert [incident.active(t) for t in (59.9, 60, 89.9, 90)] == [False, True, True, False]

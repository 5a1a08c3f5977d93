"""Incidents the simulator can play, so that alerts have something to fire on.

``KIND:TARGET@START[+DURATION]``, times as ``90s``, ``3m`` or ``1h`` after the live
start (not counting the simulated history), the duration 5 minutes unless given:

    unhappy:store-2@3m+5m          every visitor of store-2 at the worst level
    silent-kiosk:store-1-kiosk-1@2m   the kiosk sends nothing (off, offline)
    silent-camera:store-3-floor-1@1m  the camera sends nothing
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["DEFAULT_DURATION", "Incident", "IncidentKind", "parse_incident", "parse_seconds"]

IncidentKind = Literal["unhappy", "silent-kiosk", "silent-camera"]
KINDS: tuple[str, ...] = get_args(IncidentKind)
DEFAULT_DURATION = 300.0

_SPEC = re.compile(
    r"^(?P<kind>[a-z-]+):(?P<target>[^@\s]+)@(?P<start>[^+\s]+)(\+(?P<length>\S+))?$"
)
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_seconds(text: str) -> float:
    """``90s``, ``3m``, ``1.5h`` or a plain number of seconds; ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 3m, 1h)")
    return float(match.group(1)) * _SECONDS.get(match.group(2) or "s", 1)


@dataclass(frozen=True)
class Incident:
    kind: IncidentKind
    #: A store id (unhappy), a kiosk id (silent-kiosk) or a camera id (silent-camera).
    target: str
    #: Seconds after the live start.
    start: float
    duration: float = DEFAULT_DURATION

    def active(self, after_start: float) -> bool:
        return self.start <= after_start < self.start + self.duration

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}@{self.start:g}s+{self.duration:g}s"


def parse_incident(text: str) -> Incident:
    """An incident from ``KIND:TARGET@START[+DURATION]``; ValueError says what is wrong."""
    match = _SPEC.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not KIND:TARGET@START[+DURATION] (e.g. unhappy:store-2@3m)")
    kind = match.group("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown incident {kind!r}: one of {', '.join(KINDS)}")
    length = match.group("length")
    duration = DEFAULT_DURATION if length is None else parse_seconds(length)
    if duration <= 0:
        raise ValueError(f"the incident {text!r} must last longer than 0 s")
    target, start = match.group("target"), parse_seconds(match.group("start"))
    return Incident(kind, target, start, duration)  # type: ignore[arg-type]

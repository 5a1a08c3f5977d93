"""Display cameras in the simulator (issue 16): watchers of a display whose label changes
mid-run, with a known effect on dwell and interest.

Pure and seeded, like ``model``. A display's *schedule* is a sequence of labels, each
with its watchers' mean dwell and their chance of being interested; the camera shows
each label in turn for ``relabel_every`` seconds (the driver relabels the camera in
the registry at each change, as an operator would). A watcher's dwell is gamma
distributed (shape 2: many short looks, a few long ones) with the label's mean;
she is seen every ``SIGHTING_SECONDS`` from arrival to the end of her dwell, facing
the camera at each sighting with probability ``LOOK_PROBABILITY``; an interested
watcher's face reads as surprise, another's as neutral.

The default schedule's second label holds watchers 30 % longer and interests more of
them: the effect the comparison API must recover (docs/displays.md).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kioskpulse.events import EXPRESSIONS

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_WATCHER_RATE",
    "DisplayLabelEffect",
    "DisplayModel",
    "DisplayPlayer",
    "DisplaySighting",
    "Watcher",
]

#: Seconds between two sightings of a watcher (cameras post 1-2 frames a second).
SIGHTING_SECONDS = 1.0
#: The chance that a watcher faces the camera at one sighting.
LOOK_PROBABILITY = 0.8

_INTERESTED = tuple(0.83 if name == "surprise" else 0.17 / 6 for name in EXPRESSIONS)
_INDIFFERENT = tuple(0.83 if name == "neutral" else 0.17 / 6 for name in EXPRESSIONS)


@dataclass(frozen=True)
class DisplayLabelEffect:
    """What one label of a display does to its watchers."""

    label: str
    dwell_mean_seconds: float
    interest: float


#: "spring collection", then "summer collection" with +30 % dwell and more interest.
DEFAULT_SCHEDULE: tuple[DisplayLabelEffect, ...] = (
    DisplayLabelEffect("spring collection", 8.0, 0.50),
    DisplayLabelEffect("summer collection", 10.4, 0.70),
)


@dataclass(frozen=True)
class DisplaySighting:
    """One face of a watcher in one frame of the display camera."""

    at: float
    camera_id: str
    track_id: str
    probs: tuple[float, ...]
    bbox: tuple[int, int, int, int]
    frontal: bool


@dataclass(frozen=True)
class Watcher:
    number: int
    arrived_at: float
    label: str
    dwell: float
    interested: bool
    sightings: tuple[DisplaySighting, ...]


class DisplayModel:
    """The watchers of one display camera."""

    def __init__(
        self,
        camera_id: str,
        *,
        seed: int,
        run_id: str,
        schedule: Sequence[DisplayLabelEffect] = DEFAULT_SCHEDULE,
        relabel_every: float = 30.0,
    ) -> None:
        if not schedule:
            raise ValueError("a display needs at least one label")
        if relabel_every <= 0:
            raise ValueError("relabel_every must be positive")
        self.camera_id = camera_id
        self.schedule = tuple(schedule)
        self.relabel_every = relabel_every
        self.run_id = run_id
        digest = hashlib.sha256(f"{seed}/{camera_id}".encode()).digest()
        self._rng = random.Random(int.from_bytes(digest[:8], "big"))

    def effect_at(self, at: float) -> DisplayLabelEffect:
        """The label shown at ``at`` (seconds of the run): each in turn, round and round."""
        return self.schedule[int(at // self.relabel_every) % len(self.schedule)]

    def next_arrival(self, after: float, rate: float) -> float:
        return after + self._rng.expovariate(rate)

    def next_relabel(self, at: float) -> float:
        """When the label shown at ``at`` gives way to the next one."""
        return (at // self.relabel_every + 1) * self.relabel_every

    def watcher(
        self,
        number: int,
        arrived_at: float,
        effect: DisplayLabelEffect | None = None,
        *,
        until: float | None = None,
    ) -> Watcher:
        """A watcher arriving at ``arrived_at``, of ``effect`` (default: the label shown then).

        ``until``: no sighting from then on (the driver passes the next relabel, so that a
        watcher's every face is of one label: she walks off as the display changes)."""
        effect = effect or self.effect_at(arrived_at)
        rng = self._rng
        dwell = rng.gammavariate(2.0, effect.dwell_mean_seconds / 2.0)
        interested = rng.random() < effect.interest
        probs = _INTERESTED if interested else _INDIFFERENT
        track = f"sim-{self.run_id}-{self.camera_id}-w{number}"
        times = [
            arrived_at + k * SIGHTING_SECONDS for k in range(int(dwell // SIGHTING_SECONDS) + 1)
        ]
        if times[-1] < arrived_at + dwell:
            times.append(arrived_at + dwell)
        if until is not None:
            times = [at for at in times if at < until] or [arrived_at]
        side = rng.randrange(60, 120)
        sightings = tuple(
            DisplaySighting(
                at, self.camera_id, track, probs, (200, 150, side, round(side * 1.2)),
                rng.random() < LOOK_PROBABILITY,
            )
            for at in times
        )  # fmt: skip
        return Watcher(number, arrived_at, effect.label, dwell, interested, sightings)


#: Watchers arriving at a display camera per second, by default.
DEFAULT_WATCHER_RATE = 0.5


class DisplayPlayer:
    """The display cameras of a run: their watchers, and when each is relabelled.

    Watchers start at ``start`` (the live start: a history is posted at once, before any
    relabel could split it). With ``relabels``, each camera shows the schedule's labels
    in turn; without, it keeps the label the registry gives it, with the first label's
    effect."""

    def __init__(
        self,
        cameras: Sequence[tuple[str, str]],
        *,
        seed: int,
        run_id: str,
        start: float,
        rate: float = DEFAULT_WATCHER_RATE,
        relabels: bool = False,
        relabel_every: float = 120.0,
        schedule: Sequence[DisplayLabelEffect] = DEFAULT_SCHEDULE,
    ) -> None:
        """``cameras``: (camera id, its label in the registry now) of every display camera."""
        self.start = start
        self.rate = rate
        self.models: dict[str, DisplayModel] = {}
        #: The label each camera has in the registry (the API stamps it on its faces).
        self.shown: dict[str, str] = {}
        for camera_id, label in cameras:
            effects = schedule if relabels else [replace(schedule[0], label=label)]
            self.models[camera_id] = DisplayModel(
                camera_id, seed=seed, run_id=run_id, schedule=effects, relabel_every=relabel_every
            )
            self.shown[camera_id] = label
        self._numbers = itertools.count()
        self._next = {
            camera_id: model.next_arrival(start, rate) for camera_id, model in self.models.items()
        }

    def admit(self, now: float) -> list[DisplaySighting]:
        """The sightings of every watcher arriving by ``now`` (seconds of the run)."""
        found: list[DisplaySighting] = []
        for camera_id, model in self.models.items():
            while (at := self._next[camera_id]) <= now:
                until = self.start + model.next_relabel(at - self.start)
                watcher = model.watcher(
                    next(self._numbers), at, model.effect_at(at - self.start), until=until
                )
                found.extend(watcher.sightings)
                self._next[camera_id] = model.next_arrival(at, self.rate)
        return found

    def relabels_due(self, now: float) -> list[tuple[str, str]]:
        """(camera, new label) of the cameras whose label changes by ``now``; from then on
        they count as relabelled."""
        due = []
        for camera_id, model in self.models.items():
            label = model.effect_at(max(0.0, now - self.start)).label
            if label != self.shown[camera_id]:
                due.append((camera_id, label))
                self.shown[camera_id] = label
        return due

    def next_wakeup(self) -> float:
        return min(self._next.values(), default=float("inf"))

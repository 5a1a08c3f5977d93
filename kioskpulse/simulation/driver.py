"""Plays the visitors of ``model`` in real time, as kiosks and cameras posting to the API.

One loop admits arrivals, hands each visitor's presses, follow-up answers and camera
frames over when they are due, batches every camera's observations (one request per
camera every ``batch_every`` seconds), and sends each kiosk's heartbeat. Event times are the
planned times on the wall clock, so they are "now" when posted: the API refuses
times too far in the future, and the aggregator buckets by them.

With ``history``, the run starts that many seconds in the past: everything planned
before now is posted at once, as kiosks and cameras uploading what they held (presses
and answers in batches, as a kiosk flushes its offline buffer), then the run goes on
in real time.
``incidents`` (``incidents.py``) change what the devices do for a while: unhappy
visitors, a kiosk or a camera that falls silent.
Display cameras (``displays.py``) see watchers from the live start; with ``relabel``,
each is relabelled in the registry as its schedule says, its faces of the old label
all answered first and its new ones held until the API has read the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kioskpulse.events import MAX_BATCH
from kioskpulse.simulation.displays import DisplayPlayer, DisplaySighting
from kioskpulse.simulation.fleet import SimulatedStore
from kioskpulse.simulation.incidents import Incident
from kioskpulse.simulation.model import (
    ModelParameters,
    PlannedFollowup,
    PlannedObservation,
    PlannedPress,
    StoreModel,
)
from kioskpulse.simulation.posting import DevicePoster, DeviceRequest, EventKind, SimulatorStats
from kioskpulse.simulation.truth import StoreTruth

__all__ = ["Simulation", "simulate"]

_DRAIN_SECONDS = 10.0
#: After a relabel, how long a display camera's new faces wait: the API re-reads the
#: devices file at most every second (KIOSKPULSE_DEVICES_RELOAD_SECONDS).
RELABEL_GRACE_SECONDS = 1.5

_PATHS: dict[EventKind, str] = {
    "ratings": "/v1/kiosks/{}/ratings",
    "followups": "/v1/kiosks/{}/followups",
    "heartbeats": "/v1/kiosks/{}/heartbeat",
    "observations": "/v1/cameras/{}/observations",
}


Planned = PlannedPress | PlannedFollowup | PlannedObservation | DisplaySighting


@dataclass(frozen=True)
class _Device:
    store_id: str
    token: str


class Simulation:
    """The visitors of ``stores``, ``rate`` per second per store, and what the API made of them.

    ``stats`` and ``truth`` can be read at any time, during the run too.
    """

    def __init__(
        self,
        stores: Sequence[SimulatedStore],
        *,
        rate: float,
        seed: int = 1,
        parameters: ModelParameters | None = None,
        run_id: str | None = None,
        heartbeat_every: float = 10.0,
        batch_every: float = 0.5,
        max_in_flight: int = 32,
        retry_until_acknowledged: bool = False,
        history: float = 0.0,
        incidents: Sequence[Incident] = (),
        relabel: Callable[[str, str], None] | None = None,
        relabel_every: float = 120.0,
    ) -> None:
        """``relabel(camera, label)``: gives a display camera a new label in the registry
        (None: display cameras keep theirs); every ``relabel_every`` seconds.
        ``retry_until_acknowledged``: devices never give up a write (and ``stats`` keeps
        every acknowledged request); ``run`` then returns only once all are acknowledged.
        ``history``: seconds of the past posted at the start; ``incidents``: what goes
        wrong, and when (seconds after the live start)."""
        if not stores:
            raise ValueError("no stores to simulate")
        if rate <= 0:
            raise ValueError("the visitor rate must be positive")
        if history < 0:
            raise ValueError("the history cannot be negative")
        self.rate = rate
        self.seed = seed
        # Part of every event id and track id: a second run never repeats the first's.
        self.run_id = run_id or secrets.token_hex(4)
        self.models = {
            store.store_id: StoreModel(store, seed=seed, run_id=self.run_id, parameters=parameters)
            for store in stores
        }
        self.truth = {store_id: StoreTruth.of(model) for store_id, model in self.models.items()}
        self.stats = SimulatorStats(keep_acknowledged=retry_until_acknowledged)
        self._retry_until_acknowledged = retry_until_acknowledged
        self.started_at: datetime | None = None
        self.heartbeat_every = heartbeat_every
        self.batch_every = batch_every
        self._max_in_flight = max_in_flight
        #: Device id → its store and token, for every kiosk and camera simulated.
        self.devices: dict[str, _Device] = {}
        for store in stores:
            for kiosk in store.kiosks:
                self.devices[kiosk.kiosk_id] = _Device(store.store_id, kiosk.token)
            for camera in store.cameras:
                self.devices[camera.camera_id] = _Device(store.store_id, camera.token)
        self.history = history
        #: Set once every request of the history has been answered (at once without one).
        self.history_posted = asyncio.Event()
        self.relabel = relabel
        self.displays = DisplayPlayer(
            [
                (camera.camera_id, camera.display)
                for store in stores
                for camera in store.cameras
                if camera.display is not None
            ],
            seed=seed,
            run_id=self.run_id,
            start=history,
            relabels=relabel is not None,
            relabel_every=relabel_every,
        )
        self.incidents = tuple(incidents)
        for incident in self.incidents:
            known = self.models if incident.kind == "unhappy" else self.devices
            if incident.target not in known:
                raise ValueError(
                    f"incident {incident}: no simulated {incident.kind} target "
                    f"{incident.target!r} (one of {', '.join(sorted(known))})"
                )

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> SimulatorStats:
        """Post through ``client`` (its base URL is the API) until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        # Time 0 of the model is ``history`` seconds ago; the first step posts the past.
        started_wall = datetime.now(UTC) - timedelta(seconds=self.history)
        started_loop = loop.time() - self.history
        self.started_at = started_wall
        poster = DevicePoster(
            client,
            self.stats,
            max_in_flight=self._max_in_flight,
            max_attempts=None if self._retry_until_acknowledged else 5,
        )
        run = _Run(self, poster, started_wall)
        if self.history:
            run.upload_until(self.history)
            await poster.wait_for_launched()
        self.history_posted.set()
        while not stop.is_set():
            now = loop.time() - started_loop
            if self.relabel is not None and (due := self.displays.relabels_due(now)):
                await self._relabel(run, poster, due)
            run.step(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, run.next_wakeup() - now))
        run.flush_observations()  # what the cameras saw up to the stop still goes out
        await poster.drain(None if self._retry_until_acknowledged else _DRAIN_SECONDS)
        return self.stats

    async def _relabel(self, run: _Run, poster: DevicePoster, due: list[tuple[str, str]]) -> None:
        """Relabel display cameras once all their faces of the old label are answered."""
        assert self.relabel is not None
        run.flush_observations()
        await poster.wait_for_launched()
        for camera_id, label in due:
            await asyncio.to_thread(self.relabel, camera_id, label)
        await asyncio.sleep(RELABEL_GRACE_SECONDS)


class _Run:
    """The state of one run: the agenda of planned events and the cameras' outboxes."""

    def __init__(self, simulation: Simulation, poster: DevicePoster, started: datetime) -> None:
        self._simulation = simulation
        self._poster = poster
        self._started = started
        self._agenda: list[tuple[float, int, Planned]] = []
        self._order = itertools.count()  # breaks ties in the heap: events do not compare
        self._outboxes: dict[str, list[PlannedObservation | DisplaySighting]] = {}
        #: Presses and answers held by their kiosk while the history is uploaded, by
        #: kiosk and kind (None: live).
        self._held: dict[tuple[str, EventKind], list[dict[str, Any]]] | None = None
        models = simulation.models.items()
        self._next_arrival = {
            store_id: model.next_arrival(0.0, simulation.rate) for store_id, model in models
        }
        self._next_flush = simulation.batch_every
        self._next_heartbeat = 0.0

    def step(self, now: float) -> None:
        """Do everything due by ``now`` (seconds since the start)."""
        self._admit_arrivals(now)
        for sighting in self._simulation.displays.admit(now):
            heapq.heappush(self._agenda, (sighting.at, next(self._order), sighting))
        while self._agenda and self._agenda[0][0] <= now:
            _, _, event = heapq.heappop(self._agenda)
            if isinstance(event, PlannedPress):
                self._post_press(event)
            elif isinstance(event, PlannedFollowup):
                self._post_followup(event)
            else:
                self._outboxes.setdefault(event.camera_id, []).append(event)
        if now >= self._next_heartbeat:
            self._post_heartbeats(now)
            self._next_heartbeat = now + self._simulation.heartbeat_every
        if now >= self._next_flush:
            self.flush_observations()
            self._next_flush = now + self._simulation.batch_every

    def upload_until(self, now: float) -> None:
        """Post everything due by ``now`` at once, each kiosk's presses and answers in batches."""
        self._held = {}
        self.step(now)
        held, self._held = self._held, None
        for (kiosk_id, kind), bodies in held.items():
            for start in range(0, len(bodies), MAX_BATCH):
                chunk = bodies[start : start + MAX_BATCH]
                # A batch's key is its kind: {"ratings": [...]}, {"followups": [...]}.
                self._post(kiosk_id, kind, {kind: chunk}, events=len(chunk))

    def next_wakeup(self) -> float:
        due = [
            *self._next_arrival.values(),
            self._next_flush,
            self._next_heartbeat,
            self._simulation.displays.next_wakeup(),
        ]
        if self._agenda:
            due.append(self._agenda[0][0])
        return min(due)

    def flush_observations(self) -> None:
        for camera_id, planned in self._outboxes.items():
            # A silent camera's observations are lost with it.
            observations = [
                o for o in planned if not self._incident("silent-camera", camera_id, o.at)
            ]
            for start in range(0, len(observations), MAX_BATCH):
                chunk = observations[start : start + MAX_BATCH]
                body = {"observations": [self._observation_body(o) for o in chunk]}
                self._post(camera_id, "observations", body, events=len(chunk))
        self._outboxes.clear()

    # ----------------------------------------------------------------- inside

    def _incident(self, kind: str, target: str, at: float) -> bool:
        """Whether an incident of ``kind`` on ``target`` is under way at model time ``at``."""
        after_start = at - self._simulation.history
        return any(
            incident.kind == kind and incident.target == target and incident.active(after_start)
            for incident in self._simulation.incidents
        )

    def _admit_arrivals(self, now: float) -> None:
        simulation = self._simulation
        for store_id, model in simulation.models.items():
            while self._next_arrival[store_id] <= now:
                at = self._next_arrival[store_id]
                unhappy = self._incident("unhappy", store_id, at)
                visitor = model.visitor(at, level=1 if unhappy else None)
                simulation.truth[store_id].record_visitor(visitor)
                events: list[Planned] = [*visitor.observations]
                if visitor.press is not None:
                    events.append(visitor.press)
                if visitor.followup is not None:
                    events.append(visitor.followup)
                for event in events:
                    heapq.heappush(self._agenda, (event.at, next(self._order), event))
                self._next_arrival[store_id] = model.next_arrival(
                    self._next_arrival[store_id], simulation.rate
                )

    def _post_press(self, press: PlannedPress) -> None:
        if self._incident("silent-kiosk", press.kiosk_id, press.at):
            return  # the kiosk is off: the press never happened
        body = {
            "event_id": press.event_id,
            "rating": press.rating,
            "pressed_at": self._wall(press.at),
        }
        self._post_or_hold(press.kiosk_id, "ratings", body)
        store_id = self._simulation.devices[press.kiosk_id].store_id
        self._simulation.truth[store_id].record_press(press)

    def _post_followup(self, followup: PlannedFollowup) -> None:
        # Only a press that was made is answered, and only while its kiosk is on.
        if any(
            self._incident("silent-kiosk", followup.kiosk_id, at)
            for at in (followup.press.at, followup.at)
        ):
            return
        body = {
            "event_id": followup.event_id,
            "rating_event_id": followup.press.event_id,
            "reason": followup.reason,
            "answered_at": self._wall(followup.at),
        }
        self._post_or_hold(followup.kiosk_id, "followups", body)

    def _post_or_hold(self, kiosk_id: str, kind: EventKind, body: dict[str, Any]) -> None:
        """Post a kiosk's event now, or hold it for the history's batches."""
        if self._held is not None:
            self._held.setdefault((kiosk_id, kind), []).append(body)
        else:
            self._post(kiosk_id, kind, body)

    def _post_heartbeats(self, at: float) -> None:
        now = datetime.now(UTC).isoformat()
        for model in self._simulation.models.values():
            for kiosk in model.store.kiosks:
                if not self._incident("silent-kiosk", kiosk.kiosk_id, at):
                    self._post(kiosk.kiosk_id, "heartbeats", {"sent_at": now, "buffered": 0})

    def _observation_body(
        self, observation: PlannedObservation | DisplaySighting
    ) -> dict[str, Any]:
        x, y, w, h = observation.bbox
        body: dict[str, Any] = {
            "track_id": observation.track_id,
            "captured_at": self._wall(observation.at),
            "probs": list(observation.probs),
            "bbox": {"x": x, "y": y, "w": w, "h": h},
        }
        if isinstance(observation, DisplaySighting):
            body["frontal"] = observation.frontal
        return body

    def _post(self, device_id: str, kind: EventKind, body: dict[str, Any], events: int = 1) -> None:
        device = self._simulation.devices[device_id]
        self._poster.launch(
            DeviceRequest(
                store_id=device.store_id,
                kind=kind,
                path=_PATHS[kind].format(device_id),
                token=device.token,
                body=body,
                events=events,
            )
        )

    def _wall(self, at: float) -> str:
        return (self._started + timedelta(seconds=at)).isoformat()


async def simulate(
    api_url: str,
    stores: Sequence[SimulatedStore],
    *,
    rate: float,
    stop: asyncio.Event,
    seed: int = 1,
    parameters: ModelParameters | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    history: float = 0.0,
    incidents: Sequence[Incident] = (),
) -> Simulation:
    """Simulate ``stores`` against the API at ``api_url`` until ``stop`` is set.

    Returns the finished simulation: its ``stats`` and per-store ``truth``.
    """
    simulation = Simulation(
        stores, rate=rate, seed=seed, parameters=parameters, history=history, incidents=incidents
    )
    async with httpx.AsyncClient(base_url=api_url, transport=transport, timeout=10.0) as client:
        await simulation.run(client, stop)
    return simulation

"""A simulated store with NPS kiosks, played by the simulator's model and summed as the
aggregator would (without the API or Kafka): the truth beside the window's sums."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kioskpulse.events import TRIANGLE, level_of
from kioskpulse.simulation.fleet import SimulatedCamera, SimulatedKiosk, SimulatedStore
from kioskpulse.simulation.model import ModelParameters, StoreModel
from kioskpulse.simulation.truth import StoreTruth
from stream_processors.statistics import E, ScaleSums, Statistics

__all__ = ["nps_store", "simulated_window"]

_ROWS, _COLUMNS = (np.array(axis) for axis in zip(*TRIANGLE, strict=True))
#: The aggregator reads no expression from a face narrower than this (the default).
_READABLE_PX = 24


def nps_store(store_id: str, scales: Sequence[int] = (11, 11)) -> SimulatedStore:
    """A store with kiosks of ``scales``, a camera facing each, and a floor camera."""
    kiosks = tuple(
        SimulatedKiosk(f"{store_id}-k{i}", store_id, scale, "") for i, scale in enumerate(scales)
    )
    cameras = (
        SimulatedCamera(f"{store_id}-floor", store_id, "floor", ""),
        *(SimulatedCamera(f"{k.kiosk_id}-cam", store_id, "kiosk", "", k.kiosk_id) for k in kiosks),
    )
    return SimulatedStore(store_id, kiosks, cameras)


def simulated_window(
    store: SimulatedStore,
    visitors: int,
    *,
    seed: int,
    theta: Sequence[float] | None = None,
    parameters: ModelParameters | None = None,
    rate: float = 1.0,
) -> tuple[StoreTruth, Statistics]:
    """``visitors`` of the store's model, ``rate`` a second, as one window's sums: each floor
    track one visitor (its mean expression, where its faces were wide enough to read), each
    press linked to the mean of its kiosk camera's faces around it; with the run's truth."""
    model = StoreModel(store, seed=seed, run_id=f"nps-{seed}", parameters=parameters, theta=theta)
    truth = StoreTruth.of(model)
    scales = {kiosk.kiosk_id: kiosk.scale for kiosk in store.kiosks}
    sums = {scale: ScaleSums.zero(scale) for scale in set(scales.values())}
    visitor_sums, visitor_squares, read = np.zeros(E), np.zeros(len(TRIANGLE)), [0] * E
    at = 0.0
    for _ in range(visitors):
        at = model.next_arrival(at, rate)
        visitor = model.visitor(at)
        truth.record_visitor(visitor)
        floor = [
            o.probs
            for o in visitor.observations
            if o.camera_id.endswith("-floor") and o.bbox[2] >= _READABLE_PX
        ]
        if floor:
            mean = np.mean(floor, axis=0)
            visitor_sums += mean
            visitor_squares += mean[_ROWS] * mean[_COLUMNS]
            read[int(np.argmax(mean))] += 1
        press = visitor.press
        if press is None:
            continue
        truth.record_press(press)
        scale_sums = sums[scales[press.kiosk_id]]
        level = level_of(press.rating, scale_sums.scale)
        scale_sums.presses[level] += 1
        faces = [o.probs for o in visitor.observations if o.camera_id == f"{press.kiosk_id}-cam"]
        if faces:
            link = np.mean(faces, axis=0)
            scale_sums.linked_presses[level] += 1
            scale_sums.linked_prob_sums[level] = list(scale_sums.linked_prob_sums[level] + link)
            scale_sums.linked_prob_sq_sums[level] = list(
                scale_sums.linked_prob_sq_sums[level] + link[_ROWS] * link[_COLUMNS]
            )
    return truth, Statistics(
        ratings=sums,
        visitors=visitors,
        visitor_prob_sums=visitor_sums.tolist(),
        visitor_prob_sq_sums=visitor_squares.tolist(),
        expression_counts=read,
    )

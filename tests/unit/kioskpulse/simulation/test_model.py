"""The ground-truth model: seeded, valid distributions, the configured bias, cameras that see."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
import pytest

from kioskpulse.events import EXPRESSIONS, ObservationSubmission
from kioskpulse.simulation.fleet import SimulatedCamera, SimulatedKiosk, SimulatedStore
from kioskpulse.simulation.model import (
    ModelParameters,
    StoreModel,
    Visitor,
    floor_view,
    happy_index,
    level_profiles,
    map_level,
    press_propensities,
    theta_for_scale,
)


def store(
    store_id: str = "s1", *, kiosks: int = 2, scale: int = 4, cameras: bool = True
) -> SimulatedStore:
    """Kiosks k1..kN; with cameras: one floor camera and one camera facing k1."""
    kiosk_list = tuple(
        SimulatedKiosk(f"{store_id}-k{n}", store_id, scale, "token") for n in range(1, kiosks + 1)
    )
    camera_list = (
        (
            SimulatedCamera(f"{store_id}-floor", store_id, "floor", "token"),
            SimulatedCamera(f"{store_id}-cam-k1", store_id, "kiosk", "token", f"{store_id}-k1"),
        )
        if cameras
        else ()
    )
    return SimulatedStore(store_id, kiosk_list, camera_list)


def visitors(model: StoreModel, count: int, every: float = 20.0) -> list[Visitor]:
    """``count`` visitors arriving ``every`` seconds apart (20 s: kiosks always free)."""
    return [model.visitor(number * every) for number in range(count)]


# --------------------------------------------------------------------------- the truth


def test_the_same_seed_and_run_id_give_the_same_visitors() -> None:
    first = StoreModel(store(), seed=7, run_id="r1")
    second = StoreModel(store(), seed=7, run_id="r1")
    assert first.theta == second.theta
    assert visitors(first, 50) == visitors(second, 50)


def test_another_seed_gives_another_truth_and_another_run_other_ids() -> None:
    base = StoreModel(store(), seed=7, run_id="r1")
    assert StoreModel(store(), seed=8, run_id="r1").theta != base.theta
    rerun = StoreModel(store(), seed=7, run_id="r2")
    assert rerun.theta == base.theta, "the seed alone fixes the truth"
    [a], [b] = visitors(base, 1), visitors(rerun, 1)
    assert {o.track_id for o in a.observations}.isdisjoint(o.track_id for o in b.observations)
    pairs = zip(visitors(base, 200), visitors(rerun, 200), strict=True)
    presses = [(v.press, w.press) for v, w in pairs if v.press and w.press]
    assert presses, "the same visitors press in both runs"
    assert all(p.event_id != q.event_id for p, q in presses)


@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_theta_is_a_distribution_over_the_stores_scale_and_differs_per_store(scale: int) -> None:
    models = [StoreModel(store(f"s{n}", scale=scale), seed=1, run_id="r") for n in range(5)]
    for model in models:
        assert model.scale == len(model.theta) == scale
        assert math.isclose(sum(model.theta), 1.0)
        assert min(model.theta) > 0.1 / scale - 1e-12, "every level keeps some visitors"
        assert 0 <= model.happy_index <= 100
    assert len({model.theta for model in models}) == len(models)


def test_a_store_takes_the_scale_of_its_largest_kiosk_and_maps_presses_to_each_kiosk() -> None:
    mixed = SimulatedStore(
        "s1", (SimulatedKiosk("four", "s1", 4, "t"), SimulatedKiosk("five", "s1", 5, "t"))
    )
    model = StoreModel(mixed, seed=1, run_id="r", parameters=ModelParameters(patience=1e9))
    assert model.scale == 5
    for visitor in visitors(model, 300):
        if visitor.press is not None:
            kiosk_scale = 4 if visitor.press.kiosk_id == "four" else 5
            assert visitor.press.rating == map_level(visitor.level, 5, kiosk_scale)


def test_happy_index_and_level_mapping() -> None:
    assert happy_index([0.25, 0.25, 0.25, 0.25]) == pytest.approx(50.0)
    assert happy_index([0, 0, 0, 1]) == pytest.approx(100.0)
    assert happy_index([1, 0, 0, 0, 0]) == 0.0
    assert [map_level(level, 5, 4) for level in range(1, 6)] == [1, 2, 3, 3, 4]
    assert [map_level(level, 4, 4) for level in range(1, 5)] == [1, 2, 3, 4]
    theta = (0.1, 0.2, 0.3, 0.25, 0.15)
    assert sum(theta_for_scale(theta, 3)) == pytest.approx(1.0)


def test_a_given_theta_is_used_and_checked() -> None:
    model = StoreModel(store(), seed=1, run_id="r", theta=[0.4, 0.3, 0.2, 0.1])
    assert model.theta == (0.4, 0.3, 0.2, 0.1)
    with pytest.raises(ValueError, match="distribution over 4 levels"):
        StoreModel(store(), seed=1, run_id="r", theta=[0.5, 0.5])


@pytest.mark.parametrize(
    "changes",
    [
        {"propensity_ratio": 0},
        {"max_press_probability": 1.5},
        {"floor_frames": (4, 3)},
        {"press_delay": (-1.0, 2.0)},
        {"frame_concentration": 0},
        {"followup_answer_probability": 1.1},
        {"followup_delay": (3.0, 1.0)},
        {"floor_shift": -0.1},
        {"floor_shift": 1.5},
    ],
)
def test_parameters_refuse_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message names the parameter, any of them)
        ModelParameters(**changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- who presses


@pytest.mark.parametrize("ratio", [3.0, 1 / 3])
def test_the_press_rate_ratio_of_lowest_to_highest_level_is_the_configured_one(
    ratio: float,
) -> None:
    parameters = ModelParameters(propensity_ratio=ratio)
    model = StoreModel(
        store(cameras=False), seed=3, run_id="r", parameters=parameters, theta=[0.25] * 4
    )
    seen: Counter[int] = Counter()
    pressed: Counter[int] = Counter()
    for visitor in visitors(model, 40_000):
        seen[visitor.level] += 1
        pressed[visitor.level] += visitor.press is not None
        assert visitor.press is None or visitor.press.rating == visitor.level
    rate = {level: pressed[level] / seen[level] for level in seen}
    assert rate[1] / rate[4] == pytest.approx(ratio, rel=0.12)
    assert max(rate.values()) == pytest.approx(parameters.max_press_probability, rel=0.1)


def test_propensities_are_linear_and_valid_both_ways() -> None:
    assert press_propensities(4, 3.0, 0.3) == pytest.approx((0.3, 0.2333, 0.1667, 0.1), abs=1e-3)
    assert press_propensities(4, 1 / 3, 0.3) == pytest.approx((0.1, 0.1667, 0.2333, 0.3), abs=1e-3)
    assert press_propensities(5, 1.0, 0.3) == pytest.approx((0.3,) * 5)


def test_presses_on_one_kiosk_keep_the_misuse_interval_and_crowds_give_up_visibly() -> None:
    parameters = ModelParameters(max_press_probability=1.0, patience=3.0)
    model = StoreModel(store(cameras=False), seed=1, run_id="r", parameters=parameters)
    crowd = visitors(model, 500, every=0.5)  # far more pressers than two kiosks can take
    by_kiosk: defaultdict[str, list[float]] = defaultdict(list)
    for visitor in crowd:
        if visitor.press is not None:
            by_kiosk[visitor.press.kiosk_id].append(visitor.press.at)
    assert set(by_kiosk) == {"s1-k1", "s1-k2"}, "the crowd spreads over both kiosks"
    for times in by_kiosk.values():
        gaps = np.diff(sorted(times))
        assert gaps.min() >= parameters.misuse_interval
    assert sum(visitor.gave_up_pressing for visitor in crowd) > 0


# --------------------------------------------------------------------------- follow-ups

REASONS = ("queue", "staff", "price")


def asking(store_id: str = "s1", *, level: int = 2) -> SimulatedStore:
    """One 4-button kiosk that asks why after a press of ``level`` or below."""
    kiosk = SimulatedKiosk(f"{store_id}-k1", store_id, 4, "token", level, REASONS)
    return SimulatedStore(store_id, (kiosk,))


def test_unhappy_pressers_answer_some_of_the_time_with_the_kiosks_reasons() -> None:
    parameters = ModelParameters(max_press_probability=1.0)
    model = StoreModel(asking(), seed=4, run_id="r", parameters=parameters, theta=[0.25] * 4)
    asked, answered = 0, []
    for visitor in visitors(model, 4000):
        press, answer = visitor.press, visitor.followup
        if press is None or press.rating > 2:
            assert answer is None, "only an unhappy press is asked why"
            continue
        asked += 1
        if answer is not None:
            answered.append(answer)
            assert answer.press == press
            assert answer.kiosk_id == press.kiosk_id
            low, high = parameters.followup_delay
            assert press.at + low <= answer.at <= press.at + high
    assert len(answered) / asked == pytest.approx(parameters.followup_answer_probability, abs=0.05)
    assert {answer.reason for answer in answered} == set(REASONS)
    assert len({answer.event_id for answer in answered}) == len(answered)
    assert not {answer.event_id for answer in answered} & {a.press.event_id for a in answered}


def test_follow_ups_change_nothing_else_a_seed_gives() -> None:
    never = StoreModel(asking(level=0), seed=5, run_id="r")
    often = StoreModel(asking(level=4), seed=5, run_id="r")
    without, with_answers = visitors(never, 200), visitors(often, 200)
    assert all(visitor.followup is None for visitor in without)
    assert any(visitor.followup is not None for visitor in with_answers)
    strip = [replace(visitor, followup=None) for visitor in with_answers]
    assert strip == without


# --------------------------------------------------------------------------- what cameras see


def test_the_floor_camera_sees_every_visitor_as_one_track_of_a_few_frames() -> None:
    model = StoreModel(store(), seed=2, run_id="r")
    tracks = set()
    for visitor in visitors(model, 300):
        floor = [o for o in visitor.observations if o.camera_id == "s1-floor"]
        low, high = model.parameters.floor_frames
        assert low <= len(floor) <= high
        [track_id] = {o.track_id for o in floor}
        assert track_id.startswith("sim-r-")
        assert len(track_id) <= 64
        tracks.add(track_id)
        times = [o.at for o in floor]
        assert np.diff(times) == pytest.approx([model.parameters.frame_interval] * (len(times) - 1))
        assert visitor.arrived_at <= times[0] <= visitor.arrived_at + 1.0
    assert len(tracks) == 300, "a track per visitor"


def test_the_kiosk_camera_sees_every_press_on_its_kiosk_and_no_other() -> None:
    model = StoreModel(store(), seed=4, run_id="r")
    presses_on_k1 = 0
    for visitor in visitors(model, 600):
        facing = [o for o in visitor.observations if o.camera_id == "s1-cam-k1"]
        floor_width = next(o.bbox[2] for o in visitor.observations if o.camera_id == "s1-floor")
        if visitor.press is None or visitor.press.kiosk_id != "s1-k1":
            assert facing == []
            continue
        presses_on_k1 += 1
        assert 2 <= len(facing) <= 4
        assert len({o.track_id for o in facing}) == 1
        for observation in facing:
            assert visitor.press.at - 2.0 <= observation.at <= visitor.press.at + 0.5
            assert observation.bbox[2] > floor_width, "faces at the kiosk look larger"
    assert presses_on_k1 > 20


def test_every_observation_is_a_valid_submission() -> None:
    model = StoreModel(store(), seed=5, run_id="r")
    for visitor in visitors(model, 200):
        assert math.isclose(sum(visitor.expression), 1.0)
        for observation in visitor.observations:
            assert len(observation.probs) == len(EXPRESSIONS)
            assert min(observation.probs) >= 0
            assert sum(observation.probs) == pytest.approx(1.0, abs=1e-4)
            x, y, w, h = observation.bbox
            ObservationSubmission.model_validate(
                {
                    "track_id": observation.track_id,
                    "captured_at": "2026-01-01T00:00:00+00:00",
                    "probs": list(observation.probs),
                    "bbox": {"x": x, "y": y, "w": w, "h": h},
                }
            )


def test_expressions_predict_the_level_imperfectly_through_a_well_conditioned_matrix() -> None:
    for scale in range(2, 6):
        assert np.linalg.cond(level_profiles(scale).T) < 10
    model = StoreModel(store(cameras=False), seed=6, run_id="r", theta=[0.25] * 4)
    crowd = visitors(model, 4000)
    levels = np.array([v.level for v in crowd])
    expressions = np.array([v.expression for v in crowd])
    confusion = np.stack([expressions[levels == s].mean(axis=0) for s in range(1, 5)], axis=1)
    assert np.linalg.cond(confusion) < 20
    nearest = np.argmin(
        ((expressions[:, None, :] - level_profiles(4)[None]) ** 2).sum(axis=2), axis=1
    )
    accuracy = float(np.mean(nearest + 1 == levels))
    assert 0.5 < accuracy < 0.95, "a useful but imperfect predictor of the level"


# --------------------------------------------------------------------------- floor view (issue 14)


def test_an_unshifted_floor_reads_faces_exactly_as_before() -> None:
    expression = (0.1, 0.05, 0.05, 0.4, 0.1, 0.1, 0.2)
    assert floor_view(expression, 0.0, (1 / 7,) * 7) == expression
    explicit = StoreModel(store(), seed=7, run_id="r1", parameters=ModelParameters(floor_shift=0.0))
    default = StoreModel(store(), seed=7, run_id="r1")
    crowd = visitors(default, 300)
    assert visitors(explicit, 300) == crowd
    # Recorded before the floor view existed: the first floor frame of seed 7, so that
    # the view (or anything else) cannot change the draws of existing seeds unnoticed.
    first = next(o for o in crowd[0].observations if o.camera_id == "s1-floor")
    assert first.probs == (0.003841, 0.0073, 0.156158, 0.28017, 0.001292, 0.388027, 0.163212)


def test_the_floor_view_blurs_faces_towards_neutral_and_the_store_mean() -> None:
    profiles = level_profiles(4)
    mean = profiles.mean(axis=0)
    neutral = EXPRESSIONS.index("neutral")

    def entropy(p: np.ndarray) -> float:
        return float(-(p * np.log(p)).sum())

    for face in profiles:
        distances = [float(np.abs(face - mean).sum())]
        for shift in (0.25, 0.5, 1.0):
            seen = np.array(floor_view(tuple(face), shift, tuple(mean)))
            assert len(seen) == len(EXPRESSIONS)
            assert seen.min() > 0
            assert math.isclose(seen.sum(), 1.0)
            assert entropy(seen) > entropy(face), "flatter: the classifier is less sure"
            if face[neutral] < mean[neutral]:
                assert seen[neutral] > face[neutral]
            distances.append(float(np.abs(seen - mean).sum()))
        assert distances == sorted(distances, reverse=True), "closer to the mean as s grows"


def test_a_shifted_floor_camera_reads_through_the_view_and_the_kiosk_camera_does_not() -> None:
    model = StoreModel(store(), seed=3, run_id="r", parameters=ModelParameters(floor_shift=0.75))
    floor_frames, floor_seen, kiosk_frames, kiosk_faces = [], [], [], []
    for visitor in visitors(model, 1500):
        seen = floor_view(visitor.expression, 0.75, model.mean_expression)
        for observation in visitor.observations:
            assert min(observation.probs) >= 0
            assert sum(observation.probs) == pytest.approx(1.0, abs=1e-4)
            if observation.camera_id == "s1-floor":
                floor_frames.append(observation.probs)
                floor_seen.append(seen)
            else:
                kiosk_frames.append(observation.probs)
                kiosk_faces.append(visitor.expression)
    assert len(kiosk_frames) > 300
    # Per-frame noise is drawn around the view on the floor, around the face at the kiosk.
    assert np.mean(floor_frames, axis=0) == pytest.approx(np.mean(floor_seen, axis=0), abs=0.005)
    assert np.mean(kiosk_frames, axis=0) == pytest.approx(np.mean(kiosk_faces, axis=0), abs=0.01)
    assert np.abs(np.mean(floor_seen, axis=0) - np.mean(kiosk_faces, axis=0)).max() > 0.02


def test_a_floor_shift_outside_0_1_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"floor_shift must be in \[0, 1\], not 1.2"):
        ModelParameters(floor_shift=1.2)


# --------------------------------------------------------------------------- issue 14's samples


def test_at_an_exit_kiosk_its_camera_sees_every_visitor_who_does_not_press() -> None:
    parameters = ModelParameters(kiosk_passers=1.0)
    crowd = visitors(StoreModel(store(kiosks=1), seed=4, run_id="r", parameters=parameters), 200)
    for visitor in crowd:
        kiosk_tracks = {o.track_id for o in visitor.observations if o.camera_id == "s1-cam-k1"}
        assert len(kiosk_tracks) == 1, "a presser's kiosk track, or a passer-by's"
        if visitor.press is None:  # frontal: the face as it is, not the floor's view
            faces = [o for o in visitor.observations if o.camera_id == "s1-cam-k1"]
            assert len(faces) >= 2
    # By default nobody passes: the seeds of every earlier study draw what they drew.
    default = visitors(StoreModel(store(kiosks=1), seed=4, run_id="r"), 50)
    assert all(
        v.press is not None or all(o.camera_id == "s1-floor" for o in v.observations)
        for v in default
    )


def test_a_floor_camera_with_a_kiosk_zone_sees_each_presser_in_it_at_the_press() -> None:
    zone = (800, 400, 320, 320)
    plain = store(kiosks=1)
    floor = replace(plain.cameras[0], zone=("s1-k1", zone))
    zoned = replace(plain, cameras=(floor, *plain.cameras[1:]))
    assert floor.role == "floor"
    crowd = visitors(StoreModel(zoned, seed=6, run_id="r"), 200)
    pressers = [v for v in crowd if v.press is not None]
    assert pressers
    for visitor in pressers:
        assert visitor.press is not None
        sightings = [o for o in visitor.observations if o.camera_id == "s1-floor"]
        assert len({o.track_id for o in sightings}) == 1, "one floor track, to the kiosk"
        times = sorted(o.at for o in sightings)
        assert max(b - a for a, b in itertools.pairwise(times)) < 10, "never idle"
        window = (visitor.press.at - 2, visitor.press.at + 0.5)
        in_zone = [o for o in sightings if window[0] <= o.at <= window[1] and inside(o.bbox, zone)]
        # The frames at the kiosk (the first ones may overlap them when the press came soon).
        assert len(in_zone) >= 3


def inside(bbox: tuple[int, int, int, int], zone: tuple[int, int, int, int]) -> bool:
    x, y, w, h = bbox
    return (
        zone[0] <= x and x + w <= zone[0] + zone[2] and zone[1] <= y and y + h <= zone[1] + zone[3]
    )

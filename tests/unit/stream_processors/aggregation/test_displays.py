"""Display cameras' tracks (issue 16): watchers, dwell, attention and mix by display label."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskpulse.events import DISPLAY_SECONDS_BOUNDS, EXPRESSIONS, TONES, BBox, FaceObservation
from stream_processors.aggregation.aggregator import Aggregator, DictEntries
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.displays import ATTENTION_MAX_GAP_SECONDS
from stream_processors.aggregation.store import Outcome
from tests.support.events import HAPPY, SAD, T0, at
from tests.unit.stream_processors.aggregation.test_aggregator import feed, only, snapshot

CONFIG = AggregationConfig(lateness_seconds=3600, visit_idle_seconds=10)
SURPRISED = [0.02, 0.01, 0.02, 0.05, 0.03, 0.83, 0.04]


def watch(
    seconds: float,
    *,
    track: str = "t1",
    label: str = "spring",
    frontal: bool | None = True,
    probs: list[float] = SURPRISED,
    box: tuple[int, int] = (80, 100),
    camera: str = "cam-display",
) -> FaceObservation:
    return FaceObservation(
        track_id=track,
        captured_at=at(seconds),
        probs=probs,
        bbox=BBox(x=0, y=0, w=box[0], h=box[1]),
        frontal=frontal,
        camera_id=camera,
        store_id="s1",
        role="display",
        display=label,
        source="edge",
    )


def closed(events: list[FaceObservation], aggregator: Aggregator | None = None) -> Aggregator:
    aggregator = aggregator or Aggregator(CONFIG)
    feed(aggregator, list(events), wall=1000.0)
    aggregator.tick(wall=2000.0)  # every track idle by the wall clock: closed
    aggregator.flush()
    return aggregator


def test_a_track_is_one_watcher_with_its_dwell_and_attention() -> None:
    value = only(closed([watch(0), watch(1), watch(2, frontal=False), watch(3), watch(4)]))
    display = value.displays["spring"]
    assert display.watchers == 1
    assert display.dwell_seconds_sum == pytest.approx(4.0)
    assert display.dwell_seconds_sq_sum == pytest.approx(16.0)
    # Frontal pairs: 0-1 and 3-4; the gaps touching the turned-away sighting are not attention.
    assert display.attention_seconds_sum == pytest.approx(2.0)
    assert display.attention_seconds_sq_sum == pytest.approx(4.0)
    # Cumulative counts by bound: dwell 4 s is above 1 and 2, within 5 and beyond.
    expected_dwell = [int(bound >= 4.0) for bound in DISPLAY_SECONDS_BOUNDS]
    assert display.dwell_buckets == expected_dwell
    assert display.attention_buckets == [int(bound >= 2.0) for bound in DISPLAY_SECONDS_BOUNDS]
    # A watcher is not a floor visitor.
    assert value.visitors == 0
    assert sum(value.tone_counts) == 0


def test_a_gap_longer_than_the_bound_is_no_attention() -> None:
    gap = ATTENTION_MAX_GAP_SECONDS + 1
    value = only(closed([watch(0), watch(1), watch(1 + gap), watch(2 + gap)]))
    assert value.displays["spring"].attention_seconds_sum == pytest.approx(2.0)


def test_without_a_frontal_flag_the_box_aspect_decides() -> None:
    narrow = (40, 100)  # a face in profile
    events = [
        watch(0, frontal=None),
        watch(1, frontal=None),
        watch(2, frontal=None, box=narrow),
        watch(3, frontal=None, box=narrow),
    ]
    assert only(closed(events)).displays["spring"].attention_seconds_sum == pytest.approx(1.0)


def test_the_expression_and_tone_mix_of_watchers() -> None:
    events = [
        watch(0, track="a", probs=SURPRISED),
        watch(1, track="a", probs=SURPRISED),
        watch(0, track="b", probs=HAPPY),
        watch(0, track="c", probs=SAD),
    ]
    display = only(closed(events)).displays["spring"]
    assert display.watchers == 3
    assert display.expression_counts[EXPRESSIONS.index("surprise")] == 1
    assert display.expression_counts[EXPRESSIONS.index("happy")] == 1
    assert display.expression_counts[EXPRESSIONS.index("sad")] == 1
    assert display.tone_counts[TONES.index("interest")] == 1
    assert display.tone_counts[TONES.index("satisfaction")] == 1
    assert display.tone_counts[TONES.index("apathy")] == 1


def test_a_relabel_splits_the_history_by_label_even_within_a_track() -> None:
    events = [
        watch(0, label="spring"),
        watch(2, label="spring"),
        watch(3, label="summer"),  # the display changed while the person stood there
        watch(6, label="summer"),
        watch(10, track="t2", label="summer"),
        watch(11, track="t2", label="summer"),
    ]
    displays = only(closed(events)).displays
    assert set(displays) == {"spring", "summer"}
    assert displays["spring"].watchers == 1
    assert displays["spring"].dwell_seconds_sum == pytest.approx(2.0)
    assert displays["summer"].watchers == 2
    assert displays["summer"].dwell_seconds_sum == pytest.approx(4.0)


def test_replays_count_once() -> None:
    events = [watch(0), watch(1), watch(2)]
    aggregator = Aggregator(CONFIG)
    assert feed(aggregator, [*events, events[1]], wall=1000.0)[-1] is Outcome.DUPLICATE
    aggregator.tick(wall=2000.0)
    assert feed(aggregator, events, wall=2000.0) == [Outcome.DUPLICATE] * 3
    assert only(aggregator).displays["spring"].watchers == 1


def test_a_track_counts_in_the_bucket_of_its_last_sighting() -> None:
    values = snapshot(closed([watch(50), watch(70)]))
    assert values["s1/2026-11-24T10:00:00Z"].displays == {}  # the camera was seen there only
    assert values["s1/2026-11-24T10:01:00Z"].displays["spring"].dwell_seconds_sum == 20.0


@pytest.mark.parametrize("close_before_restart", [True, False])
def test_a_restarted_aggregator_rebuilds_display_tracks(close_before_restart: bool) -> None:
    state = DictEntries()
    before = Aggregator(CONFIG, state)
    feed(before, [watch(0), watch(1, frontal=False), watch(2)], wall=1000.0)
    if close_before_restart:
        before.tick(wall=2000.0)
        before.flush()
    after = Aggregator(CONFIG, DictEntries(state))
    feed(after, [watch(3)], wall=2000.0)  # a replay if closed, else the track goes on
    after.tick(wall=3000.0)
    after.flush()
    display = only(after).displays["spring"]
    assert display.watchers == 1
    assert display.dwell_seconds_sum == pytest.approx(2.0 if close_before_restart else 3.0)
    assert display.attention_seconds_sum == pytest.approx(0.0 if close_before_restart else 1.0)


def test_expired_display_tracks_leave_no_state() -> None:
    aggregator = closed([watch(0), watch(1)])
    feed(aggregator, [watch(2 * 3600, track="late")], wall=3000.0)
    aggregator.tick(wall=3000.0)  # the first hour's buckets expire with the store's clock
    store = aggregator.stores["s1"]
    assert store.display_tracks.counted == set()
    assert list(store.display_tracks.open) == ["s1|d|cam-display|spring|late"]
    assert store.entries == 1  # the open track


def test_the_aggregate_parses_back_through_the_contract() -> None:
    from kioskpulse.events import StoreAggregate

    value = only(closed([watch(0), watch(1)]))
    again = StoreAggregate.from_bytes(value.to_bytes())
    assert again.displays == value.displays
    assert again.bucket_start == T0


@st.composite
def display_workloads(draw: st.DrawFn) -> list[FaceObservation]:
    """Two display cameras' faces, each camera's in capture order, relabelled at random
    times, the cameras interleaved at random."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    per_camera = []
    for camera in ("d1", "d2"):
        faces, relabel_at = [], rng.uniform(0, 120)
        for track in range(rng.randint(1, 6)):
            start = rng.uniform(0, 150)
            for k in range(rng.randint(1, 8)):
                at = round(start + k * rng.uniform(0.2, 4.0), 3)
                label = "spring" if at < relabel_at else "summer"
                faces.append(
                    watch(at, track=f"{camera}-{track}", label=label, camera=camera,
                          frontal=rng.random() < 0.7, probs=rng.choice([SURPRISED, HAPPY, SAD]))
                )  # fmt: skip
        faces.sort(key=lambda face: face.captured_at)
        per_camera.append(faces)
    merged: list[FaceObservation] = []
    while any(per_camera):
        merged.append(rng.choice([faces for faces in per_camera if faces]).pop(0))
    return merged


@settings(max_examples=40, deadline=None)
@given(display_workloads(), st.data())
def test_display_statistics_survive_interleaving_replays_and_restarts(
    events: list[FaceObservation], data: st.DataObject
) -> None:
    reference = closed(sorted(events, key=lambda face: face.captured_at))
    state = DictEntries()
    cut = data.draw(st.integers(0, len(events)))
    before = Aggregator(CONFIG, state)
    feed(before, events[:cut], wall=1000.0)
    after = Aggregator(CONFIG, DictEntries(state))
    feed(after, events, wall=1000.0)  # the prefix again: replays
    after.tick(wall=2000.0)
    after.flush()

    def displays(aggregator: Aggregator) -> dict[str, dict[str, object]]:
        return {key: value.displays for key, value in snapshot(aggregator).items()}

    assert displays(after) == displays(reference)

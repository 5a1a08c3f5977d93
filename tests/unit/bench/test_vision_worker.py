"""bench/vision_worker.py's pure parts: the frames it writes, its reading of /metrics, its sums."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kioskpulse.events import FrameHeaders

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _load() -> ModuleType:
    # The benchmarks import each other as top-level modules (bench/ is the script's
    # directory); appended, so that bench/vision.py never shadows the vision package.
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_vision_worker", BENCH / "vision_worker.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


vision_worker = _load()


def test_scrape_sums_the_watched_counters_over_their_labels() -> None:
    body = b"""# HELP kioskpulse_vision_frames_total Frames handled
# TYPE kioskpulse_vision_frames_total counter
kioskpulse_vision_frames_total{outcome="ok"} 120.0
kioskpulse_vision_frames_total{outcome="undecodable"} 3.0
kioskpulse_vision_frames_created{outcome="ok"} 1.7e+09
kioskpulse_vision_faces_total 250.0
kioskpulse_vision_batch_duration_seconds_sum 3.5
kioskpulse_vision_batch_duration_seconds_count 8.0
kioskpulse_aggregator_events_total{topic="camera.faces.v1",outcome="counted"} 240.0
kioskpulse_aggregator_events_total{topic="kiosk.ratings.v1",outcome="counted"} 10.0
"""
    values = vision_worker.scrape(body)
    assert values["frames"] == 123.0
    assert values["faces"] == 250.0
    assert values["batch_seconds"] == 3.5
    assert values["batches"] == 8.0
    assert values["aggregator_events"] == 250.0
    assert values["detect_seconds"] == 0.0  # absent: zero


def test_frames_come_from_floor_and_kiosk_cameras_at_two_fps_in_capture_order() -> None:
    args = vision_worker.parse_args(["--frames", "50", "--stores", "5", "--scenes", "2",
                                     "--empty-scenes", "1"])  # fmt: skip
    frames = vision_worker.camera_frames(args, "test")
    assert len(frames) == 50
    headers = [FrameHeaders.from_headers(frame.headers) for frame in frames]
    assert len({h.camera_id for h in headers}) == 10
    assert {h.role for h in headers} == {"floor", "kiosk"}
    for h in headers:
        assert (h.kiosk_id is not None) == (h.role == "kiosk")
        assert h.camera_id == f"{h.store_id}-{h.role}-cam"
    for camera in {h.camera_id for h in headers}:
        times = [h.captured_at for h in headers if h.camera_id == camera]
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert gaps == {0.5}
    assert all(frame.jpeg[:2] == b"\xff\xd8" for frame in frames)
    assert {frame.true_faces for frame in frames} <= {0, 4}


def test_floor_only() -> None:
    args = vision_worker.parse_args(["--frames", "6", "--stores", "3", "--roles", "floor",
                                     "--scenes", "1", "--empty-scenes", "0"])  # fmt: skip
    headers = [FrameHeaders.from_headers(f.headers) for f in vision_worker.camera_frames(args, "t")]
    assert {h.role for h in headers} == {"floor"}
    assert len({h.camera_id for h in headers}) == 3


def test_summary_is_the_median_round_and_cameras_at_two_fps() -> None:
    def run(threads: int, rate: float) -> dict[str, object]:
        return {
            "vision_threads": threads, "frames_per_s": rate, "worker_cores": 1.0,
            "busiest_threads_cores": [0.9], "threads": 7, "machine_busy_cores": 1.2,
            "broker_cores": 0.1, "other_cores": 0.05, "analysing_share": 0.96,
            "frames_per_batch": 16.0, "wall_ms_per_frame": 1000 / rate,
            "detect_ms_per_frame": 23.0, "infer_ms_per_frame": 1.0,
            "decode_track_ms_per_frame": 1.5, "outside_analysis_ms_per_frame": 1.0,
            "faces_found_per_frame": 2.4, "foreign_events": 0.0,
        }  # fmt: skip

    rounds = [run(1, 30.0), run(2, 50.0), run(1, 40.0), run(1, 36.0)]
    summary = vision_worker.summary(rounds, 1)
    assert summary["rounds"] == 3
    assert summary["frames_per_s"] == 36.0
    assert (summary["frames_per_s_min"], summary["frames_per_s_max"]) == (30.0, 40.0)
    assert summary["cameras_at_2fps"] == pytest.approx({"100%": 18.0, "80%": 14.4, "70%": 12.6})


@pytest.mark.parametrize(
    "argv", [["--frames", "0"], ["--threads", "0"], ["--scenes", "0", "--empty-scenes", "0"]]
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        vision_worker.parse_args(argv)
    assert exit_.value.code == 2

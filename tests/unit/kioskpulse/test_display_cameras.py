"""Display cameras (issue 16): registered with a label, relabelled, and the label stamped
on their faces by the API (never taken from a request body)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.cli import main
from kioskpulse.devices import Registry, RegistryError, RegistryFile, edit_registry
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FrameHeaders, StoreAggregate
from kioskpulse.topics import FACES, FRAMES
from tests.support.aggregates import aggregate
from tests.support.bodies import PNG, UNIFORM, now_iso
from tests.support.events import face
from tests.support.fleet import Fleet


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- the registry


def test_a_display_camera_needs_its_label_and_no_other_camera_has_one() -> None:
    registry = Registry()
    registry.add_store("s1")
    registry.add_kiosk("k1", "s1")
    registry.add_camera("d1", "s1", "display", display="spring collection")
    assert registry.cameras["d1"].display == "spring collection"
    with pytest.raises(RegistryError, match="needs the label of its display"):
        registry.add_camera("d2", "s1", "display")
    with pytest.raises(RegistryError, match="only a display camera has a display label"):
        registry.add_camera("f1", "s1", "floor", display="x")
    with pytest.raises(RegistryError, match="a display camera belongs to no kiosk"):
        registry.add_camera("d3", "s1", "display", "k1", display="x")
    with pytest.raises(RegistryError, match="display"):
        registry.add_camera("d4", "s1", "display", display="bad\nlabel")


def test_relabelling_changes_what_the_camera_stamps(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    with edit_registry(path) as registry:
        registry.add_store("s1")
        token = registry.add_camera("d1", "s1", "display", display="spring")
    devices = RegistryFile(path, check_interval=0)
    assert devices.authenticate("d1", token).display == "spring"
    with edit_registry(path) as registry:
        registry.configure_camera("d1", display="summer")
    assert devices.authenticate("d1", token).display == "summer"


# ---------------------------------------------------------------------- the CLI


def test_add_relabel_and_list_a_display_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = ["devices", "--devices-file", str(tmp_path / "devices.yaml")]
    run(capsys, *devices, "add-store", "s1")
    code, out, err = run(
        capsys, *devices, "add-camera", "d1", "--store", "s1", "--role", "display",
        "--display", "spring collection",
    )  # fmt: skip
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert "role display, display 'spring collection'" in run(capsys, *devices, "list")[1]
    code, out, err = run(capsys, *devices, "relabel-camera", "d1", "--display", "summer sale")
    assert code == 0, err
    assert "display 'spring collection' -> 'summer sale'" in out
    camera = RegistryFile(tmp_path / "devices.yaml").authenticate("d1", token)
    assert (camera.role, camera.display) == ("display", "summer sale")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-camera", "d2", "--store", "s1", "--role", "display"],
         "--display LABEL goes with --role display"),
        (["add-camera", "f2", "--store", "s1", "--role", "floor", "--display", "x"],
         "--display LABEL goes with --role display"),
        (["relabel-camera", "f1", "--display", "x"], "f1 is not a display camera"),
        (["relabel-camera", "ghost", "--display", "x"], "ghost is not a display camera"),
        (["relabel-camera", "d1", "--display", ""], "camera d1: display"),
    ],
)  # fmt: skip
def test_a_wrong_display_option_gives_a_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    devices = ["devices", "--devices-file", str(tmp_path / "devices.yaml")]
    run(capsys, *devices, "add-store", "s1")
    run(capsys, *devices, "add-camera", "f1", "--store", "s1", "--role", "floor")
    run(
        capsys, *devices, "add-camera", "d1", "--store", "s1", "--role", "display", "--display", "a"
    )
    code, _, err = run(capsys, *devices, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------- the contracts


def test_a_display_cameras_face_carries_its_label_and_no_other_does() -> None:
    floor = face(0, UNIFORM, role="floor")
    with pytest.raises(ValidationError, match="display label"):
        FaceObservation.model_validate(floor.model_dump() | {"display": "spring"})
    with pytest.raises(ValidationError, match="display label"):
        FaceObservation.model_validate(floor.model_dump() | {"role": "display"})
    shown = FaceObservation.model_validate(
        floor.model_dump() | {"role": "display", "display": "spring", "frontal": False}
    )
    assert FaceObservation.from_bytes(shown.to_bytes()) == shown
    # Written before displays existed: no display, no frontal flag.
    old = floor.model_dump(mode="json", exclude={"display", "frontal"})
    assert FaceObservation.model_validate(old).frontal is None


# ---------------------------------------------------------------------- the API


@pytest.fixture
def display_token(fleet: Fleet) -> str:
    with edit_registry(fleet.path) as registry:
        return registry.add_camera("cam-d1", "s1", "display", display="spring")


async def test_observations_are_stamped_with_the_current_label(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus, display_token: str
) -> None:
    auth = {"Authorization": f"Bearer {display_token}"}
    face: dict[str, object] = {"track_id": "t", "captured_at": now_iso(), "probs": UNIFORM}
    body = {"observations": [face]}
    assert (
        await client.post("/v1/cameras/cam-d1/observations", json=body, headers=auth)
    ).is_success
    with edit_registry(fleet.path) as registry:
        registry.configure_camera("cam-d1", display="summer")
    face["frontal"] = False
    assert (
        await client.post("/v1/cameras/cam-d1/observations", json=body, headers=auth)
    ).is_success
    faces = events_in(bus.records(FACES), FaceObservation)
    assert [(f.role, f.display, f.frontal) for f in faces] == [
        ("display", "spring", None),
        ("display", "summer", False),
    ]


async def test_a_camera_cannot_send_its_own_label(
    client: httpx.AsyncClient, bus: MemoryBus, display_token: str
) -> None:
    observation = {"track_id": "t", "captured_at": now_iso(), "probs": UNIFORM, "display": "x"}
    response = await client.post(
        "/v1/cameras/cam-d1/observations",
        json={"observations": [observation]},
        headers={"Authorization": f"Bearer {display_token}"},
    )
    assert response.status_code == 422
    assert bus.records(FACES) == []


async def test_frames_carry_the_label_as_a_header(
    client: httpx.AsyncClient, bus: MemoryBus, display_token: str
) -> None:
    response = await client.post(
        "/v1/cameras/cam-d1/frames",
        content=PNG,
        headers={"Authorization": f"Bearer {display_token}", "Content-Type": "image/png"},
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(FRAMES)
    headers = FrameHeaders.from_headers(record.headers)
    assert (headers.role, headers.display) == ("display", "spring")


async def test_another_cameras_frontal_flag_is_not_kept(
    client: httpx.AsyncClient, fleet: Fleet, bus: MemoryBus
) -> None:
    face = {"track_id": "t", "captured_at": now_iso(), "probs": UNIFORM, "frontal": True}
    response = await client.post(
        "/v1/cameras/cam-floor/observations",
        json={"observations": [face]},
        headers=fleet.auth("cam-floor"),
    )
    assert response.status_code == 202, response.text
    [record] = bus.records(FACES)
    assert FaceObservation.from_bytes(record.value).frontal is None
    assert b'"frontal"' not in record.value


def test_an_aggregate_without_watchers_is_written_as_before() -> None:
    value = aggregate("s1", 0)
    assert b'"displays"' not in value.to_bytes()
    assert StoreAggregate.from_bytes(value.to_bytes()) == value

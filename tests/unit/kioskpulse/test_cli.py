"""``kioskpulse devices``: what an operator types and reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from kioskpulse.cli import main
from kioskpulse.devices import RegistryFile, UnknownToken


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_devices_prints_the_token_on_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "devices.yaml")
    assert (
        run(capsys, "devices", "--devices-file", path, "add-store", "s1", "--name", "One")[0] == 0
    )
    code, out, _ = run(
        capsys, "devices", "--devices-file", path, "add-kiosk", "k1", "--store", "s1"
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("kp_")
    assert " " not in token
    code, out, _ = run(
        capsys, "devices", "--devices-file", path,
        "add-camera", "c1", "--store", "s1", "--role", "kiosk", "--kiosk", "k1",
    )  # fmt: skip
    camera_token = out.strip().splitlines()[-1]
    registry = RegistryFile(Path(path))
    assert registry.authenticate("k1", token).scale == 4
    assert registry.authenticate("c1", camera_token).role == "kiosk"

    code, out, _ = run(capsys, "devices", "--devices-file", path, "list")
    assert code == 0
    assert "store s1  (One)" in out
    assert "kiosk  k1" in out
    assert "facing k1" in out
    assert token not in out
    assert camera_token not in out


def test_a_cameras_smallest_face_is_set_and_reset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "devices.yaml")
    run(capsys, "devices", "--devices-file", path, "add-store", "s1")
    code, out, _ = run(
        capsys, "devices", "--devices-file", path,
        "add-camera", "f1", "--store", "s1", "--role", "floor", "--min-face-px", "20",
    )  # fmt: skip
    token = out.strip().splitlines()[-1]
    registry = RegistryFile(Path(path))
    assert registry.authenticate("f1", token).min_face_px == 20
    assert "faces from 20 px" in run(capsys, "devices", "--devices-file", path, "list")[1]
    code, out, _ = run(
        capsys, "devices", "--devices-file", path, "set-camera", "f1", "--min-face-px", "default"
    )
    assert (code, "faces from its role's default" in out) == (0, True)
    assert RegistryFile(Path(path)).authenticate("f1", token).min_face_px is None
    code, _, err = run(
        capsys, "devices", "--devices-file", path, "set-camera", "f1", "--min-face-px", "5"
    )
    assert code == 2
    assert "min_face_px" in err
    assert "12" in err


def test_a_floor_cameras_kiosk_zone_is_set_changed_cleared_and_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "devices.yaml")
    devices = ["devices", "--devices-file", path]
    run(capsys, *devices, "add-store", "s1")
    run(capsys, *devices, "add-kiosk", "k1", "--store", "s1")
    run(capsys, *devices, "add-kiosk", "k2", "--store", "s1")
    code, out, err = run(
        capsys, *devices, "add-camera", "f1", "--store", "s1", "--role", "floor",
        "--min-face-px", "20", "--kiosk-zone", "k1:100,80,200,240",
    )  # fmt: skip
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    zone = RegistryFile(Path(path)).authenticate("f1", token).kiosk_zone
    assert zone is not None
    assert (zone.kiosk_id, zone.x, zone.y, zone.w, zone.h) == ("k1", 100, 80, 200, 240)
    listed = run(capsys, *devices, "list")[1]
    assert "role floor, faces from 20 px, kiosk zone k1:100,80,200,240" in listed

    code, out, _ = run(capsys, *devices, "set-camera", "f1", "--kiosk-zone", "k2:0,0,640,480")
    assert code == 0
    assert "faces from 20 px, kiosk zone k2:0,0,640,480" in out, "the smallest face stays"
    code, out, _ = run(capsys, *devices, "set-camera", "f1", "--min-face-px", "default")
    assert (code, "faces from its role's default, kiosk zone k2:0,0,640,480" in out) == (0, True)

    code, out, _ = run(capsys, *devices, "set-camera", "f1", "--kiosk-zone", "none")
    assert (code, "kiosk zone none" in out) == (0, True)
    assert RegistryFile(Path(path)).authenticate("f1", token).kiosk_zone is None
    assert "kiosk zone" not in run(capsys, *devices, "list")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-camera", "f2", "--store", "s1", "--role", "floor", "--kiosk-zone", "k1"],
         "kiosk zone 'k1' is not KIOSK:X,Y,W,H"),
        (["add-camera", "f2", "--store", "s1", "--role", "floor", "--kiosk-zone", "none"],
         "kiosk zone 'none' is not KIOSK:X,Y,W,H"),
        (["add-camera", "f2", "--store", "s1", "--role", "floor", "--kiosk-zone", "k5:0,0,9,9"],
         "kiosk zone: kiosk k5 is in store s2, not s1"),
        (["add-camera", "f2", "--store", "s1", "--role", "floor", "--kiosk-zone", "k9:0,0,9,9"],
         "kiosk zone: kiosk k9 does not exist"),
        (["add-camera", "c2", "--store", "s1", "--role", "kiosk", "--kiosk", "k1",
          "--kiosk-zone", "k1:0,0,9,9"], "only a floor camera has a kiosk zone"),
        (["set-camera", "f1", "--kiosk-zone", "k1:0,0,0,9"],
         "kiosk zone 'k1:0,0,0,9': w: Input should be greater than 0"),
        (["set-camera", "f1", "--kiosk-zone", "k5:0,0,9,9"],
         "camera f1: kiosk zone: kiosk k5 is in store s2, not s1"),
        (["set-camera", "c1", "--kiosk-zone", "k1:0,0,9,9"],
         "camera c1: only a floor camera has a kiosk zone"),
        (["set-camera", "ghost", "--kiosk-zone", "none"], "no camera with id ghost"),
        (["set-camera", "f1"], "nothing to change: give --min-face-px or --kiosk-zone"),
    ],
)  # fmt: skip
def test_a_wrong_kiosk_zone_gives_a_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = tmp_path / "devices.yaml"
    devices = ["devices", "--devices-file", str(path)]
    for setup in (
        ["add-store", "s1"], ["add-store", "s2"],
        ["add-kiosk", "k1", "--store", "s1"], ["add-kiosk", "k5", "--store", "s2"],
        ["add-camera", "f1", "--store", "s1", "--role", "floor", "--kiosk-zone", "k1:1,2,3,4"],
        ["add-camera", "c1", "--store", "s1", "--role", "kiosk", "--kiosk", "k1"],
    ):  # fmt: skip
        assert run(capsys, *devices, *setup)[0] == 0
    before = path.read_text()
    code, _out, err = run(capsys, *devices, *args)
    assert code == 2
    assert err.startswith("kioskpulse: error: ")
    assert message in err
    assert err.count("\n") == 1, "one line"
    assert path.read_text() == before, "nothing was written"


def test_revoke_makes_the_token_useless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "devices.yaml")
    run(capsys, "devices", "--devices-file", path, "add-store", "s1")
    token = run(capsys, "devices", "--devices-file", path, "add-kiosk", "k1", "--store", "s1")[1]
    token = token.strip().splitlines()[-1]
    code, out, _ = run(capsys, "devices", "--devices-file", path, "revoke", "k1")
    assert code == 0
    assert "revoked" in out
    with pytest.raises(UnknownToken):
        RegistryFile(Path(path)).authenticate("k1", token)
    assert "REVOKED" in run(capsys, "devices", "--devices-file", path, "list")[1]


def test_devices_file_defaults_to_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIOSKPULSE_DEVICES_FILE", str(tmp_path / "from-env.yaml"))
    assert run(capsys, "devices", "add-store", "s1")[0] == 0
    assert (tmp_path / "from-env.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-kiosk", "k1", "--store", "nowhere"], "store nowhere does not exist"),
        (["add-camera", "c1", "--store", "s1", "--role", "kiosk"], "needs --kiosk"),
        (["revoke", "ghost"], "no kiosk, camera or operator with id ghost"),
    ],
)
def test_mistakes_give_a_clear_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = str(tmp_path / "devices.yaml")
    run(capsys, "devices", "--devices-file", path, "add-store", "s1")
    code, _out, err = run(capsys, "devices", "--devices-file", path, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_scale_outside_two_to_five_is_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["devices", "--devices-file", str(tmp_path / "d.yaml"), "add-kiosk", "k", "--store",
              "s", "--scale", "7"])  # fmt: skip
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_invalid_settings_are_named_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIOSKPULSE_TOPIC_PARTITIONS", "zero")
    code, _out, err = run(capsys, "devices", "list")
    assert code == 2
    assert "invalid settings" in err
    assert "topic_partitions" in err


def test_add_operator_prints_the_token_and_list_shows_the_operator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "devices.yaml")
    code, out, _ = run(capsys, "devices", "--devices-file", path, "add-operator", "ops")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("kp_")
    assert RegistryFile(Path(path)).authenticate_operator(token) == "ops"

    code, out, _ = run(capsys, "devices", "--devices-file", path, "list")
    assert code == 0
    assert "operator ops" in out
    assert token not in out

    assert run(capsys, "devices", "--devices-file", path, "revoke", "ops")[0] == 0
    assert "operator ops  REVOKED" in run(capsys, "devices", "--devices-file", path, "list")[1]
    with pytest.raises(UnknownToken):
        RegistryFile(Path(path)).authenticate_operator(token)


def test_the_exporter_command_hands_its_options_to_run_exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream_processors.exporter import run as exporter_run

    calls: list[tuple[object, ...]] = []

    def fake_run_exporter(settings: object, host: str, port: int, *, log_level: str) -> int:
        calls.append((settings, host, port, log_level))
        return 0

    monkeypatch.setattr(exporter_run, "run_exporter", fake_run_exporter)
    monkeypatch.setenv("KIOSKPULSE_EXPORTER_PORT", "9200")
    devices = tmp_path / "devices.yaml"
    assert run(capsys, "exporter", "--devices-file", str(devices))[0] == 0
    assert run(capsys, "exporter", "--host", "10.0.0.5", "--port", "9300")[0] == 0
    (settings, host, port, level), second = calls
    assert (host, port, level) == ("127.0.0.1", 9200, "info")
    assert settings.devices_file == devices  # type: ignore[attr-defined]
    assert second[1:3] == ("10.0.0.5", 9300)

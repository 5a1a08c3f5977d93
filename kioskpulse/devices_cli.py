"""``kioskpulse devices ...``: stores, kiosks, cameras and operators in the registry file."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kioskpulse.devices import (
    KIOSK_LANGUAGES,
    UNCHANGED,
    Camera,
    Kiosk,
    Registry,
    RegistryError,
    Unchanged,
    edit_registry,
    never_followup,
)
from kioskpulse.events import SCALES, KioskZone
from kioskpulse.settings import Settings

__all__ = ["add_devices_commands"]


def add_devices_commands(commands: Any) -> None:
    """``kioskpulse devices ACTION``: the registry's editing commands."""
    devices = commands.add_parser("devices", help="manage stores, kiosks and cameras")
    devices.add_argument("--devices-file", type=Path, help="default: $KIOSKPULSE_DEVICES_FILE")
    actions = devices.add_subparsers(title="actions", required=True, metavar="ACTION")

    store = actions.add_parser("add-store", help="register a store")
    store.add_argument("id")
    store.add_argument("--name")
    store.set_defaults(handler=_add_store)

    kiosk = actions.add_parser("add-kiosk", help="register a kiosk; prints its token once")
    kiosk.add_argument("id")
    kiosk.add_argument("--store", required=True)
    kiosk.add_argument(
        "--scale", type=int, default=4, choices=SCALES, metavar="2..5|11",
        help="smiley buttons (2..5; default 4), or 11: an NPS kiosk (0..10)",
    )  # fmt: skip
    _add_page_options(kiosk)
    kiosk.set_defaults(handler=_add_kiosk)

    configure = actions.add_parser(
        "set-kiosk",
        help="change a kiosk's question, language, follow-up or scale",
        description="Change what a kiosk's page shows; the page picks it up at its next "
        "start or configuration check. Options left out stay as they are.",
    )
    configure.add_argument("id")
    configure.add_argument("--scale", type=int, choices=SCALES, metavar="2..5|11")
    _add_page_options(configure)
    configure.set_defaults(handler=_set_kiosk)

    pair = actions.add_parser(
        "pair",
        help="a one-time code that pairs a kiosk page (/kiosk) with a kiosk",
        description="Prints a short code to type into the kiosk page's pairing screen "
        "(or open /kiosk#pair=CODE). The page exchanges it once for a new token of the "
        "kiosk: the token the kiosk had before stops working.",
    )
    pair.add_argument("id")
    pair.add_argument(
        "--valid-for", type=_minutes, default=timedelta(minutes=15), metavar="MINUTES",
        help="how long the code can be used (15)",
    )  # fmt: skip
    pair.add_argument("--api", metavar="URL", help="print the page's address on this API too")
    pair.set_defaults(handler=_pair)

    camera = actions.add_parser("add-camera", help="register a camera; prints its token once")
    camera.add_argument("id")
    camera.add_argument("--store", required=True)
    camera.add_argument("--role", required=True, choices=["floor", "kiosk", "display"])
    camera.add_argument("--kiosk", help="the kiosk a role=kiosk camera faces")
    camera.add_argument(
        "--display",
        metavar="LABEL",
        help="what a role=display camera looks at ('spring collection'); its figures are "
        "kept by this label (relabel-camera changes it)",
    )
    _add_min_face_option(camera)
    _add_kiosk_zone_option(camera)
    camera.set_defaults(handler=_add_camera)

    set_camera = actions.add_parser(
        "set-camera",
        help="change a camera's smallest face or kiosk zone",
        description="The API writes both into the headers of the frames it accepts from "
        "now on (and stamps the zone's kiosk on the camera's observations). Options left "
        "out stay as they are.",
    )
    set_camera.add_argument("id")
    _add_min_face_option(set_camera, allow_default=True)
    _add_kiosk_zone_option(set_camera, allow_none=True)
    set_camera.set_defaults(handler=_set_camera)

    relabel = actions.add_parser(
        "relabel-camera",
        help="give a display camera the label of what it looks at now",
        description="The display changed: the camera's faces count under the new label from "
        "now on, and the old label's history stays apart (docs/operations.md, Displays).",
    )
    relabel.add_argument("id")
    relabel.add_argument("--display", required=True, metavar="LABEL")
    relabel.set_defaults(handler=_relabel_camera)

    operator = actions.add_parser(
        "add-operator", help="register an operator (read APIs); prints the token once"
    )
    operator.add_argument("name")
    operator.set_defaults(handler=_add_operator)

    listing = actions.add_parser("list", help="show the registry (never the tokens)")
    listing.set_defaults(handler=_list_devices)

    revoke = actions.add_parser("revoke", help="revoke a kiosk's, camera's or operator's token")
    revoke.add_argument("id")
    revoke.set_defaults(handler=_revoke)


# --------------------------------------------------------------------------- devices


def _devices_file(args: argparse.Namespace) -> Path:
    path: Path | None = args.devices_file
    return path if path is not None else Settings().devices_file


def _add_store(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    with edit_registry(path) as registry:
        registry.add_store(args.id, args.name)
    print(f"store {args.id} added to {path}")
    return 0


def _print_token(kind: str, device_id: str, path: Path, token: str) -> None:
    print(f"{kind} {device_id} added to {path}.")
    print("Its token is shown only this once (the registry keeps a hash):")
    print(token)


def _add_kiosk(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    with edit_registry(path) as registry:
        token = registry.add_kiosk(args.id, args.store, args.scale)
        if changes := _page_changes(args):
            registry.configure_kiosk(args.id, **changes)
    _print_token("kiosk", args.id, path, token)
    return 0


def _set_kiosk(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    changes = _page_changes(args)
    if args.scale is not None:
        changes["scale"] = args.scale
    if not changes:
        raise RegistryError("nothing to change: give at least one option (see --help)")
    with edit_registry(path) as registry:
        kiosk = registry.configure_kiosk(args.id, **changes)
    print(f"kiosk {args.id} in {path}: {_describe_page(kiosk)}")
    return 0


def _pair(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    valid_for: timedelta = args.valid_for
    now = datetime.now(UTC)
    with edit_registry(path) as registry:
        code = registry.start_pairing(args.id, now, valid_for)
    until = (now + valid_for).astimezone().strftime("%H:%M")
    print(f"Pairing code for kiosk {args.id} (valid until {until}, once):")
    print(code)
    if args.api:
        print(f"or open {args.api.rstrip('/')}/kiosk#pair={code}")
    print("Pairing gives the kiosk a new token: the one it had before stops working.")
    return 0


def _add_camera(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    if args.role == "kiosk" and not args.kiosk:
        raise RegistryError("a camera with --role kiosk needs --kiosk ID")
    if (args.role == "display") != (args.display is not None):
        raise RegistryError("--display LABEL goes with --role display, which needs it")
    zone = _kiosk_zone(args.kiosk_zone)
    with edit_registry(path) as registry:
        token = registry.add_camera(
            args.id,
            args.store,
            args.role,
            args.kiosk,
            min_face_px=args.min_face_px,
            kiosk_zone=None if isinstance(zone, Unchanged) else zone,
            display=args.display,
        )
    _print_token("camera", args.id, path, token)
    return 0


def _add_min_face_option(parser: argparse.ArgumentParser, *, allow_default: bool = False) -> None:
    more = "; 'default' goes back to the role's default" if allow_default else ""
    parser.add_argument(
        "--min-face-px",
        type=_min_face if allow_default else int,
        default=UNCHANGED if allow_default else None,
        metavar="PX",
        help="the smallest face to look for, in pixels of the camera's frames (12..1000); "
        "default: the vision stage's setting for the role (floor 24, kiosk 48). Smaller "
        f"costs more: docs/vision.md{more}",
    )


def _min_face(value: str) -> int | None:
    return None if value == "default" else int(value)


def _add_kiosk_zone_option(parser: argparse.ArgumentParser, *, allow_none: bool = False) -> None:
    more = "; 'none' removes it" if allow_none else ""
    parser.add_argument(
        "--kiosk-zone",
        metavar="KIOSK:X,Y,W,H",
        help="a floor camera that sees a kiosk: the rectangle of its frames (pixels: left, "
        "top, width, height) where a presser of that kiosk stands; the kiosk must be in "
        f"the camera's store. Faces in it are linked to the kiosk's presses{more}",
    )


def _kiosk_zone(text: str | None, *, allow_none: bool = False) -> KioskZone | Unchanged | None:
    """The zone of ``--kiosk-zone``: UNCHANGED when not given, None for 'none'."""
    if text is None:
        return UNCHANGED
    if allow_none and text.strip().lower() == "none":
        return None
    try:
        return KioskZone.parse(text)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


def _describe_camera(camera: Camera) -> str:
    looks = "its role's default" if camera.min_face_px is None else f"{camera.min_face_px} px"
    zone = camera.kiosk_zone.header() if camera.kiosk_zone else "none"
    return f"faces from {looks}, kiosk zone {zone}"


def _set_camera(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    zone = _kiosk_zone(args.kiosk_zone, allow_none=True)
    if isinstance(args.min_face_px, Unchanged) and isinstance(zone, Unchanged):
        raise RegistryError("nothing to change: give --min-face-px or --kiosk-zone (see --help)")
    with edit_registry(path) as registry:
        camera = registry.configure_camera(args.id, min_face_px=args.min_face_px, kiosk_zone=zone)
    print(f"camera {args.id} in {path}: {_describe_camera(camera)}")
    return 0


def _relabel_camera(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    with edit_registry(path) as registry:
        camera = registry.cameras.get(args.id)
        if camera is None or camera.role != "display":
            raise RegistryError(f"{args.id} is not a display camera")
        before = camera.display
        camera = registry.configure_camera(args.id, display=args.display)
    print(f"camera {args.id} in {path}: display {before!r} -> {camera.display!r}")
    print("Its faces count under the new label from now on; the old label's history stays.")
    return 0


def _add_operator(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    with edit_registry(path) as registry:
        token = registry.add_operator(args.name)
    _print_token("operator", args.name, path, token)
    return 0


def _list_devices(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    registry = Registry.load(path)
    _list_operators(registry)
    if not registry.stores:
        print(f"no stores in {path}")
        return 0
    for store_id, store in sorted(registry.stores.items()):
        print(f"store {store_id}" + (f"  ({store.name})" if store.name else ""))
        for kiosk_id, kiosk in sorted(registry.kiosks.items()):
            if kiosk.store == store_id:
                state = "  REVOKED" if kiosk.revoked else ""
                print(f"  kiosk  {kiosk_id:<24} {_describe_page(kiosk)}{state}")
        for camera_id, camera in sorted(registry.cameras.items()):
            if camera.store == store_id:
                faces = f" facing {camera.kiosk}" if camera.kiosk else ""
                if camera.min_face_px is not None:
                    faces += f", faces from {camera.min_face_px} px"
                if camera.kiosk_zone is not None:
                    faces += f", kiosk zone {camera.kiosk_zone.header()}"
                if camera.display is not None:
                    faces += f", display {camera.display!r}"
                state = "  REVOKED" if camera.revoked else ""
                print(f"  camera {camera_id:<24} role {camera.role}{faces}{state}")
    return 0


def _list_operators(registry: Registry) -> None:
    for name, operator in sorted(registry.operators.items()):
        print(f"operator {name}" + ("  REVOKED" if operator.revoked else ""))


def _revoke(args: argparse.Namespace) -> int:
    path = _devices_file(args)
    with edit_registry(path) as registry:
        registry.revoke(args.id)
    print(f"{args.id} revoked: its token no longer works (the API notices within seconds)")
    return 0


# --------------------------------------------------------------------------- the kiosk page


def _add_page_options(parser: argparse.ArgumentParser) -> None:
    page = parser.add_argument_group("the kiosk page (/kiosk)")
    page.add_argument(
        "--question", help="the question it asks (default: the page's own, translated)"
    )
    page.add_argument(
        "--language", choices=[*KIOSK_LANGUAGES, "auto"],
        help="the page's language (auto: the tablet browser's; the default)",
    )  # fmt: skip
    page.add_argument(
        "--followup-at", type=int, metavar="RATING",
        help="ask 'what went wrong?' after a rating at or below this (0: never, -1 on an "
        "NPS kiosk; default: the lower half of the scale, 0..6 on an NPS kiosk)",
    )  # fmt: skip
    page.add_argument(
        "--followup-reasons", type=_reason_list, metavar="ID,ID,...",
        help="the choices of the follow-up question (default: queue,staff,product,"
        "cleanliness,price,other); ids of lower-case letters, digits and '_'",
    )  # fmt: skip


def _page_changes(args: argparse.Namespace) -> dict[str, object]:
    changes: dict[str, object] = {}
    if args.question is not None:
        changes["question"] = args.question or None  # --question "" goes back to the default
    if args.language is not None:
        changes["language"] = None if args.language == "auto" else args.language
    if args.followup_at is not None:
        changes["followup_max_rating"] = args.followup_at
    if args.followup_reasons is not None:
        changes["followup_reasons"] = args.followup_reasons
    return changes


def _describe_page(kiosk: Kiosk) -> str:
    question = repr(kiosk.question) if kiosk.question else "default question"
    language = kiosk.language or "browser's language"
    level = kiosk.followup_level
    followup = (
        f"follow-up at <= {level}: {','.join(kiosk.reasons)}"
        if level > never_followup(kiosk.scale)
        else "no follow-up"
    )
    return f"scale {kiosk.scale}, {question}, {language}, {followup}"


def _reason_list(text: str) -> list[str]:
    reasons = [reason.strip() for reason in text.split(",") if reason.strip()]
    if not reasons:
        raise argparse.ArgumentTypeError("give at least one reason id")
    return reasons


def _minutes(text: str) -> timedelta:
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not 0 < minutes <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError("must be more than 0 and at most a week (10080)")
    return timedelta(minutes=minutes)

"""The device registry: stores, kiosks and cameras, each device with its own token,
and the operators whose tokens open the read APIs (docs/api.md, Authentication).

The registry is a YAML file that operators edit with ``kioskpulse devices ...``.
Tokens are stored only as SHA-256 hashes. A token is 256 random bits, so a fast
unsalted hash cannot be attacked by dictionary and lets the API find the device
of a token in O(1) without keeping any token in clear.

Exceptions::

    RegistryError (ValueError)     a change that would make the registry inconsistent
    RegistryFileError (OSError)    the file cannot be read or is not a valid registry
    AuthenticationError            a request's token does not let it act as the device
      ├─ UnknownToken              no active device (or operator) has this token
      └─ WrongDevice               the token is valid, but belongs to another device
    PairingError                   a pairing code cannot be exchanged for a token
      ├─ UnknownPairingCode        no kiosk has this code
      └─ PairingCodeSpent          the code was used, has expired, or its kiosk is revoked
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from kioskpulse.events import (
    DEFAULT_FOLLOWUP_REASONS,
    NPS_SCALE,
    CameraRole,
    DeviceId,
    DisplayLabel,
    KioskZone,
    ReasonId,
    Scale,
    UtcDatetime,
    describe_ratings,
    ratings_of,
)

__all__ = [
    "KIOSK_LANGUAGES",
    "PAIRING_ALPHABET",
    "UNCHANGED",
    "AuthenticationError",
    "Camera",
    "Device",
    "Kiosk",
    "Operator",
    "PairingCode",
    "PairingCodeSpent",
    "PairingError",
    "Registry",
    "RegistryError",
    "RegistryFile",
    "RegistryFileError",
    "Store",
    "Unchanged",
    "UnknownPairingCode",
    "UnknownToken",
    "WrongDevice",
    "edit_registry",
    "hash_token",
    "never_followup",
    "new_token",
    "normalise_pairing_code",
]

TOKEN_PREFIX = "kp_"  # noqa: S105 (a prefix that makes leaked tokens greppable)


class RegistryError(ValueError):
    """A change that would make the registry inconsistent."""


class RegistryFileError(OSError):
    """The registry file cannot be read, or does not hold a valid registry."""


class AuthenticationError(Exception):
    """A request's token does not let it act as the device it names."""


class UnknownToken(AuthenticationError):
    """No active device has this token: missing, mistyped or revoked."""


class WrongDevice(AuthenticationError):
    """The token is valid but belongs to another device."""


class PairingError(Exception):
    """A pairing code that cannot be exchanged for a token (the message says why)."""


class UnknownPairingCode(PairingError):
    """No kiosk has this code: mistyped, or replaced by a newer one."""


class PairingCodeSpent(PairingError):
    """The code was used already, has expired, or belongs to a revoked kiosk."""


#: Pairing codes: no 0/O or 1/I/L to misread; 8 of these 31 symbols are about 40 bits.
PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PAIRING_CODE_LENGTH = 8


def new_pairing_code() -> str:
    """``ABCD-EF23``: 40 random bits, short-lived, rate-limited at the API, used once."""
    symbols = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))
    half = PAIRING_CODE_LENGTH // 2
    return f"{symbols[:half]}-{symbols[half:]}"


def normalise_pairing_code(code: str) -> str:
    """What was typed, as stored: upper case, without dashes or spaces."""
    return "".join(char for char in code.upper() if char.isalnum())


def new_token() -> str:
    """A fresh device token (shown once, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The form in which a token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Store(_Entry):
    name: str | None = None


class PairingCode(_Entry):
    """A one-time code that a kiosk page exchanges for a fresh token of its kiosk."""

    code_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    expires_at: UtcDatetime
    used_at: UtcDatetime | None = None


class _DeviceEntry(_Entry):
    store: DeviceId
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    revoked: bool = False


#: Languages of the kiosk page (kiosk_api/kiosk_page/i18n.js).
KioskLanguage = Literal["en", "ru", "lv"]
KIOSK_LANGUAGES: tuple[str, ...] = ("en", "ru", "lv")

#: The question a kiosk page asks (its own text; the page translates only its default).
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def default_followup_max_rating(scale: int) -> int:
    """Ask the follow-up after the lower half of the scale: 1 of 2 or 3, 1–2 of 4 or 5;
    after a detractor's score (0..6) on an NPS kiosk."""
    return 6 if scale == NPS_SCALE else scale // 2


def never_followup(scale: int) -> int:
    """The follow-up level that never asks: one below the scale's lowest rating
    (0 on a smiley kiosk, -1 on an NPS kiosk, whose 0 is a score)."""
    return ratings_of(scale)[0] - 1


class Kiosk(_DeviceEntry):
    scale: Scale = 4
    question: Question | None = None
    language: KioskLanguage | None = Field(None, description="None: the browser's language")
    followup_max_rating: int | None = Field(
        None,
        ge=-1,
        description="ask why at or below this rating; below the lowest rating (0 on smiley "
        "kiosks, -1 on NPS ones) never; None: default",
    )
    followup_reasons: list[ReasonId] | None = Field(
        None, min_length=1, max_length=12, description="None: DEFAULT_FOLLOWUP_REASONS"
    )
    pairing: PairingCode | None = None

    @model_validator(mode="after")
    def _followup_fits_scale(self) -> Self:
        level, scale = self.followup_max_rating, describe_ratings(self.scale)
        if level is not None and level > ratings_of(self.scale)[-1]:
            raise ValueError(f"follow-up level {level} is above the scale {scale}")
        if level is not None and level < never_followup(self.scale):
            raise ValueError(
                f"follow-up level {level} is below the scale {scale} "
                f"({never_followup(self.scale)}: never)"
            )
        if self.followup_reasons is not None and len(set(self.followup_reasons)) != len(
            self.followup_reasons
        ):
            raise ValueError("follow-up reasons must not repeat")
        return self

    @property
    def followup_level(self) -> int:
        if self.followup_max_rating is None:
            return default_followup_max_rating(self.scale)
        return self.followup_max_rating

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.followup_reasons is None:
            return DEFAULT_FOLLOWUP_REASONS
        return tuple(self.followup_reasons)


#: The smallest face a camera may be set to look for, and the largest (pixels of its frames).
MinFacePx = Annotated[int, Field(ge=12, le=1000)]


class Camera(_DeviceEntry):
    role: CameraRole
    kiosk: DeviceId | None = None
    #: The smallest face to look for in this camera's frames; None: the vision stage's
    #: default for its role (KIOSKPULSE_VISION_FLOOR_MIN_FACE_PX / ..._KIOSK_...).
    min_face_px: MinFacePx | None = None
    #: A floor camera's view of a kiosk: the rectangle of its frames where a presser
    #: stands (issue 14); the kiosk must be in the camera's store. None: no kiosk in view.
    kiosk_zone: KioskZone | None = None
    #: What a display camera looks at (issue 16): stamped on its faces; relabelled when
    #: the display changes (``set-camera --display``).
    display: DisplayLabel | None = None

    @model_validator(mode="after")
    def _kiosk_only_for_kiosk_role(self) -> Self:
        if self.role == "display" and self.display is None:
            raise ValueError("a camera with role 'display' needs the label of its display")
        if self.role != "display" and self.display is not None:
            raise ValueError("only a display camera has a display label")
        if self.role == "kiosk" and self.kiosk is None:
            raise ValueError("a camera with role 'kiosk' needs the id of its kiosk")
        if self.role != "kiosk" and self.kiosk is not None:
            raise ValueError(f"a {self.role} camera belongs to no kiosk")
        if self.role != "floor" and self.kiosk_zone is not None:
            raise ValueError(
                "only a floor camera has a kiosk zone (a kiosk camera's faces are its kiosk's)"
            )
        return self


class Unchanged(Enum):
    """The value of a setting that ``Registry.configure_camera`` leaves as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class Operator(_Entry):
    """A person or system reading the APIs (exporter JSON); bound to no store."""

    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    revoked: bool = False


class Device(BaseModel):
    """An authenticated device, as the API sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Literal["kiosk", "camera"]
    store_id: str
    scale: int = 4
    role: CameraRole | None = None
    kiosk_id: str | None = None
    # A kiosk's page: its question, language and follow-up (kiosk_api/routes/kiosk_page.py).
    question: str | None = None
    language: KioskLanguage | None = None
    followup_max_rating: int = 0
    followup_reasons: tuple[str, ...] = ()
    # A camera's smallest face (vision), stamped on its frames.
    min_face_px: int | None = None
    # A floor camera's kiosk zone: stamped on its frames, and on its observations' faces.
    kiosk_zone: KioskZone | None = None
    # A display camera's label: stamped on its frames and its observations' faces.
    display: str | None = None


class Registry(_Entry):
    """The whole registry file."""

    stores: dict[DeviceId, Store] = Field(default_factory=dict)
    kiosks: dict[DeviceId, Kiosk] = Field(default_factory=dict)
    cameras: dict[DeviceId, Camera] = Field(default_factory=dict)
    operators: dict[DeviceId, Operator] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if clash := self.kiosks.keys() & self.cameras.keys():
            raise ValueError(f"ids used by both a kiosk and a camera: {sorted(clash)}")
        # One namespace, so that ``revoke NAME`` is never ambiguous.
        if clash := self.operators.keys() & (self.kiosks.keys() | self.cameras.keys()):
            raise ValueError(f"names used by both an operator and a device: {sorted(clash)}")
        for kind, devices in (("kiosk", self.kiosks), ("camera", self.cameras)):
            for device_id, entry in devices.items():
                if entry.store not in self.stores:
                    raise ValueError(f"{kind} {device_id}: unknown store {entry.store!r}")
        for camera_id, camera in self.cameras.items():
            if camera.kiosk_zone is not None:
                zone_kiosk = self.kiosks.get(camera.kiosk_zone.kiosk_id)
                if zone_kiosk is None or zone_kiosk.store != camera.store:
                    raise ValueError(
                        f"camera {camera_id}: the kiosk of its kiosk zone, "
                        f"{camera.kiosk_zone.kiosk_id!r}, is not a kiosk of store {camera.store}"
                    )
            if camera.kiosk is None:
                continue
            kiosk = self.kiosks.get(camera.kiosk)
            if kiosk is None:
                raise ValueError(f"camera {camera_id}: unknown kiosk {camera.kiosk!r}")
            if kiosk.store != camera.store:
                raise ValueError(
                    f"camera {camera_id} is in store {camera.store} "
                    f"but its kiosk {camera.kiosk} is in store {kiosk.store}"
                )
        return self

    # ----------------------------------------------------------------- reading

    def device(self, device_id: str) -> Device | None:
        """The active (not revoked) device with that id."""
        if (kiosk := self.kiosks.get(device_id)) and not kiosk.revoked:
            return Device(
                id=device_id,
                kind="kiosk",
                store_id=kiosk.store,
                scale=kiosk.scale,
                question=kiosk.question,
                language=kiosk.language,
                followup_max_rating=kiosk.followup_level,
                followup_reasons=kiosk.reasons,
            )
        if (camera := self.cameras.get(device_id)) and not camera.revoked:
            return Device(
                id=device_id,
                kind="camera",
                store_id=camera.store,
                role=camera.role,
                kiosk_id=camera.kiosk,
                min_face_px=camera.min_face_px,
                kiosk_zone=camera.kiosk_zone,
                display=camera.display,
            )
        return None

    def active_devices(self) -> dict[str, tuple[Device, str]]:
        """Device id → (active device, its token hash), for authentication."""
        active: dict[str, tuple[Device, str]] = {}
        for device_id, entry in (*self.kiosks.items(), *self.cameras.items()):
            device = self.device(device_id)
            if device is not None:
                active[device_id] = (device, entry.token_sha256)
        return active

    def active_operators(self) -> dict[str, str]:
        """Token hash → name of every operator not revoked, for authentication."""
        return {op.token_sha256: name for name, op in self.operators.items() if not op.revoked}

    # ----------------------------------------------------------------- changes

    def add_store(self, store_id: str, name: str | None = None) -> None:
        if store_id in self.stores:
            raise RegistryError(f"store {store_id} already exists")
        self._check_id(store_id)
        self.stores[store_id] = Store(name=name)

    def add_kiosk(self, kiosk_id: str, store_id: str, scale: int = 4) -> str:
        """Register a kiosk; returns its token."""
        self._check_new_device(kiosk_id, store_id)
        token = new_token()
        self.kiosks[kiosk_id] = Kiosk(store=store_id, scale=scale, token_sha256=hash_token(token))
        return token

    def add_camera(
        self,
        camera_id: str,
        store_id: str,
        role: CameraRole,
        kiosk_id: str | None = None,
        *,
        min_face_px: int | None = None,
        kiosk_zone: KioskZone | None = None,
        display: str | None = None,
    ) -> str:
        """Register a camera; returns its token."""
        self._check_new_device(camera_id, store_id)
        if kiosk_id is not None:
            self._check_kiosk_of_store(kiosk_id, store_id)
        token = new_token()
        try:
            camera = Camera(
                store=store_id,
                role=role,
                kiosk=kiosk_id,
                min_face_px=min_face_px,
                kiosk_zone=kiosk_zone,
                display=display,
                token_sha256=hash_token(token),
            )
        except ValidationError as exc:
            raise RegistryError(_first_error(exc)) from None
        if kiosk_zone is not None:
            self._check_kiosk_of_store(kiosk_zone.kiosk_id, store_id, "kiosk zone: ")
        self.cameras[camera_id] = camera
        return token

    def _check_kiosk_of_store(self, kiosk_id: str, store_id: str, context: str = "") -> None:
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            raise RegistryError(f"{context}kiosk {kiosk_id} does not exist")
        if kiosk.store != store_id:
            raise RegistryError(
                f"{context}kiosk {kiosk_id} is in store {kiosk.store}, not {store_id}"
            )

    def add_operator(self, name: str) -> str:
        """Register an operator (read APIs); returns their token."""
        if name in self.operators or name in self.kiosks or name in self.cameras:
            raise RegistryError(f"name {name} is already taken")
        self._check_id(name)
        token = new_token()
        self.operators[name] = Operator(token_sha256=hash_token(token))
        return token

    def configure_kiosk(self, kiosk_id: str, **changes: object) -> Kiosk:
        """Change a kiosk's page settings (question, language, follow-up) or scale."""
        kiosk = self._kiosk(kiosk_id)
        try:
            changed = Kiosk.model_validate(kiosk.model_dump() | changes)
        except ValidationError as exc:
            raise RegistryError(f"kiosk {kiosk_id}: {_first_error(exc)}") from None
        self.kiosks[kiosk_id] = changed
        return changed

    def configure_camera(
        self,
        camera_id: str,
        *,
        min_face_px: int | Unchanged | None = UNCHANGED,
        kiosk_zone: KioskZone | Unchanged | None = UNCHANGED,
        display: str | Unchanged = UNCHANGED,
    ) -> Camera:
        """Set a camera's smallest face (None: its role's default), its kiosk zone
        (None: none) and a display camera's label (a relabel: faces from now on carry the
        new one); what is left UNCHANGED stays as it is."""
        camera = self.cameras.get(camera_id)
        if camera is None:
            raise RegistryError(f"no camera with id {camera_id}")
        changes: dict[str, object] = {}
        if not isinstance(min_face_px, Unchanged):
            changes["min_face_px"] = min_face_px
        if not isinstance(kiosk_zone, Unchanged):
            changes["kiosk_zone"] = kiosk_zone
        if not isinstance(display, Unchanged):
            changes["display"] = display
        try:
            changed = Camera.model_validate(camera.model_dump() | changes)
        except ValidationError as exc:
            raise RegistryError(f"camera {camera_id}: {_first_error(exc)}") from None
        if not isinstance(kiosk_zone, Unchanged) and kiosk_zone is not None:
            self._check_kiosk_of_store(
                kiosk_zone.kiosk_id, camera.store, f"camera {camera_id}: kiosk zone: "
            )
        self.cameras[camera_id] = changed
        return changed

    def start_pairing(self, kiosk_id: str, now: datetime, valid_for: timedelta) -> str:
        """A one-time code for the kiosk's page; replaces any earlier code of the kiosk."""
        kiosk = self._kiosk(kiosk_id)
        if kiosk.revoked:
            raise RegistryError(f"kiosk {kiosk_id} is revoked: it cannot be paired")
        code = new_pairing_code()
        kiosk.pairing = PairingCode(
            code_sha256=hash_token(normalise_pairing_code(code)), expires_at=now + valid_for
        )
        return code

    def redeem_pairing(self, code: str, now: datetime) -> tuple[str, str]:
        """Exchange a pairing code for (kiosk id, a fresh token); the kiosk's old token ends.

        A fresh token because only hashes are stored: the page cannot be given the
        kiosk's current one. The used code stays, marked, so that a second use is told
        "already used" rather than "unknown"."""
        digest = hash_token(normalise_pairing_code(code))
        for kiosk_id, kiosk in self.kiosks.items():
            pairing = kiosk.pairing
            if pairing is None or not hmac.compare_digest(pairing.code_sha256, digest):
                continue
            again = f"create a new one with 'kioskpulse devices pair {kiosk_id}'"
            if pairing.used_at is not None:
                used = pairing.used_at.strftime("%Y-%m-%d %H:%M UTC")
                raise PairingCodeSpent(f"this pairing code was already used ({used}); {again}")
            if now >= pairing.expires_at:
                expired = pairing.expires_at.strftime("%Y-%m-%d %H:%M UTC")
                raise PairingCodeSpent(f"this pairing code expired at {expired}; {again}")
            if kiosk.revoked:
                raise PairingCodeSpent(f"kiosk {kiosk_id} is revoked: it cannot be paired")
            token = new_token()
            kiosk.token_sha256 = hash_token(token)
            kiosk.pairing = pairing.model_copy(update={"used_at": now})
            return kiosk_id, token
        raise UnknownPairingCode(
            "unknown pairing code: check what was typed, or create a new one with "
            "'kioskpulse devices pair KIOSK'"
        )

    def _kiosk(self, kiosk_id: str) -> Kiosk:
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            raise RegistryError(f"no kiosk with id {kiosk_id}")
        return kiosk

    def revoke(self, device_id: str) -> None:
        """Revoke a device's or an operator's token; the id stays taken."""
        entry: Kiosk | Camera | Operator | None = (
            self.kiosks.get(device_id)
            or self.cameras.get(device_id)
            or self.operators.get(device_id)
        )
        if entry is None:
            raise RegistryError(f"no kiosk, camera or operator with id {device_id}")
        entry.revoked = True

    def _check_new_device(self, device_id: str, store_id: str) -> None:
        if store_id not in self.stores:
            raise RegistryError(f"store {store_id} does not exist (add it with devices add-store)")
        if device_id in self.kiosks or device_id in self.cameras or device_id in self.operators:
            raise RegistryError(f"device id {device_id} is already taken")
        self._check_id(device_id)

    @staticmethod
    def _check_id(value: str) -> None:
        class _Id(BaseModel):
            id: DeviceId

        try:
            _Id(id=value)
        except ValidationError:
            raise RegistryError(
                f"invalid id {value!r}: use 1-64 letters, digits, '.', '_' or '-'"
            ) from None

    # ----------------------------------------------------------------- files

    @classmethod
    def load(cls, path: Path) -> Registry:
        """Read a registry file; a missing file is an empty registry."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise RegistryFileError(f"cannot read devices file {path}: {exc}") from exc
        try:
            data = yaml.safe_load(text) or {}
            return cls.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            raise RegistryFileError(f"devices file {path} is not a valid registry: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write atomically, so a running API never reads half a file."""
        text = yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@contextlib.contextmanager
def edit_registry(path: Path) -> Iterator[Registry]:
    """Load, let the caller change, save; serialised against concurrent editors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        registry = Registry.load(path)
        yield registry
        registry.save(path)


class RegistryFile:
    """The registry of a file, re-read when the file changes (revocations act at once).

    The file's mtime is checked at most every ``check_interval`` seconds, so a request
    costs one ``stat`` per interval at worst. A file that turns invalid is reported
    and the last good registry kept.
    """

    def __init__(self, path: Path, check_interval: float = 1.0) -> None:
        self.path = path
        self._check_interval = check_interval
        self._lock = threading.Lock()
        self._mtime_ns: int | None = None
        self._next_check = 0.0
        self._registry = Registry()
        self._by_id: dict[str, tuple[Device, str]] = {}
        self._owner_of_hash: set[str] = set()
        self._operator_of_hash: dict[str, str] = {}
        self.last_error: str | None = None
        self._reload(force=True)

    @property
    def registry(self) -> Registry:
        self._maybe_reload()
        return self._registry

    def authenticate(self, device_id: str, token: str) -> Device:
        """The device ``device_id`` if ``token`` is its token, else an AuthenticationError."""
        self._maybe_reload()
        digest = hash_token(token)
        known = self._by_id.get(device_id)
        if known is not None and hmac.compare_digest(digest, known[1]):
            return known[0]
        # A set lookup on the hash of a random token leaks nothing usable through timing.
        if digest in self._owner_of_hash:
            raise WrongDevice(f"this token belongs to another device than {device_id}")
        raise UnknownToken("unknown or revoked token")

    def authenticate_operator(self, token: str) -> str:
        """The name of the operator whose token this is, else UnknownToken."""
        self._maybe_reload()
        # Looked up by the hash of a 256-bit random token: timing reveals nothing usable
        # (the same argument as for devices), and no token is kept in clear.
        name = self._operator_of_hash.get(hash_token(token))
        if name is None:
            raise UnknownToken("unknown or revoked operator token")
        return name

    def reload(self) -> None:
        """Read the file now (after this process changed it, e.g. by pairing a kiosk)."""
        self._reload(force=True)

    def _maybe_reload(self) -> None:
        if time.monotonic() >= self._next_check:
            self._reload(force=False)

    def _reload(self, *, force: bool) -> None:
        with self._lock:
            self._next_check = time.monotonic() + self._check_interval
            try:
                mtime: int | None = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if not force and mtime == self._mtime_ns:
                return
            try:
                registry = Registry.load(self.path)
            except RegistryFileError as exc:
                if force:
                    raise
                self.last_error = str(exc)
                return
            self._registry, self._by_id = registry, registry.active_devices()
            self._owner_of_hash = {digest for _, digest in self._by_id.values()}
            self._operator_of_hash = registry.active_operators()
            self._mtime_ns, self.last_error = mtime, None

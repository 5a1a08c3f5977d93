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
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kioskpulse.events import CameraRole, DeviceId

__all__ = [
    "AuthenticationError",
    "Camera",
    "Device",
    "Kiosk",
    "Operator",
    "Registry",
    "RegistryError",
    "RegistryFile",
    "RegistryFileError",
    "Store",
    "UnknownToken",
    "WrongDevice",
    "edit_registry",
    "hash_token",
    "new_token",
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


class _DeviceEntry(_Entry):
    store: DeviceId
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    revoked: bool = False


class Kiosk(_DeviceEntry):
    scale: int = Field(4, ge=2, le=5)


class Camera(_DeviceEntry):
    role: CameraRole
    kiosk: DeviceId | None = None

    @model_validator(mode="after")
    def _kiosk_only_for_kiosk_role(self) -> Self:
        if self.role == "kiosk" and self.kiosk is None:
            raise ValueError("a camera with role 'kiosk' needs the id of its kiosk")
        if self.role == "floor" and self.kiosk is not None:
            raise ValueError("a floor camera belongs to no kiosk")
        return self


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
            return Device(id=device_id, kind="kiosk", store_id=kiosk.store, scale=kiosk.scale)
        if (camera := self.cameras.get(device_id)) and not camera.revoked:
            return Device(
                id=device_id,
                kind="camera",
                store_id=camera.store,
                role=camera.role,
                kiosk_id=camera.kiosk,
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
        self, camera_id: str, store_id: str, role: CameraRole, kiosk_id: str | None = None
    ) -> str:
        """Register a camera; returns its token."""
        self._check_new_device(camera_id, store_id)
        if kiosk_id is not None:
            kiosk = self.kiosks.get(kiosk_id)
            if kiosk is None:
                raise RegistryError(f"kiosk {kiosk_id} does not exist")
            if kiosk.store != store_id:
                raise RegistryError(f"kiosk {kiosk_id} is in store {kiosk.store}, not {store_id}")
        token = new_token()
        try:
            camera = Camera(
                store=store_id, role=role, kiosk=kiosk_id, token_sha256=hash_token(token)
            )
        except ValidationError as exc:
            raise RegistryError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        self.cameras[camera_id] = camera
        return token

    def add_operator(self, name: str) -> str:
        """Register an operator (read APIs); returns their token."""
        if name in self.operators or name in self.kiosks or name in self.cameras:
            raise RegistryError(f"name {name} is already taken")
        self._check_id(name)
        token = new_token()
        self.operators[name] = Operator(token_sha256=hash_token(token))
        return token

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

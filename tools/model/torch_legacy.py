"""Read a state dict saved by ``torch.save`` in its legacy (pre-1.6, non-zip) format, no torch.

facenet-pytorch ships its MTCNN weights that way. The file is a sequence of pickles: a magic
number, a protocol version, system information, the object itself (tensors stand in for
``torch._utils._rebuild_tensor_v2`` calls on storages named by persistent ids), the list of
storage keys, then each storage's raw bytes after an 8-byte little-endian element count.
Only what a plain float state dict needs is understood; anything else is refused by name.
"""

from __future__ import annotations

import io
import pickle  # the classes a file may name are an explicit allow-list below
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LegacyFormatError", "load_state_dict"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
#: torch storage classes that may appear, and their element type.
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
}


class LegacyFormatError(ValueError):
    """The file is not a legacy torch state dict of float tensors."""


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: _StorageRef, offset: int, size: Any, stride: Any, *_ignored: Any
) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise LegacyFormatError(f"unexpected class {module}.{name} in the pickle")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise LegacyFormatError(f"unexpected persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise LegacyFormatError(f"unexpected storage type {storage_type!r}")
        return _StorageRef(str(key), STORAGE_DTYPES[storage_type.name])


def load_state_dict(path: Path) -> dict[str, NDArray[np.float32]]:
    """The tensors of the state dict at ``path`` as float32 arrays, by parameter name."""
    stream = io.BytesIO(path.read_bytes())
    if pickle.load(stream) != MAGIC_NUMBER:  # noqa: S301 -- plain ints, checked
        raise LegacyFormatError(f"{path}: not a legacy torch file (magic number)")
    if pickle.load(stream) != PROTOCOL_VERSION:  # noqa: S301
        raise LegacyFormatError(f"{path}: unknown torch protocol version")
    sys_info = pickle.load(stream)  # noqa: S301 -- a dict of plain values
    if not sys_info.get("little_endian", False):
        raise LegacyFormatError(f"{path}: big-endian storages are not supported")
    state = _Unpickler(stream).load()
    keys = pickle.load(stream)  # noqa: S301 -- a list of strings
    refs = [value for value in state.values() if isinstance(value, _TensorRef)]
    dtypes = {ref.storage.key: ref.storage.dtype for ref in refs}
    storages: dict[str, NDArray[Any]] = {}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        dtype = dtypes[str(key)]
        storages[str(key)] = np.frombuffer(stream.read(count * dtype.itemsize), dtype=dtype)
    tensors: dict[str, NDArray[np.float32]] = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise LegacyFormatError(f"{path}: entry {name!r} is not a tensor")
        flat = storages[value.storage.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[value.offset :],
            shape=value.size,
            strides=tuple(step * itemsize for step in value.stride),
        )
        tensors[name] = np.array(view, dtype=np.float32)
    return tensors

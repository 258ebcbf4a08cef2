"""Read MNIST from the user's own IDX files, because nothing may be downloaded at run time.

The IDX format (LeCun's MNIST page): two zero bytes, a type code, the number of dimensions,
one big-endian int32 size per dimension, then the data in C order, big-endian. Files may be
gzip-compressed (detected from their content, not their name). Every malformed file gets an
error naming the file and what was expected, because a silently misread dataset shows up
only much later as a mysteriously bad accuracy.
"""

import gzip
from pathlib import Path

import numpy as np

from ..errors import LsnnBioError
from ..files import write_atomically
from .base import MissingDataError

#: IDX type code -> big-endian numpy dtype (all codes of the format).
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four standard MNIST file names (each may also end in ``.gz``).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "t10k_images": "t10k-images-idx3-ubyte",
    "t10k_labels": "t10k-labels-idx1-ubyte",
}


class IdxFormatError(LsnnBioError, ValueError):
    """An IDX file is malformed or does not hold what it should (the message names the file)."""


def read_idx(path) -> np.ndarray:
    """The array stored in one IDX file (plain or gzip), in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such IDX file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise IdxFormatError(f"{path}: looks gzip-compressed but cannot be decompressed ({error})") from None

    if len(raw) < 4:
        raise IdxFormatError(f"{path}: {len(raw)} bytes is too short for the 4-byte IDX magic number")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IdxFormatError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex().upper()} (expected 0x0000 then a type code in {codes}, "
            "then the number of dimensions; e.g. 0x00000803 for MNIST images)"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    if ndim == 0:
        raise IdxFormatError(f"{path}: the IDX header declares 0 dimensions (expected at least 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(
            f"{path}: truncated header: {ndim} dimension sizes need {header} bytes, the file has {len(raw)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    present = len(raw) - header
    if present < expected:
        raise IdxFormatError(
            f"{path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes after the header, found {present}"
        )
    if present > expected:
        raise IdxFormatError(
            f"{path}: {present - expected} unexpected bytes after the data of shape {shape} (is this really one IDX file?)"
        )
    data = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def find_mnist_file(folder, stem, hint="") -> Path:
    """The file ``stem`` or ``stem.gz`` in ``folder`` (the two ways MNIST is distributed)."""
    folder = Path(folder)
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    raise MissingDataError(f"{folder / stem} (or {stem}.gz) not found" + (f"; {hint}" if hint else ""))


def load_mnist_pair(folder, prefix, hint=""):
    """Images (N, rows, cols) uint8 and labels (N,) int64 from ``{prefix}-images-idx3-ubyte`` and
    ``{prefix}-labels-idx1-ubyte`` (``prefix`` is ``train`` or ``t10k``), checked on load because a
    swapped or mismatched file would otherwise train on garbage."""
    image_path = find_mnist_file(folder, MNIST_FILES[f"{prefix}_images"], hint)
    label_path = find_mnist_file(folder, MNIST_FILES[f"{prefix}_labels"], hint)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IdxFormatError(
            f"{image_path}: expected MNIST images, a 3-D uint8 IDX array (count, rows, cols), "
            f"found {images.ndim}-D {images.dtype.name} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise IdxFormatError(
            f"{label_path}: expected MNIST labels, a 1-D integer IDX array (count,), "
            f"found {labels.ndim}-D {labels.dtype.name} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels (expected equal counts)"
        )
    if len(labels) == 0:
        raise IdxFormatError(f"{label_path}: holds no examples")
    if labels.min() < 0 or labels.max() > 9:
        raise IdxFormatError(
            f"{label_path}: labels must be digits 0-9, found values in [{labels.min()}, {labels.max()}]"
        )
    return images, labels.astype(np.int64)


def write_idx(path, array):
    """Write a uint8 array in the IDX format (the inverse of ``read_idx`` for MNIST-like data)."""
    import struct

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    return write_atomically(path, header + array.tobytes())

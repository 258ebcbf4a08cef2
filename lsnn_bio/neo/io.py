"""Neo files, the format chosen by extension: written whole or not at all, read back as written.

What each format keeps, as :func:`read_block` returns it (tested in ``tests/test_neo_export.py``):

* ``.nix`` (``NixIO``): everything. NixIO's own ``nix_name`` annotations are removed (from
  the written block too), ``rec_datetime`` comes back as UTC (NIX stores whole seconds).
  NixIO writes every train as its own DataArray: slow and large for many trials (about
  10 ms and 35 kB per train), where ``.nwb`` suits better.
* ``.nwb``: written natively (:mod:`lsnn_bio.neo.nwb`): pynwb, DANDI tools and plain Neo
  read spikes, trials, signals and epochs with their units; lsnn-bio's reader also restores
  the Neo layout (times equal to float precision after the trip through seconds). An NWB
  file lsnn-bio did not write is read with Neo's ``NWBIO``.
* ``.mat`` (``NeoMatlabIO``): data, names, units and annotations natively; array
  annotations and exact labels from the layout stored beside them (:mod:`lsnn_bio.neo.repair`).
* ``.pkl`` (``PickleIO``): everything, exactly, but reading unpickles, which runs whatever
  code the file's author put in it: refused unless ``allow_pickle=True``.

Any other extension Neo reads (a recording: ``.smr``, ``.abf``, ...) is read with
``neo.io.get_io`` and returned as that IO gives it.
"""

import json
import logging
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import LsnnBioError
from ..files import write_atomically
from . import nwb, repair

FORMATS = {".nix": "NixIO", ".nwb": "NWB", ".pkl": "PickleIO", ".mat": "NeoMatlabIO"}
EXTENSIONS = tuple(FORMATS)
LAYOUT_KEY = "lsnn_bio_layout"  # where .mat files keep the layout (a block annotation)
_PICKLES = (".pkl", ".pickle")


class NeoFormatError(LsnnBioError, ValueError):
    """A file extension no Neo IO handles."""


class NeoFileError(LsnnBioError, OSError):
    """A Neo file that could not be written or read."""


class NeoFileNotFoundError(NeoFileError, FileNotFoundError):
    """A file to read that does not exist."""


class UntrustedFileError(NeoFileError):
    """A file whose reading could run code (a pickle), not read unless the caller trusts it."""


def write_block(block, path):
    """Write ``block`` in the format of ``path``'s extension; the file appears whole or not at all."""
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in FORMATS:
        raise NeoFormatError(
            f"{path}: unknown Neo format '{extension or '(no extension)'}' (accepted: {', '.join(EXTENSIONS)})"
        )
    try:
        with _quiet(), _utc_rec_datetime(block):
            write_atomically(path, lambda temporary: _WRITERS[extension](block, temporary))
    except LsnnBioError:
        raise
    except Exception as error:
        raise NeoFileError(f"{path}: writing {FORMATS[extension]} failed: {type(error).__name__}: {error}") from error
    return path


def read_block(path, *, allow_pickle=False):
    """The first Block in a Neo-readable file, with the layout lsnn-bio wrote restored.

    ``allow_pickle``: read ``.pkl`` files too. Unpickling runs any code the file holds, so pass
    it only for files you made or trust.
    """
    import neo.io

    path = Path(path)
    if not path.exists():
        raise NeoFileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise NeoFileError(f"{path}: is a folder, not a Neo file")
    extension = path.suffix.lower()
    if extension in _PICKLES and not allow_pickle:
        raise UntrustedFileError(_pickle_refusal(path))
    try:
        with _quiet():
            if extension in _READERS:
                block = _READERS[extension](path)
            else:
                io = _other_io(path)
                if isinstance(io, neo.io.PickleIO) and not allow_pickle:
                    raise UntrustedFileError(_pickle_refusal(path))
                blocks = [io.read_block()] if hasattr(io, "read_block") else io.read()
                block = blocks[0] if blocks else None
    except LsnnBioError:
        raise
    except Exception as error:
        what = FORMATS.get(extension, "Neo")
        raise NeoFileError(f"{path}: reading with {what} failed: {type(error).__name__}: {error}") from error
    if block is None:
        raise NeoFileError(f"{path}: the file holds no Neo Block")
    if extension in FORMATS:
        _normalise(block, extension)
    return block


def _pickle_refusal(path):
    return (
        f"{path}: not reading a pickle: unpickling runs whatever code its author put in the file "
        "(pass allow_pickle=True or --allow-pickle only for a file you trust; .nix, .nwb and .mat carry no code)"
    )


# ----------------------------------------------------------------------------- one function per format


def _write_nix(block, path):
    import neo.io

    with _without_new_nix_names(block), neo.io.NixIO(str(path), mode="ow") as io:
        io.write_block(block)


def _write_mat(block, path):
    import neo.io

    with _annotated(block, **{LAYOUT_KEY: json.dumps(repair.describe(block))}):
        neo.io.NeoMatlabIO(str(path)).write_block(block)


def _write_pkl(block, path):
    import neo.io

    neo.io.PickleIO(str(path)).write_block(block)


def _read_nix(path):
    import neo.io

    with neo.io.NixIO(str(path), mode="ro") as io:
        blocks = io.read_all_blocks()
    return blocks[0] if blocks else None


def _read_nwb(path):
    import neo.io

    block = nwb.read(path)
    if block is not None:
        return block
    io = neo.io.NWBIO(str(path), mode="r")  # an NWB file from elsewhere
    try:
        blocks = io.read_all_blocks()
    finally:
        io.close()
    return blocks[0] if blocks else None


def _read_mat(path):
    import neo.io

    block = neo.io.NeoMatlabIO(str(path)).read_block()
    layout = repair.parse(block.annotations.pop(LAYOUT_KEY, None))
    if layout is not None:
        repair.restore(block, layout)
    return block


def _read_pkl(path):
    import neo.io

    return neo.io.PickleIO(str(path)).read_block()


_WRITERS = {".nix": _write_nix, ".nwb": nwb.write, ".mat": _write_mat, ".pkl": _write_pkl}
_READERS = {".nix": _read_nix, ".nwb": _read_nwb, ".mat": _read_mat, ".pkl": _read_pkl}


def _other_io(path):
    import neo.io

    try:
        return neo.io.get_io(str(path))
    except (OSError, ValueError):
        raise NeoFormatError(
            f"{path}: no Neo IO reads '{path.suffix or '(no extension)'}' files "
            f"(this package writes {', '.join(EXTENSIONS)}; Neo reads the formats in neo.io.iolist)"
        ) from None


# ----------------------------------------------------------------------------- helpers


@contextmanager
def _quiet():
    """Neo and pynwb warn about renames and deprecations they handle themselves."""
    neo_logger, root = logging.getLogger("Neo"), logging.getLogger()
    levels = neo_logger.level, root.level
    # NWBIO logs with logging.warning, which would configure the root logger for the whole
    # program if it had no handler yet.
    guard = logging.NullHandler()
    root.addHandler(guard)
    neo_logger.setLevel(logging.ERROR)
    root.setLevel(max(root.level, logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        neo_logger.setLevel(levels[0])
        root.setLevel(levels[1])
        root.removeHandler(guard)


@contextmanager
def _utc_rec_datetime(block):
    """Write ``rec_datetime`` as UTC whole seconds: NIX and MATLAB drop the time zone."""
    holders = [block, *block.segments]
    originals = [obj.rec_datetime for obj in holders]
    for obj, stamp in zip(holders, originals):
        if isinstance(stamp, datetime):
            aware = stamp if stamp.tzinfo else stamp.astimezone()
            obj.rec_datetime = aware.astimezone(UTC).replace(microsecond=0)
    try:
        yield
    finally:
        for obj, stamp in zip(holders, originals):
            obj.rec_datetime = stamp


@contextmanager
def _annotated(block, **annotations):
    saved = {k: block.annotations[k] for k in annotations if k in block.annotations}
    block.annotations.update(annotations)
    try:
        yield
    finally:
        for key in annotations:
            block.annotations.pop(key, None)
        block.annotations.update(saved)


def _neo_objects(block):
    yield block
    for segment in block.segments:
        yield segment
        for container in repair.CONTAINERS:
            yield from getattr(segment, container)
    yield from _all_groups(block.groups)


def _all_groups(groups):
    for group in groups:
        yield group
        yield from _all_groups(group.groups)


@contextmanager
def _without_new_nix_names(block):
    """NixIO stamps ``nix_name`` on every object it writes; leave the caller's block as it was."""
    before = {id(obj) for obj in _neo_objects(block) if "nix_name" in obj.annotations}
    try:
        yield
    finally:
        for obj in _neo_objects(block):
            if id(obj) not in before:
                obj.annotations.pop("nix_name", None)


def _normalise(block, extension):
    """Python scalars in annotations, UTC ``rec_datetime``: one shape whatever the format."""
    for obj in _neo_objects(block):
        if extension == ".nix":
            obj.annotations.pop("nix_name", None)
        for key, value in list(obj.annotations.items()):
            if isinstance(value, np.generic):
                obj.annotations[key] = value.item()
    for obj in [block, *block.segments]:
        stamp = obj.rec_datetime
        if isinstance(stamp, datetime):
            if stamp.tzinfo is None:
                # NIX returns local wall time, MATLAB the UTC wall time that was written.
                stamp = stamp.astimezone() if extension == ".nix" else stamp.replace(tzinfo=UTC)
            obj.rec_datetime = stamp.astimezone(UTC)

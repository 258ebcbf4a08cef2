"""Neo output in three parts: ``layout`` (simulator output -> a Block in PyNN's layout), ``io``
(files by extension) and ``nwb``/``repair`` (what NWB and MATLAB files need to hold it all)."""

from .io import (
    EXTENSIONS,
    FORMATS,
    NeoFileError,
    NeoFileNotFoundError,
    NeoFormatError,
    UntrustedFileError,
    read_block,
    write_block,
)
from .layout import NeoExportError, follow_trains, to_block

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "NeoExportError",
    "NeoFileError",
    "NeoFileNotFoundError",
    "NeoFormatError",
    "UntrustedFileError",
    "follow_trains",
    "read_block",
    "to_block",
    "write_block",
]

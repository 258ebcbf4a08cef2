"""Files that appear whole or not at all: written beside the target under a temporary name, then renamed.

A reader never sees half a file, an interrupted write leaves the old file as it was, and the new
file gets the permissions the umask allows (``mkstemp`` alone would give 0600). A temporary file is
named ``.NAME.PID.XXXXXXXX.tmpSUFFIX``; one left by a killed process (its PID no longer runs) is
removed by the next write of the same file.
"""

import os
import re
import tempfile
from pathlib import Path

from .errors import LsnnBioError


class OutputPathError(LsnnBioError, OSError):
    """An output path that cannot be written: a missing folder, a file in the way, no permission."""


class MissingFolderError(OutputPathError, FileNotFoundError):
    """The folder to write into does not exist."""


def cache_root():
    """The cache folder of compiled code (Brian2 binaries, the twin's spike kernels): ``$LSNN_BIO_CACHE``,
    ``$XDG_CACHE_HOME/lsnn-bio`` or ``~/.cache/lsnn-bio`` (not created here)."""
    if os.environ.get("LSNN_BIO_CACHE"):
        return Path(os.environ["LSNN_BIO_CACHE"]).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().absolute() / "lsnn-bio"


def check_writable(path):
    """``path`` as a Path if a file can be written there; else one line saying what is in the way."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder, not a file name")
    folder = path.parent
    if not folder.is_dir():
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise OutputPathError(f"{path}: {blocker} is a file, not a folder")
        raise MissingFolderError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: the folder {folder} is not writable")
    return path


def check_output_folder(path):
    """``path`` as a Path if it is a folder, or one that can be made, that this user can write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: is a file, not a folder")
    existing = next((p for p in [path, *path.parents] if p.exists()), Path.cwd())
    if not existing.is_dir():
        raise OutputPathError(f"{path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: the folder {existing} is not writable")
    return path


def write_atomically(path, content):
    """Write ``path`` whole or not at all and return it as a Path.

    ``content`` is bytes, a str (written as UTF-8), or a callable that writes the file whose
    path it is given (for libraries that open files by name, such as Neo's IOs or savefig).
    Whatever the callable raises propagates, after its temporary file is removed.
    """
    path = check_writable(path)
    remove_stale_temporaries(path)
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
    except OSError as error:
        raise OutputPathError(f"{path}: cannot create a file in {path.parent}: {error.strerror}") from error
    temporary = Path(name)
    try:
        if isinstance(content, (bytes, str)):
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content.encode() if isinstance(content, str) else content)
        else:
            os.close(descriptor)
            content(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def remove_stale_temporaries(path):
    """Remove the temporary files of ``path`` whose writing process is gone; return how many."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[^.]+" + re.escape(f".tmp{path.suffix}") + "$")
    removed = 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _running(int(match.group(1))):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def _running(pid):
    if pid == os.getpid():
        return True  # another thread of this process may be writing the same file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_folder(folder):
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

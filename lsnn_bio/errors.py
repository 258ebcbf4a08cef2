"""Errors meant for people: what was wrong, where, and what would be accepted."""

import os
import sys
from contextlib import contextmanager


class LsnnBioError(Exception):
    """Base class for every error this package raises on purpose."""


class DocumentError(LsnnBioError, ValueError):
    """A model or experiment document is invalid.

    The message names the file, the key path inside it (``populations.ALIF.size``)
    and, where possible, what would have been accepted.
    """

    def __init__(self, source, key, problem, accepted=None):
        self.source, self.key, self.problem, self.accepted = source, key, problem, accepted
        where = f"{source}" + (f", key '{key}'" if key else "")
        message = f"{where}: {problem}"
        if accepted:
            message += f" (accepted: {accepted})"
        super().__init__(message)


class UnsupportedConstruct(LsnnBioError, ValueError):
    """A Brian2 construct the twin cannot translate exactly.

    Raised instead of silently approximating: the message names the construct,
    the population or projection it appears in, and the supported alternative.
    """


@contextmanager
def one_line_errors(prog):
    """For scripts beside the CLI (the analysis recipes): an error meant for people, a file that cannot be written,
    Ctrl-C or a reader that stopped early (``| head``) ends in at most one line on stderr, never a traceback."""
    try:
        yield
    except LsnnBioError as error:
        raise SystemExit(f"{prog}: {error}") from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:
        # The reader is gone; point stdout at /dev/null so that Python's flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except OSError as error:  # e.g. --out in a folder that does not exist
        where = f"{error.filename}: " if error.filename else ""
        raise SystemExit(f"{prog}: {where}{error.strerror or error}") from None

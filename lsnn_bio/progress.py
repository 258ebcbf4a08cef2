"""Progress that tells the truth: one bar per loop over trials, started after the one-off work.

One-off work (compiling a binary, the twin's pass over every trial) prints its own line before
the bar starts, so the bar's rate and remaining time count only the loop it shows. Bars go to
stderr; they are off with a command's quiet or JSON flag and when stderr is not a terminal (a log
file gets the one-off lines, not a carriage-return animation).
"""

import sys

from tqdm import tqdm


def bar(total, desc, *, enabled=True, unit="trial"):
    """A tqdm bar over ``total`` items on stderr (off when ``enabled`` is False or stderr is no terminal)."""
    return tqdm(
        total=total, desc=desc, unit=unit, disable=None if enabled else True, file=sys.stderr, dynamic_ncols=True
    )


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written: a default bound at import time would keep
    writing to a stream that was redirected (and closed) since."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


STDERR = _Stderr()  # the default ``log`` of every command's library function


def say(log, text):
    """One line about one-off work, to ``log`` (a stream, or None for silence)."""
    if log is not None:
        print(text, file=log, flush=True)


class Above:
    """A stream whose lines appear above a running bar, for one-off work announced inside a loop."""

    def __init__(self, stream):
        self.stream = stream
        self._partial = ""

    def write(self, text):
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            tqdm.write(line, file=self.stream)

    def flush(self):
        self.stream.flush()

"""Progress that tells the truth: one bar per loop over trials, started after the one-off work.

One-off work (compiling a binary, the twin's pass over every trial) prints its own line before
the bar starts, so the bar's rate and remaining time count only the loop it shows. Bars go to
stderr and are off with a command's quiet or JSON flag. When stderr is not a terminal (a log file,
a batch job) a bar is a plain line at most once a minute instead of a carriage-return animation,
so an hour-long training leaves a readable trail and a loop of seconds leaves nothing.
"""

import sys
import time
from contextlib import contextmanager

from tqdm import tqdm

LOG_EVERY_S = 60.0
SILENCED = False  # inside ``silenced()``: a command's quiet flag reaches bars it does not create itself


@contextmanager
def silenced(on=True):
    """Every bar opened inside is off when ``on``: a command's quiet flag also covers one-off work, such as a task
    computing its features while a document is read. An inner ``silenced(False)`` does not turn bars back on; the
    previous setting returns on leaving."""
    global SILENCED
    before, SILENCED = SILENCED, SILENCED or bool(on)
    try:
        yield
    finally:
        SILENCED = before


def bar(total, desc, *, enabled=True, unit="trial", initial=0):
    """Progress over ``total`` items on stderr: a tqdm bar on a terminal, else ``LogLines``; off unless ``enabled``
    and outside ``silenced()``."""
    enabled = enabled and not SILENCED
    if enabled and not _is_terminal(sys.stderr):
        return LogLines(total, desc, unit=unit, initial=initial)
    return _Bar(
        total=total, desc=desc, unit=unit, initial=initial, disable=not enabled, file=sys.stderr, dynamic_ncols=True
    )


class _Bar(tqdm):
    """tqdm whose ``write`` goes where the bar goes, and nowhere when it is off: tqdm's own writes to stdout, which
    carries a command's result (``train`` prints its summary there as JSON)."""

    def write(self, text):
        if not self.disable:
            tqdm.write(text, file=sys.stderr)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LogLines:
    """tqdm's update/set_postfix/write/close for a log file: one line at most every ``LOG_EVERY_S``, and a last
    line at ``close`` if any was written (a short loop stays silent)."""

    def __init__(self, total, desc, unit="trial", initial=0, every_s=None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.every_s = LOG_EVERY_S if every_s is None else every_s
        self.postfix = ""
        self._initial = initial
        self._started = self._last = time.monotonic()
        self._reported = None  # the count of the last line written, None before the first

    def update(self, n=1):
        self.n += n
        if time.monotonic() - self._last >= self.every_s:
            self._line()

    def set_postfix(self, figures=None, refresh=True, **more):
        self.postfix = ", ".join(f"{k}={v}" for k, v in {**(figures or {}), **more}.items())

    def set_postfix_str(self, text):
        self.postfix = text

    def write(self, text):
        _print(text)

    def close(self):
        if self._reported is not None and self.n != self._reported:
            self._line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self):
        now = time.monotonic()
        elapsed = now - self._started
        done = self.n - self._initial
        of = f"/{self.total}" if self.total else ""
        rate = f", {elapsed / done:.3g} s/{self.unit}" if done else ""
        left = ""
        if done and self.total:
            left = f", about {_minutes((self.total - self.n) * elapsed / done)} left"
        figures = f" [{self.postfix}]" if self.postfix else ""
        _print(f"{self.desc}: {self.n}{of} {self.unit}s after {_minutes(elapsed)}{rate}{left}{figures}")
        self._last, self._reported = now, self.n


def _print(line):
    """A line to stderr that never stops the work it reports on: a closed or missing stderr loses the line."""
    if sys.stderr is None:
        return
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


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

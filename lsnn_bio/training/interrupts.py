"""Ctrl-C and SIGTERM as an exception that waits for the end of a write, so an interrupt never tears a file.

While a :class:`Signals` block is active, SIGINT and SIGTERM raise :class:`Interrupted`
where the program is, except inside ``deferred()`` blocks (an optimiser update with its log
line, a checkpoint write), where they are held until the block ends. Outside the main
thread signals cannot be caught; the block then changes nothing.
"""

import signal
import threading
from contextlib import contextmanager

CAUGHT = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``status`` is the exit status a shell gives a process it killed (130, 143)."""

    def __init__(self, signum):
        self.signum = signum
        self.status = 128 + signum
        super().__init__(signal.Signals(signum).name)


class Signals:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` for the duration of a ``with`` block."""

    def __init__(self):
        self._depth = 0
        self._pending = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in CAUGHT}
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
        return False

    def _handle(self, signum, frame):
        if self._depth:
            self._pending = signum
            return
        raise Interrupted(signum)

    @contextmanager
    def deferred(self):
        """Hold signals until the block ends, then raise the one that came."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._pending is not None:
                signum, self._pending = self._pending, None
                raise Interrupted(signum)

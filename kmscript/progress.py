"""A progress line for long runs (``kmscript test`` over many files, ``--fail-nth``
sweeps, long scripts): one status line on a terminal, redrawn in place on stderr.

Rules:
- Only on a terminal: when stderr is not a tty (piped, redirected, CI logs) nothing is
  ever written, so output stays byte-for-byte what it was.
- The line is cleared before any other output is written through ``wrap(out)`` and drawn
  again after it, so results printed on stdout to the same terminal never mix with it.
- Redrawn at most every ``interval`` seconds, and only once the run has lasted ``delay``
  seconds (a short script never flickers a status line).
- It never adds a newline: ``close()`` erases it, leaving the terminal as it was.
"""

from __future__ import annotations

import io
import os
import sys
import time
from typing import Callable, TextIO

_ERASE = "\r\x1b[K"


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None, interval: float = 0.1,
                 delay: float = 0.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty()) if callable(isatty) else False
        self.enabled = enabled
        self.interval = interval
        self.delay = delay
        self.start = time.monotonic()
        self._last = 0.0
        self._text = ""      # the current status
        self._shown = False  # is it on the screen now

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def update(self, text: str, force: bool = False) -> None:
        """Set the status; drawn unless the last draw was under ``interval`` ago."""
        if not self.enabled:
            return
        self._text = text
        now = time.monotonic()
        if now - self.start < self.delay:
            return
        if not force and self._shown and now - self._last < self.interval:
            return
        self._last = now
        self._draw()

    def _draw(self) -> None:
        width = self._width()
        text = self._text if len(self._text) < width else self._text[:max(width - 2, 1)] + "…"
        try:
            self.stream.write(_ERASE + text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.enabled = False
            return
        self._shown = True

    def _width(self) -> int:
        """The terminal's width: $COLUMNS, else the size of the terminal drawn on, else 80."""
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                columns = 0
        return columns if columns > 0 else 80

    def clear(self) -> None:
        if self._shown:
            try:
                self.stream.write(_ERASE)
                self.stream.flush()
            except (OSError, ValueError):
                self.enabled = False
            self._shown = False

    def wrap(self, out: Callable[[str], None]) -> Callable[[str], None]:
        """*out* with the status line erased before each line and drawn again after it."""
        if not self.enabled:
            return out

        def write(line: str) -> None:
            shown = self._shown
            self.clear()
            out(line)
            if shown:
                self._draw()
        return write

    def close(self) -> None:
        self.clear()
        self.enabled = False

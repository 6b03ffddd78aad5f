"""kmscript errors: every user mistake is a KmsError with a span and one renderer.

Rendering follows compilers people know (gcc, rustc)::

    oom.kms:3:17: error: unknown name 'GFP_ATOMC' (did you mean 'GFP_ATOMIC'?)
        x = kmalloc(50, GFP_ATOMC)
                        ^~~~~~~~~

Exit statuses (cli): 0 success, 1 an assertion or expectation failed, 2 usage or syntax
error, 3 runtime error (including a kernel panic and exceeded limits).
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Iterable

from .source import Source, Span

EXIT_OK = 0
EXIT_ASSERT = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3

_MAX_SHOWN = 100  # characters of a source line shown under an error

# Control characters (C0 but tab and newline, DEL, C1) as ``\x1b``: text a script chose
# (a source line, a string it prints) must not drive the terminal it is echoed to
# (``ESC ] 0 ; title BEL`` sets the window title, ``CSI`` sequences move the cursor).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """*text* with every control character but tab and newline shown as ``\\xNN``."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class KmsError(Exception):
    """Root of all user-facing errors."""

    kind = "error"
    exit_status = EXIT_RUNTIME

    def __init__(self, message: str, span: Span | None = None, source: Source | None = None,
                 notes: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.notes = list(notes)

    def with_location(self, span: Span | None, source: Source | None) -> "KmsError":
        """Fill in a location if the error does not have one yet."""
        if self.span is None and span is not None:
            self.span = span
        if self.source is None and source is not None:
            self.source = source
        return self

    def location(self) -> str:
        if self.source is None and self.span is None:
            return "kmscript"  # not about a place in a script (a file that cannot be read)
        name = self.source.name if self.source else "<input>"
        if self.span is None:
            return name
        return f"{name}:{self.span.line}:{self.span.column}"

    def render(self) -> str:
        head = f"{self.location()}: {self.kind}: {escape_controls(self.message)}"
        lines = [head]
        if self.span is not None and self.source is not None:
            text = self.source.line_text(self.span.line)
            if text or self.span.column == 1:
                expanded = text.expandtabs(1)
                col = self.span.column - 1
                width = 1
                if self.span.end_line == self.span.line:
                    width = max(1, self.span.end_column - self.span.column)
                width = min(width, max(1, len(expanded) - col))
                if len(expanded) > _MAX_SHOWN:
                    # Show a window of a very long line around the caret.
                    start = max(0, min(col - _MAX_SHOWN // 3, len(expanded) - _MAX_SHOWN))
                    window = expanded[start:start + _MAX_SHOWN]
                    prefix = "..." if start else ""
                    suffix = "..." if start + _MAX_SHOWN < len(expanded) else ""
                    expanded = prefix + window + suffix
                    col = col - start + len(prefix)
                    width = min(width, max(1, len(window) - (col - len(prefix))))
                # escaped, with the caret moved to where its character now is
                shown = escape_controls(expanded)
                if shown is not expanded:
                    width = len(escape_controls(expanded[col:col + width])) or 1
                    col = len(escape_controls(expanded[:col]))
                lines.append("    " + shown)
                lines.append("    " + " " * col + "^" + "~" * (width - 1))
        for note in self.notes:
            lines.append(f"  note: {escape_controls(note)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class KmsSyntaxError(KmsError):
    exit_status = EXIT_USAGE

    def __init__(self, message: str, span: Span | None = None, source: Source | None = None,
                 notes: Iterable[str] = (), incomplete: bool = False) -> None:
        super().__init__(message, span, source, notes)
        self.incomplete = incomplete  # the input ended too early (the REPL continues it)


class KmsNameError(KmsError):
    pass


class KmsTypeError(KmsError):
    pass


class KmsRuntimeError(KmsError):
    pass


class KmsLimitError(KmsRuntimeError):
    pass


class KmsHostMemoryError(KmsLimitError):
    """The host ran out of memory (``--max-memory``).  Unlike the other limits this can
    strike anywhere, even inside an allocator's bookkeeping, so the REPL rolls the entry
    back."""


class KmsPanic(KmsRuntimeError):
    kind = "panic"


class KmsOops(KmsRuntimeError):
    """An Oops killed the script's task (the kernel's make_task_dead after oops_end)."""

    kind = "oops"


class KmsAssertionError(KmsError):
    kind = "assertion failed"
    exit_status = EXIT_ASSERT


class KmsExpectationError(KmsError):
    kind = "expectation failed"
    exit_status = EXIT_ASSERT


class KmsUsageError(KmsError):
    exit_status = EXIT_USAGE


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, for "did you mean ...?" hints."""
    matches = get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not matches:
        upper = {c.upper(): c for c in candidates}
        if name.upper() in upper:
            return upper[name.upper()]
        return None
    return matches[0]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    s = suggest(name, candidates)
    return f" (did you mean '{s}'?)" if s else ""

"""Source text and spans.

A :class:`Source` is one script's text plus the name it is reported under.  A
:class:`Span` is a half-open character range with 1-based line/column of both ends, as
the parser saw it.  Spans never take part in AST equality.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple


class Span(NamedTuple):
    """Where a node or token came from.  A named tuple rather than a dataclass: the
    parser makes one per AST node, and a tuple is three times cheaper to build."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int, pos: int = 0) -> "Span":
        return Span(pos, pos + 1, line, column, line, column + 1)


@dataclass(eq=False)
class Source:
    text: str
    name: str = "<input>"
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def _starts(self) -> list[int]:
        """Offsets where lines start; computed on first use (only errors need them)."""
        starts = self._line_starts
        if not starts:
            starts.append(0)
            find = self.text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
        return starts

    def line_text(self, line: int) -> str:
        starts = self._starts()
        if line < 1 or line > len(starts):
            return ""
        start = starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        starts = self._starts()
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def span_at(self, offset: int) -> Span:
        line, col = self.position(offset)
        return Span(offset, offset + 1, line, col, line, col + 1)

    def end_span(self) -> Span:
        """A span just past the last character (for "unexpected end of input")."""
        text = self.text.rstrip("\n")
        line, col = self.position(len(text)) if text else (1, 1)
        return Span(len(text), len(text) + 1, line, col, line, col + 1)

    def snippet(self, span: Span) -> str:
        return self.text[span.start:span.end]

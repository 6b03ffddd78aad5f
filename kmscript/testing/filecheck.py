"""FileCheck-style expected output: ``# CHECK:`` comments matched against a scenario's output.

A scenario states what it must print with comment lines (LLVM FileCheck semantics, by
line; see https://llvm.org/docs/CommandGuide/FileCheck.html)::

    # CHECK:      kmalloc-64
    # CHECK-NEXT: order-{{[0-9]+}} allocation
    # CHECK-NOT:  BUG
    # CHECK-EMPTY:

- ``CHECK: p``     the first output line at or after the scan position that contains *p*;
                   the scan continues after that line (matches are in order)
- ``CHECK-NEXT: p`` *p* on the line right after the previous match
- ``CHECK-EMPTY:`` the line right after the previous match is empty
- ``CHECK-NOT: p`` *p* occurs on no line between the previous match and the next one (or
                   the end of the output)

Patterns are substrings; ``{{regex}}`` is a Python regular expression hole;
``[[NAME:regex]]`` captures a variable and ``[[NAME]]`` must equal its captured text (as
FileCheck's string substitution blocks).  Runs of spaces and tabs in a pattern match any
run of horizontal whitespace (FileCheck canonicalises whitespace); leading and trailing
whitespace of a pattern is ignored.

Repair (``kmscript test --update``): :func:`repair` rewrites only the CHECK lines that
fail to match, one at a time, re-matching after each, so every line that matches --
with its ``{{regex}}`` holes and ``[[VAR]]`` captures -- stays byte for byte.  A failing
CHECK takes the most similar output line between the previous match and the line the
next check matches; a CHECK-NEXT the line after the previous match; a check whose
output is gone is dropped.  Text that varies between runs (dmesg timestamps) is written
as a hole.  A failing CHECK-NOT, an undefined variable or a bad regex is not repaired:
those are the author's statements, not output to copy.

Not supported: CHECK-SAME, CHECK-DAG, CHECK-COUNT, CHECK-LABEL, numeric substitutions,
custom prefixes; matches are per line (two CHECKs never match on one line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DIRECTIVE_RE = re.compile(r"^(?P<indent>\s*)#\s*(?P<kind>CHECK(?:-NEXT|-NOT|-EMPTY)?):(?P<rest>.*)$")
_HOLE_RE = re.compile(r"\{\{(.*?)\}\}|\[\[([A-Za-z_][A-Za-z0-9_]*)(?::(.*?))?\]\]")
_WS_RE = re.compile(r"[ \t]+")


class CheckSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Check:
    kind: str  # CHECK | CHECK-NEXT | CHECK-NOT | CHECK-EMPTY
    pattern: str  # the pattern text as written (stripped)
    line: int  # 1-based source line
    col: int  # 1-based column where the pattern starts
    source_line: str  # the whole source line (for error carets)


def parse_checks(text: str) -> list[Check]:
    """Every CHECK directive of a script, in source order."""
    out: list[Check] = []
    for i, raw in enumerate(text.split("\n"), start=1):
        m = DIRECTIVE_RE.match(raw)
        if m is None:
            continue
        rest = m.group("rest")
        pattern = rest.strip()
        col = m.start("rest") + (len(rest) - len(rest.lstrip())) + 1
        kind = m.group("kind")
        if kind == "CHECK-EMPTY":
            if pattern:
                raise CheckSyntaxError("CHECK-EMPTY takes no pattern", i)
        elif not pattern:
            raise CheckSyntaxError(f"found empty check string with prefix '{kind}:'", i)
        out.append(Check(kind, pattern, i, col, raw))
    return out


# ---------------------------------------------------------------------------- matching
def _literal(text: str) -> str:
    return "[ \t]+".join(re.escape(part) for part in _WS_RE.split(text))


def compile_pattern(pattern: str, env: dict[str, str]) -> tuple[re.Pattern[str], list[str]]:
    """The regex for *pattern* given the variables captured so far; also the names it defines."""
    parts: list[str] = []
    defines: list[str] = []
    pos = 0
    for m in _HOLE_RE.finditer(pattern):
        parts.append(_literal(pattern[pos:m.start()]))
        if m.group(1) is not None:
            parts.append(f"(?:{m.group(1)})")
        elif m.group(3) is not None:
            name = m.group(2)
            parts.append(f"(?P<{name}>{m.group(3)})")
            defines.append(name)
        else:
            name = m.group(2)
            if name in defines:
                parts.append(f"(?P={name})")
            elif name in env:
                parts.append(re.escape(env[name]))
            else:
                raise KeyError(name)
        pos = m.end()
    parts.append(_literal(pattern[pos:]))
    return re.compile("".join(parts)), defines


@dataclass
class CheckFailure:
    check: Check
    message: str
    scan_from: int  # 0-based output line where the search started
    hit: int | None = None  # for CHECK-NOT: the offending line; for NEXT: the line found instead
    notes: list[str] = field(default_factory=list)

    def render(self, script: str, output: list[str], output_name: str = "<output>") -> str:
        c = self.check
        lines = [f"{script}:{c.line}:{c.col}: error: {c.kind}: {self.message}",
                 "    " + c.source_line.strip(),
                 "    " + " " * (c.col - 1 - _indent(c.source_line)) + "^"]
        at = self.hit if self.hit is not None else self.scan_from
        if at < len(output):
            what = "scanning from here"
            if self.hit is not None:
                what = "found here" if c.kind == "CHECK-NOT" else "the next line is"
            lines.append(f"{output_name}:{at + 1}:1: note: {what}")
            lines.append("    " + output[at])
        elif not output:
            lines.append(f"{output_name}: note: the output is empty")
        else:
            lines.append(f"{output_name}:{len(output)}: note: reached the end of the output")
        lines.extend(self.notes)
        lines.append(f"{output_name} ({len(output)} line{'s' if len(output) != 1 else ''}):")
        lines.extend(_numbered(output, at))
        return "\n".join(lines)


def _indent(s: str) -> int:
    return len(s) - len(s.lstrip())


def _numbered(output: list[str], mark: int, limit: int = 60) -> list[str]:
    start = 0 if len(output) <= limit else max(0, min(mark - limit // 2, len(output) - limit))
    out = []
    if start > 0:
        out.append(f"    ... {start} line{'s' if start != 1 else ''} before")
    for i in range(start, min(len(output), start + limit)):
        out.append(f"{'>' if i == mark else ' '}{i + 1:5d}| {output[i]}")
    rest = len(output) - (start + limit)
    if rest > 0:
        out.append(f"    ... {rest} more line{'s' if rest != 1 else ''}")
    return out


def match_checks(checks: list[Check], output: list[str]) -> CheckFailure | None:
    """Match *checks* against the output lines; the first failure, or None when all match."""
    env: dict[str, str] = {}
    pos = 0  # next line a CHECK may match
    last: int | None = None  # line of the previous positive match
    nots: list[Check] = []

    def compiled(c: Check) -> re.Pattern[str] | CheckFailure:
        try:
            rx, _ = compile_pattern(c.pattern, env)
        except KeyError as e:
            return CheckFailure(c, f"undefined variable [[{e.args[0]}]]", pos)
        except re.error as e:
            return CheckFailure(c, f"invalid regular expression: {e}", pos)
        return rx

    def check_nots(upto: int) -> CheckFailure | None:
        for n in nots:
            rx = compiled(n)
            if isinstance(rx, CheckFailure):
                return rx
            for i in range(pos, upto):
                if rx.search(output[i]):
                    return CheckFailure(n, "excluded string found in output", pos, hit=i)
        return None

    for c in checks:
        if c.kind == "CHECK-NOT":
            nots.append(c)
            continue
        rx = compiled(c) if c.kind != "CHECK-EMPTY" else None
        if isinstance(rx, CheckFailure):
            return rx
        found: int | None = None
        m: re.Match[str] | None = None
        if c.kind == "CHECK":
            for i in range(pos, len(output)):
                assert rx is not None
                m = rx.search(output[i])
                if m:
                    found = i
                    break
            if found is None:
                return CheckFailure(c, "expected string not found in output", pos)
        else:
            if last is None:
                return CheckFailure(c, f"found '{c.kind}' without a previous 'CHECK: line'", pos)
            nxt = last + 1
            if nxt >= len(output):
                return CheckFailure(c, "expected a line after the previous match; the output ended", nxt)
            if c.kind == "CHECK-EMPTY":
                if output[nxt].strip():
                    return CheckFailure(c, "expected an empty line after the previous match", nxt, hit=nxt)
            else:
                assert rx is not None
                m = rx.search(output[nxt])
                if not m:
                    fail = CheckFailure(c, "expected string not found on the line after the previous match", nxt,
                                        hit=nxt)
                    later = next((i for i in range(nxt + 1, len(output)) if rx.search(output[i])), None)
                    if later is not None:
                        fail.notes.append(f"note: it matches output line {later + 1}: {output[later]}")
                    return fail
            found = nxt
        bad = check_nots(found)
        if bad is not None:
            return bad
        nots = []
        if m is not None:
            env.update({k: v for k, v in m.groupdict().items() if v is not None})
        last = found
        pos = found + 1
    return check_nots(len(output))


# ---------------------------------------------------------------------------- repair
def _escape_literal(line: str) -> str:
    return line.replace("{{", "{{\\{\\{}}").replace("[[", "{{\\[\\[}}")


# dmesg timestamps: they change whenever the work before them changes
_TIMESTAMP_RE = re.compile(r"\[\s*\d+\.\d+\]")
_TIMESTAMP_HOLE = "[{{ *[0-9]+\\.[0-9]+}}]"


def pattern_for(line: str) -> str:
    """A CHECK pattern matching *line*: literal text, run-varying parts as holes."""
    text = _escape_literal(line.strip())
    return _TIMESTAMP_RE.sub(lambda m: _TIMESTAMP_HOLE, text)


def _similarity(a: str, b: str) -> float:
    import difflib
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def repair(checks: list[Check], output: list[str]) -> tuple[dict[int, str | None], CheckFailure | None]:
    """Rewrite the failing checks of one scope so that *checks* match *output*.

    Returns the new source line of each rewritten check by line number (None: the check
    is dropped) and the first failure that cannot be repaired, if any.  Checks that match
    are never changed.
    """
    current = list(checks)
    changed: dict[int, str | None] = {}
    for _ in range(2 * len(checks) + 2):
        fail = match_checks(current, output)
        if fail is None:
            return changed, None
        c = fail.check
        if c.kind == "CHECK-NOT" or c.line in changed or not (
                fail.message.startswith("expected") or fail.message.startswith("excluded")):
            return changed, fail
        k = current.index(c)
        if c.kind == "CHECK":
            at = _best_line(c, current[k + 1:], output, fail.scan_from)
        else:
            at = fail.scan_from if fail.scan_from < len(output) else None
        if at is None:
            changed[c.line] = None
            del current[k]
            continue
        kind = "CHECK" if c.kind == "CHECK" else "CHECK-NEXT"
        if not output[at].strip():
            kind, pattern = ("CHECK-EMPTY", "") if kind == "CHECK-NEXT" else (kind, "{{^\\s*$}}")
        else:
            pattern = pattern_for(output[at])
        m = DIRECTIVE_RE.match(c.source_line)
        assert m is not None
        head = c.source_line[:m.start("kind")] + kind + ":"
        gap = c.source_line[m.start("rest"):c.col - 1] if kind == c.kind else " "
        new_line = (head + gap + pattern).rstrip() if pattern else head
        changed[c.line] = new_line
        current[k] = Check(kind, pattern, c.line, len(head + gap) + 1, new_line)
    return changed, match_checks(current, output)


def _best_line(c: Check, later: list[Check], output: list[str], pos: int) -> int | None:
    """The output line a failed CHECK most likely meant: the most similar one from *pos*
    up to the line the next positive check matches."""
    limit = len(output)
    nxt = next((x for x in later if x.kind in ("CHECK", "CHECK-NEXT")), None)
    if nxt is not None:
        try:
            rx, _ = compile_pattern(nxt.pattern, {})
        except (KeyError, re.error):
            rx = None
        if rx is not None:
            hit = next((i for i in range(pos, len(output)) if rx.search(output[i])), None)
            if hit is not None and nxt.kind == "CHECK-NEXT":
                return hit - 1 if hit - 1 >= pos else None  # the line right before it
            if hit is not None:
                limit = hit
    if pos >= limit:
        return None
    literal = _HOLE_RE.sub("", c.pattern)
    return max(range(pos, limit), key=lambda i: (_similarity(literal, output[i].strip()), -i))

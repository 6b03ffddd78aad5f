"""The kernel log (printk/dmesg), stamped by the simulated clock of events.py.

Every message carries a dmesg-style timestamp from a deterministic simulated clock, so
the same script always prints the same log.  The clock advances only when the runtime
says so (``Clock.advance``): each allocator operation costs a fixed, small number of
nanoseconds, so timestamps grow with the work done, not with wall time.

Each record has a *kind* so that scripts can test for events (``expect oom { ... }``):

- ``info``      ordinary messages
- ``warn``      a WARNING/warn_alloc-style report (includes page allocation failure)
- ``alloc_fail`` an allocation failure report (also counted as ``warn``)
- ``bug``       a BUG report (bad page state, SLUB debug reports, sleeping in atomic)
- ``oom``       an OOM kill
- ``panic``     a kernel panic

Listeners (the CLI printing as things happen, the REPL colouring them) subscribe with
``add_listener``.  The log itself keeps every record for ``show dmesg``.

After-report hooks (``add_report_hook``) run once a record has reached every listener:
they are what the kernel does after printing a report (oops_end, check_panic_on_warn) and
may end the operation by raising (a panic, the death of the task that oopsed).  A hook
never runs before the report it reacts to has been shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from .events import Clock

KINDS = ("info", "warn", "alloc_fail", "bug", "oom", "panic", "fault")

# include/linux/kern_levels.h: a level is KERN_SOH followed by its digit; KERN_DEFAULT is
# empty (the message gets default_message_loglevel, CONFIG_MESSAGE_LOGLEVEL_DEFAULT=4);
# KERN_CONT marks a continuation.  The names are the ones dmesg --level takes.
KERN_SOH = "\001"
LOGLEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")
KERN_LEVELS = {f"KERN_{n.upper() if n != 'warn' else 'WARNING'}": KERN_SOH + str(i)
               for i, n in enumerate(LOGLEVEL_NAMES)}
KERN_LEVELS.update({"KERN_DEFAULT": "", "KERN_CONT": KERN_SOH + "c", "KERN_SOH": KERN_SOH})
MESSAGE_LOGLEVEL_DEFAULT = 4
# The level each kind of record the runtime prints is printed at: info messages with
# pr_info, warn_alloc and WARN with pr_warn/KERN_WARNING, BUG/Oops/OOM lines with pr_err
# (mm/oom_kill.c, kernel/sched/core.c __might_resched), page faults with pr_alert
# (arch/x86/mm/fault.c show_fault_oops), panic with pr_emerg (kernel/panic.c).
KIND_LEVELS = {"info": 6, "warn": 4, "alloc_fail": 4, "bug": 3, "oom": 3, "panic": 0, "fault": 1}


def printk_get_level(text: str) -> tuple[int | None, bool, str]:
    """include/linux/printk.h printk_get_level()/printk_skip_level(): (level or None, is a
    continuation, the text after every level prefix).  A later prefix overrides an earlier one."""
    level: int | None = None
    cont = False
    while len(text) >= 2 and text[0] == KERN_SOH and (text[1] in "01234567c"):
        if text[1] == "c":
            cont = True
        else:
            level = int(text[1])
        text = text[2:]
    return level, cont, text


_SPEC = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?"
                   r"(?P<len>hh|h|ll|l|z|t|j)?(?P<conv>[diouxXcsp%])(?P<ext>[xKaFfSsBbhRr])?")


def _c_escaped(fmt: str) -> str:
    """A format string as a C literal shows it (``\\n`` for a newline), so an error stays one line."""
    return fmt.encode("unicode_escape").decode("ascii")


def vsprintf(fmt: str, args: list[int | str], long_bits: int = 64) -> str:
    """lib/vsprintf.c: the C conversions kernel code uses, with the kernel's argument widths.

    %d %i %u %x %X %o %c %s %%, the flags - + space # 0, width and precision (``*`` too),
    the length modifiers hh h l ll z t j (``l`` and ``z`` are ``long_bits`` wide), %p (the
    hashed form is not simulated: %p prints like %px, zero-padded to the pointer width) and
    %px.  A missing argument is an error, as -Wformat would report it."""
    out: list[str] = []
    pos = 0
    ai = 0

    def next_arg(what: str) -> int | str:
        nonlocal ai
        if ai >= len(args):
            raise ValueError(f"format \"{_c_escaped(fmt)}\" needs more arguments than the {len(args)} given ({what})")
        a = args[ai]
        ai += 1
        return a

    for m in _SPEC.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        conv = m.group("conv")
        if conv == "%":
            out.append("%")
            continue
        flags = m.group("flags") or ""
        width_s, prec_s = m.group("width"), m.group("prec")
        width = int(next_arg("*")) if width_s == "*" else int(width_s) if width_s else 0
        prec = int(next_arg("*")) if prec_s == "*" else int(prec_s) if prec_s is not None else None
        if width < 0:
            flags, width = flags + "-", -width
        a = next_arg("%" + conv)
        length = m.group("len") or ""
        ext = m.group("ext") or ""
        if conv == "s":
            text = str(a) if prec is None else str(a)[:prec]
        elif conv == "c":
            text = chr(int(a) & 0xFF) if not isinstance(a, str) else a[:1]
        else:
            if isinstance(a, str):
                raise ValueError(f"'%{conv}' needs an integer, got the string {a!r}")
            v = int(a)
            if conv == "p":
                if ext not in ("", "x"):
                    raise ValueError(f"'%p{ext}' is not modelled (use %px or %lx)")
                text = f"{v & ((1 << long_bits) - 1):0{long_bits // 4}x}"
                flags = flags.replace("0", "")
            else:
                bits = {"hh": 8, "h": 16, "l": long_bits, "z": long_bits, "t": long_bits,
                        "ll": 64, "j": 64}.get(length, 32)
                mask = (1 << bits) - 1
                u = v & mask
                if conv in "di":
                    n = u - (1 << bits) if u >> (bits - 1) else u
                    sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
                    digits = str(abs(n))
                elif conv == "u":
                    sign, digits = "", str(u)
                elif conv == "o":
                    sign, digits = "", f"{u:o}"
                    if "#" in flags and u:
                        digits = "0" + digits
                else:
                    sign, digits = "", f"{u:x}" if conv == "x" else f"{u:X}"
                    if "#" in flags and u:
                        sign = "0x" if conv == "x" else "0X"
                if prec is not None:
                    digits = digits.rjust(prec, "0")
                if "0" in flags and "-" not in flags and prec is None:
                    digits = digits.rjust(width - len(sign), "0")
                text = sign + digits
            if ext and conv != "p":
                text += ext  # "%dx": a conversion followed by a plain letter
        out.append(text.ljust(width) if "-" in flags else text.rjust(width))
    out.append(fmt[pos:])
    if ai < len(args):
        raise ValueError(f"format \"{_c_escaped(fmt)}\" uses {ai} argument{'s' if ai != 1 else ''}, {len(args)} given")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class LogRecord:
    ns: int
    kind: str
    text: str  # may hold several lines (a whole report)
    timestamp: str
    level: int = 6  # the console loglevel it was printed at (0 emerg .. 7 debug)

    def lines(self) -> list[str]:
        """The record as dmesg prints it: each line carries the timestamp."""
        return [f"{self.timestamp} {line}" if line else self.timestamp for line in self.text.split("\n")]


Listener = Callable[[LogRecord], None]


@dataclass
class KernelLog:
    clock: Clock
    records: list[LogRecord] = field(default_factory=list)
    # Reports a rate limit kept out of the log (warn_alloc's nopage_rs): never printed, but
    # ``expect alloc_fail`` counts them, so a scenario's expectation does not depend on how
    # close together its failures happen.  Only the report's first line is kept.
    suppressed: list[LogRecord] = field(default_factory=list)
    _listeners: list[Listener] = field(default_factory=list)
    _report_hooks: list[Listener] = field(default_factory=list)

    def printk(self, text: str, kind: str = "info", level: int | None = None) -> LogRecord:
        if kind not in KINDS:
            raise ValueError(f"unknown log record kind {kind!r}")
        rec = LogRecord(self.clock.ns, kind, text, self.clock.timestamp(),
                        KIND_LEVELS[kind] if level is None else level)
        self.records.append(rec)
        for listener in self._listeners:
            listener(rec)
        # printing costs time too, so two messages never share a timestamp
        self.clock.advance(1000)
        for hook in self._report_hooks:
            hook(rec)
        return rec

    def suppress(self, text: str, kind: str) -> None:
        """A report that a rate limit did not let through: kept in ``suppressed`` only."""
        self.suppressed.append(LogRecord(self.clock.ns, kind, text, self.clock.timestamp()))

    def add_report_hook(self, hook: Listener) -> None:
        """Run *hook* after each record has been shown (see the module docstring)."""
        self._report_hooks.append(hook)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def vprintk(self, text: str) -> int:
        """kernel/printk/printk.c vprintk_emit() for an already formatted message: the level
        prefix picks the record's level (none: MESSAGE_LOGLEVEL_DEFAULT), one trailing
        newline ends the record.  Returns the length stored, as printk() does."""
        level, _cont, body = printk_get_level(text)
        if body.endswith("\n"):
            body = body[:-1]
        lvl = MESSAGE_LOGLEVEL_DEFAULT if level is None else level
        self.printk(body, "info", lvl)  # a message, not a report: `expect` does not see it
        return len(body)

    def dmesg(self, level: int | None = None) -> str:
        """``dmesg`` (or ``dmesg --level=NAME``: only the records of that level)."""
        return "\n".join(line for rec in self.records if level is None or rec.level == level
                         for line in rec.lines())

    def contains(self, needle: str) -> bool:
        return any(needle in rec.text for rec in self.records)

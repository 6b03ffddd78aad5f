"""The kernel's taint mask (kernel/panic.c: taint_flags, print_tainted, print_tainted_verbose).

What it models: one machine-wide ``tainted_mask`` and its two renderings as 6.18 prints them.

- ``print_tainted()``: ``Not tainted`` for an empty mask, otherwise ``Tainted: `` followed by
  one column per flag of ``taint_flags[]`` (TAINT_FLAGS_COUNT = 20 in 6.18), each the flag's
  letter when set and its ``c_false`` character otherwise (``G`` for PROPRIETARY_MODULE, a
  blank for the others).  The string is never trimmed: with B and W set it is
  ``Tainted: G    B   W          `` (9 + 20 characters).
- ``print_tainted_verbose()``: the line dump_stack_print_info() (lib/dump_stack.c) prints
  after the CPU line when the kernel is tainted: ``Tainted: [B]=BAD_PAGE, [W]=WARN``, the
  ``desc`` of each set flag being its TAINT_* name (``.desc = #taint``).

Invariant: the mask only grows (add_taint never clears a bit), so every report printed after
a taint shows it.  Which flags a report adds, and when (after its own CPU line, as
``__warn``/``bad_page``/``slab_bug`` do), is the caller's business.
"""

from __future__ import annotations

from typing import NamedTuple


class TaintFlag(NamedTuple):
    c_true: str
    c_false: str
    desc: str


# kernel/panic.c: taint_flags[] of 6.18, in bit order (TAINT_PROPRIETARY_MODULE = 0 ...
# TAINT_FWCTL = 19).
TAINT_FLAGS: tuple[TaintFlag, ...] = (
    TaintFlag("P", "G", "PROPRIETARY_MODULE"),
    TaintFlag("F", " ", "FORCED_MODULE"),
    TaintFlag("S", " ", "CPU_OUT_OF_SPEC"),
    TaintFlag("R", " ", "FORCED_RMMOD"),
    TaintFlag("M", " ", "MACHINE_CHECK"),
    TaintFlag("B", " ", "BAD_PAGE"),
    TaintFlag("U", " ", "USER"),
    TaintFlag("D", " ", "DIE"),
    TaintFlag("A", " ", "OVERRIDDEN_ACPI_TABLE"),
    TaintFlag("W", " ", "WARN"),
    TaintFlag("C", " ", "CRAP"),
    TaintFlag("I", " ", "FIRMWARE_WORKAROUND"),
    TaintFlag("O", " ", "OOT_MODULE"),
    TaintFlag("E", " ", "UNSIGNED_MODULE"),
    TaintFlag("L", " ", "SOFTLOCKUP"),
    TaintFlag("K", " ", "LIVEPATCH"),
    TaintFlag("X", " ", "AUX"),
    TaintFlag("T", " ", "RANDSTRUCT"),
    TaintFlag("N", " ", "TEST"),
    TaintFlag("J", " ", "FWCTL"),
)
TAINT_FLAGS_COUNT = len(TAINT_FLAGS)
_BIT_OF_LETTER = {flag.c_true: bit for bit, flag in enumerate(TAINT_FLAGS)}

# The TAINT_* bits the simulator raises (include/linux/panic.h)
TAINT_BAD_PAGE = _BIT_OF_LETTER["B"]
TAINT_DIE = _BIT_OF_LETTER["D"]
TAINT_WARN = _BIT_OF_LETTER["W"]


class Taint:
    """kernel/panic.c: ``tainted_mask`` with add_taint/test_taint and the two renderings."""

    __slots__ = ("mask",)

    def __init__(self) -> None:
        self.mask = 0

    @staticmethod
    def bit_of(letter: str) -> int:
        try:
            return _BIT_OF_LETTER[letter]
        except KeyError:
            raise ValueError(f"unknown taint flag {letter!r}") from None

    def add(self, letter: str) -> None:
        """add_taint(TAINT_x, ...) by the flag's letter (``"B"``, ``"W"``, ``"D"`` ...)."""
        self.mask |= 1 << self.bit_of(letter)

    def test(self, letter: str) -> bool:
        """test_taint(TAINT_x)."""
        return bool(self.mask >> self.bit_of(letter) & 1)

    def __contains__(self, letter: object) -> bool:
        """``"W" in taint``: test_taint by letter."""
        return isinstance(letter, str) and letter in _BIT_OF_LETTER and self.test(letter)

    def letters(self) -> str:
        """The set flags' letters in bit order (``"BW"``)."""
        return "".join(f.c_true for bit, f in enumerate(TAINT_FLAGS) if self.mask >> bit & 1)

    def print_tainted(self) -> str:
        """print_tainted(): ``Not tainted`` or ``Tainted: `` + one column per flag, untrimmed."""
        if not self.mask:
            return "Not tainted"
        return "Tainted: " + "".join(f.c_true if self.mask >> bit & 1 else f.c_false
                                     for bit, f in enumerate(TAINT_FLAGS))

    def print_tainted_verbose(self) -> str:
        """print_tainted_verbose(): ``Tainted: [B]=BAD_PAGE, [W]=WARN``."""
        if not self.mask:
            return "Not tainted"
        return "Tainted: " + ", ".join(f"[{f.c_true}]={f.desc}" for bit, f in enumerate(TAINT_FLAGS)
                                       if self.mask >> bit & 1)

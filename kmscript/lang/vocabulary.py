"""One vocabulary for the lexer, the completer and ``:help``.

- keywords come from the grammar file (its quoted words),
- built-in functions, views, values and methods from the built-in registry,
- flag names from the runtime's GFP and SLAB tables (through the registry's constants),
- sysctl names from a machine (the runtime registers them at boot).

Nothing here is typed twice: adding a built-in or a flag updates highlighting, completion
and help together.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from .builtins import load_all
from .builtins.registry import BUILTINS, CONSTANTS, METHODS, VALUES, VIEWS, Builtin
from .compiler import EXPECT_KINDS
from .grammar import grammar_text

if TYPE_CHECKING:
    from ..runtime.machine import Machine

_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z_0-9]*)"')


@lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    words = {m.group(1) for m in _QUOTED.finditer(grammar_text())}
    return tuple(sorted(words))


def builtins() -> dict[str, Builtin]:
    load_all()
    return dict(BUILTINS)


def views() -> dict[str, Builtin]:
    load_all()
    return dict(VIEWS)


def values() -> dict[str, Builtin]:
    load_all()
    return dict(VALUES)


def methods() -> dict[tuple[str, str], Builtin]:
    load_all()
    return dict(METHODS)


def constants() -> dict[str, object]:
    load_all()
    return dict(CONSTANTS)


def gfp_flags() -> list[str]:
    load_all()
    return sorted(n for n in CONSTANTS if "GFP_" in n)


def slab_flags() -> list[str]:
    load_all()
    return sorted(n for n in CONSTANTS if n.startswith("SLAB_"))


def expect_kinds() -> list[str]:
    return sorted(EXPECT_KINDS)


def sysctls(machine: Machine | None = None) -> list[str]:
    """The sysctl names a machine registered at boot (a small default machine's without one)."""
    if machine is None:
        from ..runtime.machine import Machine, MachineConfig
        machine = Machine(MachineConfig(mem=64 << 20, cpus=1))
    return list(machine.sysctls.names())

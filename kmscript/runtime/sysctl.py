"""The sysctl table (kernel/sysctl.c reduced to name -> handler): /proc/sys/vm/* knobs.

What it models: each subsystem registers its knobs at boot (register_sysctl_init) with a
getter and a setter that validates the value and recomputes what depends on it (the
kernel's proc_handler).  The table is a lower layer every subsystem receives in its
constructor; the Machine facade exposes get/set by name.

Invariant: a name is registered once; an unknown name is a KernelFault, never a KeyError.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import KernelFault

SysctlGet = Callable[[], Any]
SysctlSet = Callable[[Any], None]


class SysctlTable:
    """The registered vm.* sysctls of one machine."""

    __slots__ = ("_table",)

    def __init__(self) -> None:
        self._table: dict[str, tuple[SysctlGet, SysctlSet]] = {}

    def register(self, name: str, get: SysctlGet, set_: SysctlSet) -> None:
        if name in self._table:
            raise ValueError(f"sysctl {name} registered twice")
        self._table[name] = (get, set_)

    def names(self) -> list[str]:
        return sorted(self._table)

    def get(self, name: str) -> Any:
        try:
            return self._table[name][0]()
        except KeyError:
            raise KernelFault(f"unknown sysctl {name}") from None

    def set(self, name: str, value: Any) -> None:
        try:
            setter = self._table[name][1]
        except KeyError:
            raise KernelFault(f"unknown sysctl {name}") from None
        setter(value)

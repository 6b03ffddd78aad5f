"""Built-ins for the kernel log: printk with KERN_* levels and C format directives, the
pr_* helpers (include/linux/printk.h), and the possible/online CPU iterators
(include/linux/cpumask.h) kernel code loops with.

``printk(KERN_INFO "CPU %d's counter: %d\\n", cpu, n)``: the level string and the format
are adjacent literals, which C concatenates; the grammar does the same for a ``KERN_*``
name followed by string literals.  The record lands in dmesg at that level
(``show dmesg info`` lists the records of one level, as ``dmesg --level=info`` does).
"""

from __future__ import annotations

from typing import Any

from ...runtime.printk import KERN_LEVELS, LOGLEVEL_NAMES, vsprintf
from ..values import Ptr
from .registry import NAME, STR, VARARGS, ArgError, Call, builtin, constant, opt, view

for _name, _val in KERN_LEVELS.items():
    constant(_name, _val)


def _c_args(args: list[Any]) -> list[int | str]:
    out: list[int | str] = []
    for i, a in enumerate(args):
        if isinstance(a, Ptr):
            out.append(a.addr)
        elif isinstance(a, bool):
            out.append(int(a))
        elif isinstance(a, (int, str)):
            out.append(a)
        else:
            raise ArgError(f"printk: argument {i + 2} is a {type(a).__name__}; C formats take integers, "
                           "pointers and strings", i + 1)
    return out


def _format(call: Call, fmt: str, args: list[Any]) -> str:
    """lib/vsprintf.c with this architecture's sizeof(long) for %ld/%lu/%lx/%zu and %p."""
    return vsprintf(fmt, _c_args(args), 8 * call.machine.arch.pointer_size)


def _emit(call: Call, fmt: str, args: list[Any]) -> int:
    try:
        text = _format(call, fmt, args)
    except ValueError as e:
        raise ArgError(f"printk: {e}", 0) from None
    return int(call.machine.log.vprintk(text))


@builtin("printk", fmt=STR, args=VARARGS, category="log",
         doc="printk(KERN_INFO \"fmt\\n\", args...): format like the kernel's vsprintf (%d %u %x %s %c %p "
             "%px, widths, l/ll/z) and log the message at its level; returns its length")
def _printk(call: Call, fmt: str, args: list[Any]) -> int:
    return _emit(call, fmt, args)


def _pr(level: int) -> None:
    name = "warn" if LOGLEVEL_NAMES[level] == "warn" else LOGLEVEL_NAMES[level]

    @builtin(f"pr_{name}", fmt=STR, args=VARARGS, category="log",
             doc=f"pr_{name}(\"fmt\\n\", args...): printk(KERN_{name.upper() if name != 'warn' else 'WARNING'} fmt, ...)")
    def _impl(call: Call, fmt: str, args: list[Any]) -> int:
        return _emit(call, f"\001{level}" + fmt, args)


for _lvl in range(7):  # pr_emerg .. pr_info
    _pr(_lvl)


@builtin("pr_debug", fmt=STR, args=VARARGS, category="log",
         doc="pr_debug(fmt, ...): compiled out without DEBUG or dynamic debug (no_printk): prints nothing")
def _pr_debug(call: Call, fmt: str, args: list[Any]) -> int:
    try:
        _format(call, fmt, args)  # no_printk still type-checks the format
    except ValueError as e:
        raise ArgError(f"pr_debug: {e}", 0) from None
    return 0


@view("dmesg", level=opt(NAME, None, "every level"), category="views",
      doc="show dmesg [level]: the kernel log with its timestamps; with a level (emerg alert crit err warn "
          "notice info debug), only that level's records, as dmesg --level does")
def _show_dmesg(call: Call, level: str | None) -> str:
    if level is None:
        return str(call.machine.log.dmesg())
    if level not in LOGLEVEL_NAMES:
        raise ArgError(f"dmesg: unknown level '{level}' (levels: {', '.join(LOGLEVEL_NAMES)})", 0)
    return str(call.machine.log.dmesg(LOGLEVEL_NAMES.index(level)))


@builtin("num_possible_cpus", category="context",
         doc="num_possible_cpus(): CPUs in cpu_possible_mask (every CPU of the machine; no hotplug)")
def _num_possible_cpus(call: Call) -> int:
    return int(call.machine.nr_cpus)


@builtin("for_each_possible_cpu", category="context",
         doc="for_each_possible_cpu(cpu) { ... } loops over cpu_possible_mask; as a call, the list of "
             "possible CPUs (for cpu in for_each_possible_cpu() { ... })")
def _for_each_possible_cpu(call: Call) -> list[int]:
    return list(range(call.machine.nr_cpus))


@builtin("for_each_online_cpu", category="context",
         doc="for_each_online_cpu(cpu) { ... } loops over cpu_online_mask (every CPU is online)")
def _for_each_online_cpu(call: Call) -> list[int]:
    return list(range(call.machine.nr_cpus))

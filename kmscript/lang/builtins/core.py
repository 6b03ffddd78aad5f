"""Language-level built-ins: printing, conversions, lists, machine boot, constants.

Kernel-area built-ins live in their own modules (pages, slab, vmalloc, percpu, context,
tasks); this one holds what every script needs regardless of the kernel area.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ...errors import KmsRuntimeError
from ..limits import MAX_INT_BITS, MAX_LIST_LEN, check_int, check_list_len, int_too_large
from ..values import NULL, ZERO_SIZE_PTR, Ptr, format_value, type_name
from .registry import ANY, INT, KWARGS, LIST, VARARGS, Call, builtin, constant, opt, value

from ...runtime.mm_types import PAGE_SHIFT, PAGE_SIZE


def _flag_tables() -> None:
    """Constants from the runtime's GFP and SLAB flag tables (one source of truth)."""
    for module, table in (("kmscript.runtime.gfp", "GFP_NAMES"), ("kmscript.runtime.slab", "SLAB_FLAGS")):
        if importlib.util.find_spec(module) is None:
            continue
        names = getattr(importlib.import_module(module), table, None)
        if isinstance(names, dict):
            for name, val in names.items():
                constant(name, val)


constant("PAGE_SIZE", PAGE_SIZE)
constant("PAGE_SHIFT", PAGE_SHIFT)
constant("ZERO_SIZE_PTR", ZERO_SIZE_PTR)
constant("MAX_PAGE_ORDER", 10)
constant("PAGE_ALLOC_COSTLY_ORDER", 3)
_flag_tables()


@builtin("print", args=VARARGS, category="language",
         doc="print(values...): print the values separated by spaces")
def _print(call: Call, args: list[Any]) -> None:
    call.out(" ".join(format_value(a) for a in args))


@builtin("len", x=ANY, category="language", doc="len(list_or_string): number of items")
def _len(call: Call, x: Any) -> int:
    if isinstance(x, (list, str)):
        return len(x)
    raise KmsRuntimeError(f"len() needs a list or a string, not {type_name(x)}")


@builtin("hex", x=ANY, category="language", doc="hex(n): the number or address in hexadecimal, as a string")
def _hex(call: Call, x: Any) -> str:
    if isinstance(x, Ptr):
        return f"0x{x.addr:x}"
    if isinstance(x, int) and not isinstance(x, bool):
        return hex(x)
    raise KmsRuntimeError(f"hex() needs an integer or a pointer, not {type_name(x)}")


@builtin("str", x=ANY, category="language", doc="str(value): the value as text")
def _str(call: Call, x: Any) -> str:
    return format_value(x)


@builtin("int", x=ANY, category="language", doc="int(value): an integer from a pointer, bool or decimal string")
def _int(call: Call, x: Any) -> int:
    if isinstance(x, Ptr):
        return x.addr
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        # a binary literal of the largest integer has MAX_INT_BITS digits; longer text
        # would only make int() work hard to build a number check_int refuses
        if len(x) > MAX_INT_BITS + 8:
            raise KmsRuntimeError(f"int(): a number of {len(x)} characters is too long")
        try:
            return check_int(int(x, 0))
        except ValueError as e:
            if "limit" in str(e):  # more decimal digits than any kmscript integer has
                raise int_too_large(1 << (MAX_INT_BITS + 1)) from None
            raise KmsRuntimeError(f"int(): '{x[:40]}' is not a number") from None
    raise KmsRuntimeError(f"int() cannot convert {type_name(x)}")


def _numbers(name: str, args: list[Any]) -> list[int]:
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    if not args:
        raise KmsRuntimeError(f"{name}() needs at least one number")
    for a in args:
        if isinstance(a, bool) or not isinstance(a, int):
            raise KmsRuntimeError(f"{name}() needs integers, not {type_name(a)}")
    return list(args)


@builtin("min", args=VARARGS, category="language", doc="min(a, b, ...) or min(list): the smallest")
def _min(call: Call, args: list[Any]) -> int:
    return min(_numbers("min", args))


@builtin("max", args=VARARGS, category="language", doc="max(a, b, ...) or max(list): the largest")
def _max(call: Call, args: list[Any]) -> int:
    return max(_numbers("max", args))


@builtin("sum", items=LIST, category="language", doc="sum(list): the sum of a list of integers")
def _sum(call: Call, items: list[Any]) -> int:
    return check_int(sum(_numbers("sum", items))) if items else 0


@builtin("abs", n=INT, category="language", doc="abs(n): absolute value")
def _abs(call: Call, n: int) -> int:
    return check_int(abs(n))


@builtin("range", start=INT, end=opt(INT, None), category="language",
         doc="range(n) or range(a, b): the list [0..n) or [a..b)")
def _range(call: Call, start: int, end: int | None) -> list[int]:
    a, b = (0, start) if end is None else (start, end)
    if b - a > MAX_LIST_LEN:
        raise KmsRuntimeError(f"range() of more than {MAX_LIST_LEN} items; use a 'for i in a..b' loop")
    return list(range(a, b))


@builtin("append", items=LIST, item=ANY, category="language", doc="append(list, value): add to the end of a list")
def _append(call: Call, items: list[Any], item: Any) -> None:
    check_list_len(len(items) + 1)
    items.append(item)


@builtin("type", x=ANY, category="language", doc="type(value): the value's type name")
def _type(call: Call, x: Any) -> str:
    return type_name(x)


@builtin("is_null", p=ANY, category="language", doc="is_null(p): true if p is NULL")
def _is_null(call: Call, p: Any) -> bool:
    return p is NULL or p == NULL


@builtin("machine", options=KWARGS, category="machine",
         doc="machine(mem=8G, cpus=4, ...): boot a fresh simulated x86_64 machine; "
             "the old machine and everything on it is discarded")
def _machine(call: Call, options: dict[str, Any]) -> None:
    call.host.boot_with_options(options)


@value("dmesg", category="machine", doc="dmesg: the kernel log so far, as one string")
def _dmesg(call: Call) -> str:
    return call.machine.log.dmesg()

"""Script values.

A kmscript value is one of: ``int``, ``str``, ``bool``, ``list``, :class:`Ptr` (a kernel
virtual address, ``NULL`` is ``Ptr(0)``), a user function, or a *handle*: a runtime object
(page, cache, task, zone ...) whose readable attributes are listed in its class's
``KMS_ATTRS``.  Pointers are distinct from ints so that results print as the kernel prints
addresses and the REPL can say where an address lives; arithmetic on a pointer keeps it a
pointer (``p + 64``), comparing it with an int compares addresses.
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import KmsLimitError
from .limits import MAX_STR_LEN


_ADDR_MASK = 0xFFFFFFFFFFFFFFFF

# How many hex digits a pointer prints with: 2 * sizeof(void *) of the machine the session
# runs (16 on x86_64, 8 on i386), as %px prints it.  The session sets it whenever its
# machine changes or it runs code (``set_pointer_digits``); values keep only their address.
_ptr_digits = [16]


def set_pointer_digits(digits: int) -> None:
    _ptr_digits[0] = digits


class Ptr:
    """A kernel virtual address (``void *``)."""

    __slots__ = ("addr",)

    def __init__(self, addr: int) -> None:
        self.addr = addr if 0 <= addr <= _ADDR_MASK else addr & _ADDR_MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ptr):
            return self.addr == other.addr
        if isinstance(other, int) and not isinstance(other, bool):
            return self.addr == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.addr)

    def __bool__(self) -> bool:
        return self.addr != 0

    def __repr__(self) -> str:
        return "NULL" if self.addr == 0 else f"0x{self.addr:0{_ptr_digits[0]}x}"

    __str__ = __repr__


NULL = Ptr(0)
ZERO_SIZE_PTR = Ptr(16)


# Making a Ptr without running ``__init__``: a Python-level __init__ is a frame and
# a range check, which is a large part of a built-in call's cost (every kmalloc in a
# script loop makes one).  Only for an address already known to be in range.
new_object = object.__new__


def ptr(addr: int | None) -> Ptr:
    """Wrap a runtime address (``None`` meaning allocation failure) as a script pointer."""
    if not addr:
        return NULL
    if 0 < addr <= _ADDR_MASK:
        p: Ptr = new_object(Ptr)
        p.addr = addr
        return p
    return Ptr(addr)


def type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, Ptr):
        return "pointer"
    if v is None:
        return "nothing"
    name = getattr(type(v), "KMS_TYPE", None)
    if isinstance(name, str):
        return name
    return type(v).__name__.lower()


def format_value(v: Any) -> str:
    """How ``print`` shows a value."""
    if isinstance(v, list):
        return _format_list(v)
    return _format_scalar(v)


def repr_value(v: Any) -> str:
    """How the REPL and assertion messages show a value (strings quoted)."""
    if isinstance(v, list):
        return _format_list(v)
    return _repr_scalar(v)


def _format_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    return str(v)


def _repr_scalar(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _format_scalar(v)


def _format_list(root: list[Any]) -> str:
    """A list as ``[1, "a", [2]]``, without recursion: any nesting depth works, a list
    that contains itself shows as ``[...]`` where it recurs (as Python prints it), and
    text longer than a string may be is a limit error instead of host memory exhausted."""
    out = io.StringIO()
    out.write("[")
    size = 1
    stack: list[tuple[list[Any], int]] = [(root, 0)]
    on_path = {id(root)}
    while stack:
        items, i = stack[-1]
        if i >= len(items):
            stack.pop()
            on_path.discard(id(items))
            out.write("]")
            size += 1
            continue
        stack[-1] = (items, i + 1)
        piece = ", " if i else ""
        x = items[i]
        if isinstance(x, list):
            if id(x) in on_path:
                piece += "[...]"
            else:
                on_path.add(id(x))
                stack.append((x, 0))
                piece += "["
        else:
            piece += _repr_scalar(x)
        out.write(piece)
        size += len(piece)
        if size > MAX_STR_LEN:
            raise KmsLimitError(f"the text of this list is longer than {MAX_STR_LEN} characters")
    return out.getvalue()

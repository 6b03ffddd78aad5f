"""Script values.

A kmscript value is one of: ``int``, ``str``, ``bool``, ``list``, :class:`Ptr` (a kernel
virtual address, ``NULL`` is ``Ptr(0)``), a user function, or a *handle*: a runtime object
(page, cache, task, zone ...) whose readable attributes are listed in its class's
``KMS_ATTRS``.  Pointers are distinct from ints so that results print as the kernel prints
addresses and the REPL can say where an address lives; arithmetic on a pointer keeps it a
pointer (``p + 64``), comparing it with an int compares addresses.
"""

from __future__ import annotations

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
    text longer than a string may be is a limit error instead of host memory exhausted.

    A list reached more than once (``x = [x, x]`` holds one list twice) is written once
    and its text copied after, so the cost follows the text written, never the number
    of paths through shared lists.  That is only right when the list's text cannot
    depend on where it is reached from, which holds when no list it reaches, other than
    itself, reaches it back (its strongly connected component is itself alone): then no
    list on the path to it is reachable from it, so where ``[...]`` falls inside it is
    fixed.  Writing it showed that: every ``[...]`` written below it pointed deeper than
    it, and its own point at most at itself.  (Each list it reaches that is not copied
    is expanded at least once while it is open, so an edge back to it cannot go unseen.)"""
    pieces: list[str] = ["["]
    append = pieces.append
    size = 1
    # one frame per open list: [list, next index, where its text starts in pieces,
    #   lowest depth a [...] inside it points to, lowest depth its own [...] point to]
    inf = 1 << 62
    stack: list[list[Any]] = [[root, 0, 0, inf, inf]]
    on_path = {id(root): 0}  # id of an open list -> its depth
    done: dict[int, tuple[int, int]] = {}  # id of a finished list whose text is fixed
    repr_scalar = _repr_scalar
    while stack:
        frame = stack[-1]
        items = frame[0]
        i = frame[1]
        n = len(items)
        pushed = False
        while i < n:
            x = items[i]
            sep = ", " if i else ""
            i += 1
            if isinstance(x, list):
                key = id(x)
                depth = on_path.get(key)
                if depth is not None:
                    piece = sep + "[...]"
                    if depth < frame[4]:
                        frame[4] = depth
                else:
                    span = done.get(key)
                    if span is None:
                        append(sep)
                        size += len(sep)
                        on_path[key] = len(stack)
                        stack.append([x, 0, len(pieces), inf, inf])
                        append("[")
                        size += 1
                        pushed = True
                        break
                    a, b = span
                    text = "".join(pieces[a:b])
                    if b - a > 1:  # later copies take the one joined string
                        done[key] = (len(pieces) + 1, len(pieces) + 2)
                    append(sep)
                    piece = text
            else:
                piece = sep + repr_scalar(x)
            append(piece)
            size += len(piece)
            if size > MAX_STR_LEN:
                raise KmsLimitError(f"the text of this list is longer than {MAX_STR_LEN} characters")
        frame[1] = i
        if pushed:
            if size > MAX_STR_LEN:
                raise KmsLimitError(f"the text of this list is longer than {MAX_STR_LEN} characters")
            continue
        stack.pop()
        depth = len(stack)
        del on_path[id(items)]
        append("]")
        size += 1
        if frame[3] > depth and frame[4] >= depth:
            done[id(items)] = (frame[2], len(pieces))
        if stack:
            parent = stack[-1]
            low = min(frame[3], frame[4])
            if low < parent[3]:
                parent[3] = low
    if size > MAX_STR_LEN:
        raise KmsLimitError(f"the text of this list is longer than {MAX_STR_LEN} characters")
    return "".join(pieces)

"""Values and operators: what kmscript's operators do to its values.

- Integers are unbounded Python ints; ``/`` and ``%`` truncate toward zero, as in C.
- A pointer (:class:`Ptr`) plus or minus an integer is a pointer; a pointer minus a
  pointer is their distance; bit operations on a pointer work on its address.
- ``+`` also joins two strings or two lists.  ``true``/``false`` are not numbers.
- Comparisons: ``==``/``!=`` on any values; ordering on two integers, two strings or
  pointers; ``in``/``contains`` on strings and lists.
- Truth: ``false``, ``0``, ``""``, ``[]``, ``NULL`` and nothing are false.

Values are capped (lang/limits.py): an integer that would grow past ``MAX_INT_BITS``,
a string or list past its length limit, is a :class:`KmsLimitError`.  Every failure is a
:class:`KmsError` at the operator's span, raised when the operation runs (the compiler
folds constants only when this module does not raise).
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from ..errors import KmsLimitError, KmsRuntimeError, KmsTypeError
from ..source import Span
from .limits import MAX_INT_BITS, check_concat, check_int
from .values import Ptr, type_name

def truthy(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, (bool, int, str, list, Ptr)):
        return bool(v)
    return True


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int:
    return a - b * _c_div(a, b)


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "|": lambda a, b: a | b,
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b,
    "/": _c_div,
    "%": _c_mod,
}


def binop(op: str, a: Any, b: Any, span: Span) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if op in ("/", "%") and b == 0:
            raise KmsRuntimeError("division by zero", span)
        if op in ("<<", ">>") and b < 0:
            raise KmsRuntimeError(f"negative shift count {b}", span)
        if op == "<<" and a and a.bit_length() + b > MAX_INT_BITS + 1:
            # refused before Python builds the number
            raise KmsLimitError(f"integer too large: {a} << {b} has more than {MAX_INT_BITS} bits", span)
        return check_int(_INT_OPS[op](a, b), span)
    if ta is Ptr and tb is int:
        if op == "+":
            return Ptr(a.addr + b)
        if op == "-":
            return Ptr(a.addr - b)
        if op in ("&", "|", "^", ">>", "<<", "%", "/"):
            return binop(op, a.addr, b, span)
    if ta is int and tb is Ptr and op == "+":
        return Ptr(a + b.addr)
    if ta is Ptr and tb is Ptr and op == "-":
        return a.addr - b.addr
    if (ta is str and tb is str or ta is list and tb is list) and op == "+":
        check_concat(a, b, span)
        return a + b
    if ta is bool or tb is bool:
        raise KmsTypeError(f"cannot use '{op}' on {type_name(a)} and {type_name(b)} "
                           "(true/false are not numbers)", span)
    raise KmsTypeError(f"cannot use '{op}' on {type_name(a)} and {type_name(b)}", span)


_ORDERING: dict[str, Callable[[Any, Any], Any]] = {"<": operator.lt, ">": operator.gt, "<=": operator.le,
                                                    ">=": operator.ge}


def compare(op: str, a: Any, b: Any, span: Span) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op in ("in", "contains"):
        container, item = (b, a) if op == "in" else (a, b)
        if isinstance(container, str):
            if not isinstance(item, str):
                raise KmsTypeError(f"'{op}' on a string needs a string, not {type_name(item)}", span)
            return item in container
        if isinstance(container, list):
            return item in container
        raise KmsTypeError(f"'{op}' needs a string or a list, not {type_name(container)}", span)
    x: Any = a.addr if type(a) is Ptr else a
    y: Any = b.addr if type(b) is Ptr else b
    if (type(x) is int and type(y) is int) or (type(x) is str and type(y) is str):
        return bool(_ORDERING[op](x, y))
    raise KmsTypeError(f"cannot compare {type_name(a)} with {type_name(b)} using '{op}'", span)

"""The built-in registry: functions, methods, views, values and setters with signatures.

Every built-in is registered next to its implementation::

    @builtin("kmalloc", size=SIZE, gfp=opt(GFP, GFP_KERNEL), doc="...", category="slab")
    def _kmalloc(call: Call, size: int, gfp: int) -> Any:
        return ptr(call.machine.kmalloc.kmalloc(size, gfp, caller=call.caller))

The keyword arguments after the name are the parameters, in order, with their types
(``ParamType``); ``opt(T, default)`` makes one optional, ``VARARGS`` takes the rest of
the positional arguments as a list and ``KWARGS`` the remaining keyword arguments as a
dict.  The registry checks arity and types before the implementation runs, so an
implementation receives converted Python values (a ``PTR`` parameter receives an int
address; a ``NAME`` parameter receives the identifier text of a bare name).

The same registry feeds ``:help``, the REPL completer and the lexer's list of built-in
names (through ``lang.vocabulary``), so nothing is typed twice.

- ``@builtin(name, ...)``     a function callable from scripts
- ``@method(kms_type, name, ...)`` a method on a handle (``db.fault(64M)``); ``kms_type``
  is the handle class's ``KMS_TYPE``
- ``@view(name, ...)``        ``show NAME args`` (returns the text to print)
- ``@value(name)``            a read-only name computed on each read (``dmesg``)
- ``@setter(name)``           makes ``name(args)`` assignable (``get_cpu_var(c)++``)
- ``constant(name, value)``   a named constant (``PAGE_SIZE``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ...errors import KmsTypeError, KmsUsageError
from ..values import Ptr, type_name

if TYPE_CHECKING:
    from pathlib import Path

    from ...runtime.machine import Machine
    from ..host import Host


class ArgError(KmsTypeError):
    """A wrong argument.  From argument binding the interpreter points at the argument
    (``index``); raised by an implementation it is an ordinary error at the call."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class ParamType:
    name: str
    convert: Callable[[Any], Any]
    bare_name: bool = False  # a bare identifier is passed as its text (NAME)
    # a handle parameter: the classes already accepted, whose values convert to themselves
    accepted: set[type] | None = field(default=None, compare=False)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, Ptr):
            return v.addr
        raise TypeError("an integer")
    return v


def _size(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("a size (an integer like 64 or 4K)")
    if v < 0:
        raise ValueError(f"a size must not be negative (got {v})")
    return v


def _gfp(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("GFP flags (like GFP_KERNEL or GFP_ATOMIC | __GFP_ZERO)")
    if v < 0:
        raise ValueError(f"GFP flags must not be negative (got {v})")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("a string")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _ptr(v: Any) -> int:
    if isinstance(v, Ptr):
        return v.addr
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise TypeError("a pointer")


def _name(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("a name")
    return v


def _list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise TypeError("a list")
    return v


ANY = ParamType("value", lambda v: v)
INT = ParamType("int", _int)
SIZE = ParamType("size", _size)
GFP = ParamType("gfp", _gfp)
STR = ParamType("string", _str)
BOOL = ParamType("bool", _bool)
PTR = ParamType("pointer", _ptr)
NAME = ParamType("name", _name, bare_name=True)
LIST = ParamType("list", _list)


def handle(kms_type: str) -> ParamType:
    """A parameter that takes a runtime handle whose class has ``KMS_TYPE == kms_type``."""

    # type_name() depends on the value's class alone, so a class that passed once passes
    # again: one set lookup per call instead of type_name's chain of isinstance checks.
    accepted: set[type] = set()

    def conv(v: Any) -> Any:
        if type(v) in accepted:
            return v
        if type_name(v) != kms_type:
            raise TypeError(f"a {kms_type}")
        accepted.add(type(v))
        return v

    return ParamType(kms_type, conv, accepted=accepted)


def one_of(*types: ParamType) -> ParamType:
    """A parameter accepting any of several types (the first that converts wins)."""

    # a handle first (__free_pages(page | ptr, order)): a value of a class it has accepted
    # converts to itself, which is what the loop below would return, one call sooner
    first = types[0].accepted if types[0].accepted is not None else set()

    def conv(v: Any) -> Any:
        if type(v) in first:
            return v
        for t in types:
            try:
                return t.convert(v)
            except (TypeError, ValueError):
                continue
        raise TypeError(" or ".join(t.name for t in types))

    return ParamType("|".join(t.name for t in types), conv,
                     bare_name=any(t.bare_name for t in types))


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


VARARGS = _Marker("VARARGS")
KWARGS = _Marker("KWARGS")
_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType | None  # None for VARARGS/KWARGS
    default: Any = _REQUIRED
    kind: str = "normal"  # normal | varargs | kwargs

    @property
    def required(self) -> bool:
        return self.kind == "normal" and self.default is _REQUIRED

    def render(self) -> str:
        if self.kind == "varargs":
            return f"{self.name}..."
        if self.kind == "kwargs":
            return f"{self.name}=..."
        if self.required:
            return self.name
        return f"{self.name}={_render_default(self.default)}"


def _render_default(d: Any) -> str:
    if isinstance(d, _Default):
        return d.shown
    if d is None:
        return "none"
    if isinstance(d, bool):
        return "true" if d else "false"
    if isinstance(d, str):
        return f'"{d}"'
    return str(d)


@dataclass(frozen=True)
class _Default:
    value: Any
    shown: str


@dataclass(frozen=True)
class _Opt:
    type: ParamType
    default: Any


def default_value(p: Param) -> Any:
    """The value an optional parameter takes when the call leaves it out."""
    d = p.default
    return d.value if isinstance(d, _Default) else d


def opt(t: ParamType, default: Any, shown: str | None = None) -> _Opt:
    """An optional parameter; *shown* is how help prints the default (``GFP_KERNEL``)."""
    return _Opt(t, _Default(default, shown) if shown is not None else default)


class Call:
    """What an implementation gets besides its arguments: one object per call site.

    ``caller`` ("file.kms:12", the kernel's call site) is computed once, when the call
    site is compiled.  ``machine`` is the host's current machine, read at each use, so a
    call site compiled before ``machine(...)`` reboots uses the new machine; the first
    use boots the default machine.
    """

    __slots__ = ("host", "span", "caller", "_output_path")

    def __init__(self, host: "Host", span: Any, caller: str,
                 output_path: "Callable[[str], Path] | None" = None) -> None:
        self.host = host
        self.span = span
        self.caller = caller
        self._output_path = output_path

    def output_path(self, target: str) -> "Path":
        """Where a picture may be written (lang/include.py: resolve_output, relative to the
        calling script); a KmsUsageError otherwise."""
        if self._output_path is None:
            raise KmsUsageError(f"cannot write {target!r}: no picture files here")
        return self._output_path(target)

    @property
    def machine(self) -> "Machine":
        m = self.host.current_machine   # (a plain attribute: this runs on every call)
        return m if m is not None else self.host.machine

    def out(self, text: str) -> None:
        self.host.write(text)


Impl = Callable[..., Any]


@dataclass
class Builtin:
    name: str
    params: tuple[Param, ...]
    impl: Impl
    doc: str = ""
    category: str = "general"
    kind: str = "function"  # function | method | view | value
    owner: str | None = None  # KMS_TYPE for methods
    setter: Impl | None = None

    def signature(self) -> str:
        inner = ", ".join(p.render() for p in self.params)
        prefix = f"{self.owner}." if self.owner else ""
        if self.kind == "view":
            return f"show {self.name}" + ("" if not inner else " " + " ".join(p.render() for p in self.params))
        if self.kind == "value":
            return self.name
        return f"{prefix}{self.name}({inner})"

    def bind(self, args: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        """Match and convert arguments; returns the positional list for ``impl``.

        Raises ArgError with the index of the offending positional argument (or None).
        """
        out: list[Any] = []
        pos = 0
        kwargs = dict(kwargs)
        for p in self.params:
            if p.kind == "varargs":
                out.append(list(args[pos:]))
                pos = len(args)
                continue
            if p.kind == "kwargs":
                out.append(kwargs)
                kwargs = {}
                continue
            idx: int | None
            if pos < len(args):
                if p.name in kwargs:
                    raise ArgError(f"{self.name}() got two values for '{p.name}'")
                v = args[pos]
                idx = pos
                pos += 1
            elif p.name in kwargs:
                v = kwargs.pop(p.name)
                idx = None
            elif p.required:
                raise ArgError(f"{self.signature()}: missing argument '{p.name}'")
            else:
                out.append(default_value(p))
                continue
            assert p.type is not None
            try:
                out.append(p.type.convert(v))
            except TypeError as e:
                raise ArgError(f"{self.name}(): '{p.name}' must be {e.args[0]}, not {type_name(v)}", idx) from None
            except ValueError as e:
                raise ArgError(f"{self.name}(): {e.args[0]}", idx) from None
        if pos < len(args):
            n = sum(1 for p in self.params if p.kind == "normal")
            raise ArgError(f"{self.signature()} takes {n} argument{'s' if n != 1 else ''}, got {len(args)}", pos)
        if kwargs:
            bad = next(iter(kwargs))
            known = [p.name for p in self.params if p.kind == "normal"]
            raise ArgError(f"{self.name}() has no parameter '{bad}'" + (f" (parameters: {', '.join(known)})" if known else ""))
        return out


BUILTINS: dict[str, Builtin] = {}
METHODS: dict[tuple[str, str], Builtin] = {}
VIEWS: dict[str, Builtin] = {}
VALUES: dict[str, Builtin] = {}
CONSTANTS: dict[str, Any] = {}


def _params(spec: dict[str, Any]) -> tuple[Param, ...]:
    out = []
    for name, t in spec.items():
        if t is VARARGS:
            out.append(Param(name, None, kind="varargs"))
        elif t is KWARGS:
            out.append(Param(name, None, kind="kwargs"))
        elif isinstance(t, _Opt):
            out.append(Param(name, t.type, t.default))
        elif isinstance(t, ParamType):
            out.append(Param(name, t))
        else:
            raise TypeError(f"bad parameter spec {name}={t!r}")
    return tuple(out)


def builtin(name: str, *, doc: str = "", category: str = "general", **params: Any) -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        if name in BUILTINS:
            raise RuntimeError(f"builtin {name} registered twice")
        BUILTINS[name] = Builtin(name, _params(params), fn, doc or (fn.__doc__ or "").strip(), category)
        return fn
    return deco


def method(kms_type: str, name: str, *, doc: str = "", **params: Any) -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        key = (kms_type, name)
        if key in METHODS:
            raise RuntimeError(f"method {kms_type}.{name} registered twice")
        METHODS[key] = Builtin(name, _params(params), fn, doc or (fn.__doc__ or "").strip(), kms_type,
                               kind="method", owner=kms_type)
        return fn
    return deco


def view(name: str, *, doc: str = "", category: str = "views", **params: Any) -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        if name in VIEWS:
            raise RuntimeError(f"view {name} registered twice")
        VIEWS[name] = Builtin(name, _params(params), fn, doc or (fn.__doc__ or "").strip(), category, kind="view")
        return fn
    return deco


def value(name: str, *, doc: str = "", category: str = "general") -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        VALUES[name] = Builtin(name, (), fn, doc or (fn.__doc__ or "").strip(), category, kind="value")
        return fn
    return deco


def setter(name: str) -> Callable[[Impl], Impl]:
    """Make ``name(args)`` assignable: ``fn(call, *args, value)`` stores *value*."""

    def deco(fn: Impl) -> Impl:
        BUILTINS[name].setter = fn
        return fn
    return deco


def constant(name: str, val: Any) -> None:
    CONSTANTS[name] = val

"""Fault injection in scripts: the ``fail`` statement, ``fault_stats()`` and ``show faults``.

``fail KIND key=value ...`` writes the kernel's fault-injection knobs
(Documentation/fault-injection/fault-injection.rst) of the machine's FaultInjector:

====================  =====================================================================
``fail slab ...``     failslab (every SLUB cache); ``caches=NAME|handle|[list]`` turns on
                      the cache filter and flags those caches (SLAB_FAILSLAB); adds up
``fail kmalloc ...``  failslab restricted to the kmalloc-* caches (replaces a caches= filter)
``fail page_alloc``   fail_page_alloc; also ``min_order=N``, ``ignore_gfp_highmem=BOOL``
``fail any nth=N``    /proc/self/fail-nth: the N-th following fault-injection point of
                      any kind fails (also spelled ``fail fail_nth nth=N``)
``fail off``          every knob back to its boot default (counters kept);
                      ``fail KIND off=true`` disarms one attribute (probability 0, no nth)
``fail make_it_fail [pid=T] [on=false]``  /proc/<pid>/make-it-fail of task T (a task or
                      a pid; default: the current task), for ``task_filter=true``
====================  =====================================================================

Generic knobs (``struct fault_attr``, defaults as the kernel's FAULT_ATTR_INITIALIZER):
``probability`` (percent, 0), ``interval`` (1), ``times`` (1; -1 = unlimited), ``space``
(0), ``verbose`` (2), ``task_filter`` (false), ``ignore_gfp_wait`` (true: an allocation
that may sleep -- GFP_KERNEL -- is never failed; say ``ignore_gfp_wait=false``),
``nth`` (simulator extension: the N-th eligible call of this attribute fails).

A statement sets only the knobs it names, as writing debugfs files does.  A statement
that arms an attribute without naming ``probability`` or ``nth`` sets probability to 100
(so ``fail slab caches=inode times=1`` fails the next eligible inode allocation).
"""

from __future__ import annotations

from typing import Any

from ...errors import KmsRuntimeError, did_you_mean
from ...runtime.fault_inject import FAIL_PAGE_ALLOC, FAILSLAB, FaultAttr, FaultInjector
from ..values import type_name
from .registry import KWARGS, NAME, Call, builtin, opt, view

_KINDS = {
    "slab": FAILSLAB, "failslab": FAILSLAB, "kmalloc": FAILSLAB, "kmem_cache": FAILSLAB,
    "page_alloc": FAIL_PAGE_ALLOC, "fail_page_alloc": FAIL_PAGE_ALLOC, "pages": FAIL_PAGE_ALLOC,
}
_GENERIC_INT = ("probability", "interval", "times", "space", "verbose", "nth")
_BOOL_KNOBS = {"task_filter", "ignore_gfp_wait"}
_PAGE_ONLY = {"min_order", "ignore_gfp_highmem"}
_SLAB_ONLY = {"cache", "caches", "cache_name", "cache_filter"}
# ``cache`` is a keyword of the grammar (``cache NAME = create(...)``), so in a ``fail``
# statement the filter is spelled ``caches=`` (or ``cache_name=``); ``cache=`` is accepted
# where the parser lets it through.
_CACHE_KEYS = ("cache", "caches", "cache_name")


def _int(key: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise KmsRuntimeError(f"fail: '{key}' must be an integer")
    if v < lo:
        raise KmsRuntimeError(f"fail: '{key}' must be >= {lo} (got {v})")
    return v


def _bool(key: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    if isinstance(v, str) and v.upper() in ("Y", "N", "YES", "NO", "ON", "OFF"):
        return v.upper() in ("Y", "YES", "ON")
    raise KmsRuntimeError(f"fail: '{key}' must be true or false")


def _cache_name(call: Call, v: Any) -> str:
    if isinstance(v, str):
        cache = call.machine.slab.find_cache(v)
        return cache.name if cache is not None else v
    if type_name(v) == "cache":
        return str(v.name)
    raise KmsRuntimeError("fail: 'cache' must be a cache or a cache name")


def _configure(call: Call, fi: FaultInjector, kind: str, attr: FaultAttr, options: dict[str, Any]) -> None:
    known = set(_GENERIC_INT) | _BOOL_KNOBS | {"off"}
    known |= _SLAB_ONLY if attr.name == FAILSLAB else _PAGE_ONLY
    for key in options:
        if key not in known:
            raise KmsRuntimeError(f"fail {kind}: unknown option '{key}'{did_you_mean(key, known)} "
                                  f"(options: {', '.join(sorted(known))})")
    if "off" in options and _bool("off", options["off"]):
        fi.disable(attr.name)
        if kind == "kmalloc":
            attr.kmalloc_only = False
        return
    for key in _GENERIC_INT:
        if key in options:
            lo = -1 if key == "times" else (1 if key == "interval" else 0)
            val = _int(key, options[key], lo)
            if key == "probability" and val > 100:
                raise KmsRuntimeError("fail: 'probability' is a percentage (0..100)")
            setattr(attr, key, val)
    for key in _BOOL_KNOBS | {"ignore_gfp_highmem", "cache_filter"}:
        if key in options:
            setattr(attr, key, _bool(key, options[key]))
    if "min_order" in options:
        attr.min_order = _int("min_order", options["min_order"], 0)
    for key in _CACHE_KEYS:
        if key in options:
            caches = options[key] if isinstance(options[key], list) else [options[key]]
            attr.cache_filter = True
            for c in caches:
                attr.failslab_caches.add(_cache_name(call, c))
    if attr.name == FAILSLAB:
        attr.kmalloc_only = kind == "kmalloc"
        if kind == "kmalloc" and not any(k in options for k in _CACHE_KEYS):
            # kmalloc is its own cache filter (every kmalloc-* cache flagged SLAB_FAILSLAB)
            attr.cache_filter = False
            attr.failslab_caches.clear()
    if "probability" not in options and "nth" not in options and attr.probability == 0:
        attr.probability = 100
    attr.rearm()
    fi.update_active()


@builtin("fail", kind=NAME, options=KWARGS, category="faults",
         doc="fail KIND knob=value...: arm the kernel's fault injection (failslab, fail_page_alloc, "
             "fail-nth) with its debugfs knobs; `fail off` disarms")
def _fail(call: Call, kind: str, options: dict[str, Any]) -> None:
    fi = call.machine.faults
    if kind == "off":
        if options:
            raise KmsRuntimeError("fail off takes no options (use `fail KIND off=true` for one attribute)")
        fi.disable()
        return
    if kind in ("any", "nth", "task", "fail_nth"):
        for key in options:
            if key != "nth":
                raise KmsRuntimeError(f"fail {kind}: unknown option '{key}'{did_you_mean(key, ['nth'])} "
                                      "(options: nth)")
        if "nth" not in options:
            raise KmsRuntimeError(f"fail {kind}: give nth=N")
        fi.set_task_fail_nth(_int("nth", options["nth"], 0))
        return
    if kind == "make_it_fail":
        for key in options:
            if key not in ("pid", "on"):
                raise KmsRuntimeError(f"fail make_it_fail: unknown option '{key}'"
                                      f"{did_you_mean(key, ['pid', 'on'])} (options: pid, on)")
        target = options.get("pid")
        if target is None:
            pid = call.machine.ctx.current.pid     # the task running the script
        else:
            pid = target.pid if type_name(target) == "task" else target
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise KmsRuntimeError("fail make_it_fail: pid= takes a task or a pid")
        on = _bool("on", options.get("on", True))
        (fi.make_it_fail.add if on else fi.make_it_fail.discard)(pid)
        return
    name = _KINDS.get(kind)
    if name is None:
        kinds = [*_KINDS, "any", "nth", "task", "fail_nth", "make_it_fail", "off"]
        raise KmsRuntimeError(f"fail: unknown fault kind '{kind}'{did_you_mean(kind, kinds)} (kinds: slab, kmalloc, "
                              f"page_alloc, any, make_it_fail, off)")
    _configure(call, fi, kind, fi.attr(name), options)


@builtin("fault_stats", kind=opt(NAME, "all", '"all"'), category="faults",
         doc="fault_stats(kind): number of failures injected so far (all, slab or page_alloc)")
def _fault_stats(call: Call, kind: str) -> int:
    fi = call.machine.faults
    if kind == "all":
        return fi.injected
    name = _KINDS.get(kind)
    if name is None:
        raise KmsRuntimeError(f"fault_stats: unknown kind '{kind}'{did_you_mean(kind, [*_KINDS, 'all'])} "
                              "(all, slab, page_alloc)")
    return fi.attr(name).injected


@view("faults", doc="show faults: the fault-injection knobs (debugfs failslab/, fail_page_alloc/) and counters")
def _show_faults(call: Call) -> str:
    return call.machine.faults.render()

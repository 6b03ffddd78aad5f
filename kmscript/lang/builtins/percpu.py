"""Built-ins for per-cpu variables and the per-cpu allocator (include/linux/percpu-defs.h, mm/percpu.c).

Static variables are declared with ``percpu NAME [= init]`` (DEFINE_PER_CPU) and named
bare in calls: ``per_cpu(ctx, 2)``, ``this_cpu_inc(ctx)``, ``get_cpu_var(ctx)++``.
Dynamic ones: ``p = alloc_percpu(64)``; ``per_cpu_ptr(p, 1)``; ``free_percpu(p)``.
"""

from __future__ import annotations

from typing import Any

from ...runtime.gfp import GFP_KERNEL
from ..values import ptr
from .registry import GFP, INT, NAME, PTR, SIZE, Call, builtin, opt, setter, view


@builtin("per_cpu", var=NAME, cpu=INT, category="percpu",
         doc="per_cpu(var, cpu): CPU cpu's copy of a per-cpu variable (assignable; no preemption change)")
def _per_cpu(call: Call, var: str, cpu: int) -> int:
    return call.machine.percpu.per_cpu(var, cpu)


@setter("per_cpu")
def _per_cpu_set(call: Call, var: str, cpu: int, v: Any) -> None:
    call.machine.percpu.set_per_cpu(var, cpu, _int(v))


def _int(v: Any) -> int:
    if type(v) is not int:
        raise TypeError("a per-cpu variable holds an integer")
    return v


@builtin("this_cpu_read", var=NAME, category="percpu",
         doc="this_cpu_read(var): the current CPU's copy")
def _this_cpu_read(call: Call, var: str) -> int:
    return call.machine.percpu.this_cpu_read(var)


@builtin("this_cpu_write", var=NAME, v=INT, category="percpu",
         doc="this_cpu_write(var, v): set the current CPU's copy")
def _this_cpu_write(call: Call, var: str, v: int) -> None:
    call.machine.percpu.this_cpu_write(var, v)


@builtin("this_cpu_add", var=NAME, n=INT, category="percpu",
         doc="this_cpu_add(var, n): add n to the current CPU's copy (one irq-safe instruction, "
             "no preempt_disable needed); returns the new value")
def _this_cpu_add(call: Call, var: str, n: int) -> int:
    return call.machine.percpu.this_cpu_add(var, n)


@builtin("this_cpu_sub", var=NAME, n=INT, category="percpu",
         doc="this_cpu_sub(var, n): subtract n from the current CPU's copy")
def _this_cpu_sub(call: Call, var: str, n: int) -> int:
    return call.machine.percpu.this_cpu_add(var, -n)


@builtin("this_cpu_inc", var=NAME, category="percpu", doc="this_cpu_inc(var): this_cpu_add(var, 1)")
def _this_cpu_inc(call: Call, var: str) -> int:
    return call.machine.percpu.this_cpu_add(var, 1)


@builtin("this_cpu_dec", var=NAME, category="percpu", doc="this_cpu_dec(var): this_cpu_add(var, -1)")
def _this_cpu_dec(call: Call, var: str) -> int:
    return call.machine.percpu.this_cpu_add(var, -1)


@builtin("get_cpu_var", var=NAME, category="percpu",
         doc="get_cpu_var(var): preempt_disable(), then this CPU's copy (assignable: get_cpu_var(c)++); "
             "pair with put_cpu_var(var)")
def _get_cpu_var(call: Call, var: str) -> int:
    return call.machine.percpu.get_cpu_var(var)


@setter("get_cpu_var")
def _get_cpu_var_set(call: Call, var: str, v: Any) -> None:
    # the getter already disabled preemption; the store itself does not
    call.machine.percpu.this_cpu_write(var, _int(v))


@builtin("put_cpu_var", var=NAME, category="percpu", doc="put_cpu_var(var): preempt_enable()")
def _put_cpu_var(call: Call, var: str) -> None:
    call.machine.percpu.put_cpu_var(var)


@builtin("percpu_sum", var=NAME, category="percpu",
         doc="percpu_sum(var): the sum of every CPU's copy (what percpu_counter_sum adds up)")
def _percpu_sum(call: Call, var: str) -> int:
    return call.machine.percpu.percpu_sum(var)


@builtin("per_cpu_addr", var=NAME, cpu=INT, category="percpu",
         doc="per_cpu_addr(var, cpu): &per_cpu(var, cpu), the copy's address in CPU cpu's unit")
def _per_cpu_addr(call: Call, var: str, cpu: int) -> Any:
    return ptr(call.machine.percpu.var_addr(var, cpu))


@builtin("alloc_percpu", size=SIZE, align=opt(INT, 4), category="percpu",
         doc="alloc_percpu(size, align=4): a zeroed per-cpu area on every CPU (GFP_KERNEL); size is "
             "rounded up to 4 bytes, at most 32K; returns CPU 0's copy (NULL on failure)")
def _alloc_percpu(call: Call, size: int, align: int) -> Any:
    return ptr(call.machine.percpu.alloc_percpu(size, align, GFP_KERNEL, call.caller))


@builtin("alloc_percpu_gfp", size=SIZE, gfp=GFP, align=opt(INT, 4), category="percpu",
         doc="alloc_percpu_gfp(size, gfp, align=4): without __GFP_DIRECT_RECLAIM only populated "
             "space can be used and no chunk is created")
def _alloc_percpu_gfp(call: Call, size: int, gfp: int, align: int) -> Any:
    return ptr(call.machine.percpu.alloc_percpu(size, align, gfp, call.caller))


@builtin("free_percpu", p=PTR, category="percpu", doc="free_percpu(p): free a per-cpu area (NULL: no-op)")
def _free_percpu(call: Call, p: int) -> None:
    call.machine.percpu.free_percpu(p)


@builtin("per_cpu_ptr", p=PTR, cpu=INT, category="percpu",
         doc="per_cpu_ptr(p, cpu): the address of CPU cpu's copy of per-cpu area p")
def _per_cpu_ptr(call: Call, p: int, cpu: int) -> Any:
    return ptr(call.machine.percpu.per_cpu_ptr(p, cpu))


@view("percpu_stats", category="percpu",
      doc="show percpu_stats: /sys/kernel/debug/percpu_stats (allocation info, global stats, per-chunk "
          "fragmentation)")
def _percpu_stats(call: Call) -> str:
    return call.machine.percpu.percpu_stats()


@view("percpu", category="percpu",
      doc="show percpu: the first-chunk boot lines, units, each chunk's populated pages and use, "
          "and every static per-cpu variable's copies")
def _percpu_layout(call: Call) -> str:
    return call.machine.percpu.show()


@builtin("this_cpu_ptr", p=PTR, category="percpu",
         doc="this_cpu_ptr(p): the current CPU's copy of per-cpu area p (the caller keeps preemption off)")
def _this_cpu_ptr(call: Call, p: int) -> Any:
    return ptr(call.machine.percpu.this_cpu_ptr(p))


@builtin("get_cpu_ptr", p=PTR, category="percpu",
         doc="get_cpu_ptr(p): preempt_disable(), then the current CPU's copy of p; pair with put_cpu_ptr(p)")
def _get_cpu_ptr(call: Call, p: int) -> Any:
    return ptr(call.machine.percpu.get_cpu_ptr(p))


@builtin("put_cpu_ptr", p=PTR, category="percpu", doc="put_cpu_ptr(p): preempt_enable()")
def _put_cpu_ptr(call: Call, p: int) -> None:
    call.machine.percpu.put_cpu_ptr(p)

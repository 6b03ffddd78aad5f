"""Kernel stacks against the stand-in page allocator of test_vmalloc_unit: VMAP_STACK
stacks, the per-CPU stack cache, IRQ stacks, and order-2 stacks without VMAP_STACK."""

from __future__ import annotations

import pytest

from kmscript.runtime.errors import KernelFault
from kmscript.runtime.kstack import KernelStacks

from test_vmalloc_unit import THREAD_SIZE, is_vmalloc_addr, make
from kmscript.runtime.arch import X86_64


def make_kstacks(vmap: bool = True, nr_cpus: int = 2):
    vm, buddy, km, log, tracer, ctx, vmstat = make(nr_cpus)
    ks = KernelStacks(arch=X86_64, vmap_stack=vmap, vmalloc=vm, page_alloc=buddy, ctx=ctx, vmstat=vmstat, nr_cpus=nr_cpus,
                      owner_kstack=10)
    ks.init_irq_stacks()
    return ks, vm, buddy, vmstat


def test_kstacks_vmap_cache_and_vmallocinfo() -> None:
    ks, vm, buddy, vmstat = make_kstacks()
    info = vm.vmallocinfo()
    assert info.count("   20480 irq_init_percpu_irqstack+0xca/0x100 vmap\n") == 2
    s = [ks.alloc_thread_stack(0) for _ in range(3)]
    assert all(x is not None and x % THREAD_SIZE == 0 for x in s)
    assert vmstat.nr_kernel_stack_kb == 48
    assert "   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4" in vm.vmallocinfo()
    for x in s:
        ks.free_thread_stack(x, 0)
    assert vmstat.nr_kernel_stack_kb == 0 and ks.nr_cached(0) == 2
    assert vm.vmallocinfo().count("unpurged vm_area") == 1  # the third one was vfree'd
    again = ks.alloc_thread_stack(0)
    assert again == s[0]  # cached_stacks[0] first
    assert ks.alloc_thread_stack(1) not in s  # CPU 1 has no cache


def test_kstacks_without_vmap_stack_are_order2() -> None:
    ks, vm, buddy, vmstat = make_kstacks(vmap=False)
    s = ks.alloc_thread_stack(1)
    assert s is not None and not is_vmalloc_addr(s)
    assert list(buddy.out.values()) == [2]
    ks.free_thread_stack(s, 1)
    assert not buddy.out and vmstat.nr_kernel_stack_kb == 0
    with pytest.raises(KernelFault):
        ks.alloc_thread_stack(7)

"""Kernel stacks on a whole Machine, with and without VMAP_STACK."""

from __future__ import annotations

from kmscript.runtime.arch import X86_64

THREAD_SIZE = X86_64.thread_size
is_vmalloc_addr = X86_64.is_vmalloc_addr

from test_vmalloc_machine import boot


def test_kernel_stacks_vmap_and_not() -> None:
    m = boot()
    s = m.kstacks.alloc_thread_stack(1, "kernel_clone")
    assert s is not None and is_vmalloc_addr(s) and s % THREAD_SIZE == 0
    assert "   20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4" in m.vmalloc.vmallocinfo()
    assert m.vmstat.nr_kernel_stack_kb == 16
    m.kstacks.free_thread_stack(s, 1)
    assert m.kstacks.nr_cached(1) == 1 and m.vmstat.nr_kernel_stack_kb == 0
    m2 = boot(vmap_stack=False)
    s2 = m2.kstacks.alloc_thread_stack(0)
    assert s2 is not None and not is_vmalloc_addr(s2)
    pfn = (s2 - 0xFFFF888000000000) >> 12
    assert pfn % 4 == 0  # an order-2 block is naturally aligned
    page = m2.page_alloc.pfn_to_page(pfn)
    assert page.order == 2 and page.owner == "kstack"
    m2.kstacks.free_thread_stack(s2, 0)
    assert m2.vmstat.nr_kernel_stack_kb == 0

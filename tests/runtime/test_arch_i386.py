"""machine(arch="i386"): every layout figure against the kernel's formula (issue 16 item 3).

Sources (see kmscript/runtime/arch/i386.py): arch/x86/include/asm/page_32_types.h,
pgtable_32_areas.h, pgtable-2level_types.h, fixmap.h, setup.h, apicdef.h;
include/asm-generic/kmap_size.h, include/asm-generic/fixmap.h; arch/x86/mm/pgtable_32.c,
arch/x86/mm/init_32.c, arch/x86/mm/init.c; mm/page_alloc.c, mm/highmem.c.
"""

from __future__ import annotations

import math

import pytest

from kmscript.runtime import gfp as G
from kmscript.runtime import slab_geometry as g
from kmscript.runtime.arch import I386, get_arch
from kmscript.runtime.arch import i386 as A
from kmscript.runtime.errors import KernelFault
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import PAGE_SHIFT, PAGE_SIZE

MiB = 1 << 20


def boot(mem: int, cpus: int = 2) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=cpus, arch="i386"))


# -- page_32_types.h, processor.h: the 3G/1G split and the stacks ---------------------------
def test_split_and_thread_size() -> None:
    a = get_arch("i386")
    assert a is I386 and a.pointer_size == 4 and a.ptr_digits == 8
    assert a.page_offset == 0xC0000000                  # CONFIG_PAGE_OFFSET, VMSPLIT_3G
    assert a.task_size == a.page_offset                 # TASK_SIZE == PAGE_OFFSET: 3 GiB of user space
    assert a.thread_size == PAGE_SIZE << 1 == 8192      # THREAD_SIZE_ORDER 1
    assert a.pmd_shift == 22                            # 2-level paging: PMD folded into the 4 MiB PGD


# -- fixmap.h: enum fixed_addresses (X86_32, LOCAL_APIC, IO_APIC, KMAP_LOCAL, PCI_MMCONFIG) ----
def test_fixmap_enum() -> None:
    e = A.FIXED_ADDRESSES
    assert e["FIX_IO_APIC_BASE_0"] == 4                 # after FIX_HOLE, DBGP, EARLYCON, APIC
    assert e["FIX_IO_APIC_BASE_END"] == 4 + A.MAX_IO_APICS - 1 == 67
    assert e["FIX_KMAP_BEGIN"] == 68
    assert e["FIX_KMAP_END"] == 68 + A.KM_MAX_IDX * A.NR_CPUS - 1 == 195
    assert e["__end_of_permanent_fixed_addresses"] == 197
    # 197 .. 197 + 511 lies within one 1024-entry page table: no rounding up
    assert (197 ^ (197 + 511)) & -A.PTRS_PER_PTE == 0 and e["FIX_BTMAP_END"] == 197
    assert e["FIX_BTMAP_BEGIN"] == 197 + 512 - 1 and e["__end_of_fixed_addresses"] == 710


def test_fixmap_addresses() -> None:
    assert A.FIXADDR_TOP == 0xFFFFF000                   # __FIXADDR_TOP (pgtable_32.c)
    assert A.fix_to_virt(0) == A.FIXADDR_TOP
    assert A.FIXADDR_START == 0xFFFFF000 - 197 * PAGE_SIZE == 0xFFF3A000
    assert A.FIXADDR_TOT_START == 0xFFFFF000 - 710 * PAGE_SIZE == 0xFFD39000
    assert I386.fix_kmap_begin_addr == A.fix_to_virt(68) == 0xFFFBB000
    # kmap_local slot idx of CPU c: __fix_to_virt(FIX_KMAP_BEGIN + idx + KM_MAX_IDX * c)
    assert I386.kmap_local_addr(0, 1) == 0xFFFBA000
    assert I386.kmap_local_addr(7, 15) == A.fix_to_virt(A.FIXED_ADDRESSES["FIX_KMAP_END"]) == 0xFFF3C000


# -- pgtable_32_areas.h: cpu_entry_area, LDT, pkmap, vmalloc, MAXMEM ----------------------------
def test_areas_below_the_fixmap() -> None:
    pmd_mask = ~((1 << 22) - 1) & 0xFFFFFFFF
    assert A.PMD_MASK == pmd_mask
    assert A.CPU_ENTRY_AREA_BASE == 0xFFC00000
    # (FIXADDR_TOT_START - PAGE_SIZE * (CPU_ENTRY_AREA_PAGES + 1)) & PMD_MASK is that base for
    # any cpu_entry_area of up to 39 pages per CPU (NR_CPUS 8): the figure is not sensitive to
    # sizeof(struct cpu_entry_area), which is not derived here
    assert A.CEA_PAGES_PER_CPU_LIMIT == 39
    for per_cpu in (1, 10, A.CEA_PAGES_PER_CPU_LIMIT):
        assert (A.FIXADDR_TOT_START - PAGE_SIZE * (A.NR_CPUS * per_cpu + 1)) & pmd_mask == 0xFFC00000
    assert (A.FIXADDR_TOT_START - PAGE_SIZE * (A.NR_CPUS * 40 + 1)) & pmd_mask == 0xFF800000
    assert A.LDT_BASE_ADDR == (0xFFC00000 - PAGE_SIZE) & pmd_mask == 0xFF800000
    assert A.LDT_END_ADDR == 0xFFC00000
    assert A.PKMAP_BASE == (0xFF800000 - PAGE_SIZE) & pmd_mask == 0xFF400000 == I386.pkmap_base
    assert I386.last_pkmap == A.LAST_PKMAP == 1024         # !CONFIG_X86_PAE
    assert I386.pkmap_addr(1) == 0xFF401000
    assert A.VMALLOC_END == A.PKMAP_BASE - 2 * PAGE_SIZE == 0xFF3FE000 == I386.vmalloc_end
    # mem_init()'s BUILD_BUG_ONs
    assert A.PKMAP_BASE + A.LAST_PKMAP * PAGE_SIZE <= A.FIXADDR_START
    assert A.VMALLOC_END <= A.PKMAP_BASE
    assert A.MAXMEM == A.VMALLOC_END - A.PAGE_OFFSET - (128 << 20) == 0x373FE000
    assert A.MAXMEM_PFN == 226302
    assert A.MAXMEM_PFN >> (20 - PAGE_SHIFT) == 883   # "883MB LOWMEM available" (the book's 896 MB
    # predates the 4 MiB cpu_entry_area and LDT remap PMDs of Linux 4.15)


@pytest.mark.parametrize("mem, max_low_pfn", [(512 * MiB, 131072), (2 << 30, 226302), (4 << 30, 226302)])
def test_booted_layout(mem: int, max_low_pfn: int) -> None:
    m = boot(mem)
    pa = m.page_alloc
    assert pa.max_low_pfn == max_low_pfn
    # arch/x86/mm/init_32.c: initmem_init: high_memory = __va(max_low_pfn << PAGE_SHIFT);
    # VMALLOC_START = high_memory + VMALLOC_OFFSET
    assert m.arch.direct_map_end == 0xC0000000 + (max_low_pfn << PAGE_SHIFT)
    assert m.arch.vmalloc_start == m.arch.direct_map_end + 8 * MiB
    assert m.arch.vmalloc_end == 0xFF3FE000
    # FLATMEM: mem_map covers pfn 0 .. max_pfn rounded up to MAX_ORDER_NR_PAGES, memblock puts
    # it top-down below the end of lowmem
    max_pfn = pa.memmap.max_pfn
    size = -(-max_pfn // 1024) * 1024 * 40
    assert m.arch.vmemmap_start == 0xC0000000 + (((max_low_pfn << PAGE_SHIFT) - size) & ~63)
    assert m.arch.pfn_to_struct_page(1) == m.arch.vmemmap_start + 40


def test_zones() -> None:
    m = boot(2 << 30)
    pa = m.page_alloc
    names = [z.name for z in pa.zones]
    assert names == ["DMA", "Normal", "HighMem", "Movable"]     # no ZONE_DMA32
    dma, normal, high, movable = pa.zones
    assert dma.end_pfn == (16 * MiB) >> PAGE_SHIFT               # MAX_DMA_PFN
    assert normal.start_pfn == dma.end_pfn and normal.end_pfn == A.MAXMEM_PFN
    assert high.start_pfn == A.MAXMEM_PFN and high.end_pfn == (2 << 30) >> PAGE_SHIFT
    assert high.managed == high.present and movable.present == 0
    with pytest.raises(KernelFault, match="no zone named 'DMA32'"):
        pa.zone_by_name("DMA32")
    assert pa.zone_by_name("ZONE_HIGHMEM") is high
    # small machines: everything is lowmem, ZONE_HIGHMEM is empty (lowmem_pfn_init)
    small = boot(256 * MiB).page_alloc
    assert small.zone_by_name("HighMem").present == 0 and small.max_low_pfn == (256 * MiB) >> PAGE_SHIFT


def test_4g_is_trimmed_to_the_non_pae_limit() -> None:
    m = boot(4 << 30)
    high = m.page_alloc.zone_by_name("HighMem")
    # e820 puts RAM above 3 GiB beyond the PCI hole, above 4 GiB: MAX_NONPAE_PFN cuts it off
    assert high.end_pfn == A.MAX_NONPAE_PFN and high.present == (3 << 30 >> PAGE_SHIFT) - A.MAXMEM_PFN
    assert any("only 4GB will be used" in r.text for r in m.log.records)
    # more RAM than that boots the same machine, as the kernel does: the default 8 GiB
    # machine(arch="i386") is a 3 GiB highmem machine that says why
    big = boot(8 << 30)
    assert big.page_alloc.zone_by_name("HighMem").present == high.present
    assert any("only 4GB will be used" in r.text for r in big.log.records)


def test_nr_cpus_is_the_configs() -> None:
    assert boot(256 * MiB, cpus=8).nr_cpus == 8
    with pytest.raises(KernelFault, match="CONFIG_NR_CPUS=8"):
        boot(256 * MiB, cpus=9)


# -- mm/page_alloc.c with a highmem zone --------------------------------------------------------
def test_watermarks_and_reserves() -> None:
    m = boot(2 << 30)
    pa = m.page_alloc
    dma, normal, high, movable = pa.zones
    # calculate_min_free_kbytes: nr_free_buffer_pages() covers gfp_zone(GFP_USER) = Normal and
    # below; HighMem does not count
    assert pa.zt.gfp_zone(G.GFP_USER) == 1
    # setup_per_zone_wmarks: lowmem_pages = managed of !highmem, !movable zones; highmem's min
    # is clamp(managed / 1024, SWAP_CLUSTER_MAX, 128); its low/high still use its share
    lowmem_pages = dma.managed + normal.managed
    pages_min = pa.min_free_kbytes >> (PAGE_SHIFT - 10)
    for z in (dma, normal):
        assert z.min == pages_min * z.managed // lowmem_pages
    assert high.min == min(max(high.managed // 1024, 32), 128) == 128
    share = pages_min * high.managed // lowmem_pages
    delta = max(share >> 2, high.managed * 10 // 10000)
    assert high.low == 128 + delta and high.high == 128 + 2 * delta
    assert movable.min == 32                                     # empty Movable: clamp(0, 32, 128)
    # setup_per_zone_lowmem_reserve with sysctl_lowmem_reserve_ratio {256, 32, 0, 0}
    assert pa.lowmem_reserve_ratio == [256, 32, 0, 0]
    assert dma.lowmem_reserve == [0, normal.managed // 256, (normal.managed + high.managed) // 256,
                                  (normal.managed + high.managed) // 256]
    assert normal.lowmem_reserve == [0, 0, high.managed // 32, high.managed // 32]
    assert high.lowmem_reserve == [0, 0, 0, 0]
    # calculate_totalreserve_pages
    assert pa.totalreserve_pages == sum(min(max(z.lowmem_reserve[z.idx:]) + z.high, z.managed) for z in pa.zones)


def test_min_free_kbytes_ignores_highmem() -> None:
    """calculate_min_free_kbytes: int_sqrt(nr_free_buffer_pages() * 4 * 16), where
    nr_free_buffer_pages sums managed - high over the zones GFP_USER may use (no HighMem)."""
    pa = boot(2 << 30, cpus=1).page_alloc
    pa.sysctl_min_free_kbytes(1024)                   # any value: watermarks now exist
    pa.user_min_free_kbytes = -1
    pa.calculate_min_free_kbytes()
    lowmem_free = sum(z.managed - z.high for z in pa.zones[:2] if z.managed > z.high)
    assert pa.min_free_kbytes == min(max(math.isqrt(lowmem_free * 4 * 16), 128), 262144)
    high = pa.zone_by_name("HighMem")
    with_high = lowmem_free + high.managed - high.high
    assert pa.min_free_kbytes != min(max(math.isqrt(with_high * 4 * 16), 128), 262144)


def test_gfp_zone_table() -> None:
    z = I386.zones
    assert (z.DMA, z.DMA32, z.NORMAL, z.HIGHMEM, z.MOVABLE, z.MAX_NR_ZONES) == (0, -1, 1, 2, 3, 4)
    assert z.gfp_zone(G.GFP_KERNEL) == z.NORMAL
    assert z.gfp_zone(G.GFP_HIGHUSER) == z.HIGHMEM
    assert z.gfp_zone(G.GFP_HIGHUSER_MOVABLE) == z.MOVABLE
    assert z.gfp_zone(G.GFP_DMA) == z.DMA
    assert z.gfp_zone(G.__GFP_DMA32) == z.NORMAL                 # OPT_ZONE_DMA32 without ZONE_DMA32
    assert z.gfp_zone_bad(G.__GFP_DMA | G.__GFP_HIGHMEM)
    # x86_64's table is unchanged
    for mask in range(16):
        assert G.X86_64_ZONES.gfp_zone(mask) == G.gfp_zone(mask)


def test_highuser_lands_in_highmem_and_has_no_address() -> None:
    m = boot(1 << 30)
    pfn = m.page_alloc.alloc_pages(G.GFP_HIGHUSER, 0)
    assert pfn is not None and pfn >= m.page_alloc.max_low_pfn
    assert m.highmem.page_address(pfn) == 0
    # __get_free_pages clears __GFP_HIGHMEM (mm/page_alloc.c: get_free_pages_noprof)
    addr = m.page_alloc.get_free_pages(G.GFP_HIGHUSER, 0)
    assert addr is not None and m.arch.is_direct_map_addr(addr)
    # GFP_KERNEL never leaves lowmem
    low = m.page_alloc.alloc_pages(G.GFP_KERNEL, 0)
    assert low is not None and low < m.page_alloc.max_low_pfn


def test_meminfo_high_and_low() -> None:
    m = boot(2 << 30)
    from kmscript.runtime.procfs import meminfo
    text = meminfo(m.page_alloc)
    vals = {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines() if ln.endswith("kB")}
    high = m.page_alloc.zone_by_name("HighMem")
    assert vals["HighTotal"] == high.managed * 4 and vals["HighFree"] == high.free_pages * 4
    assert vals["LowTotal"] + vals["HighTotal"] == vals["MemTotal"]
    assert vals["LowFree"] + vals["HighFree"] == vals["MemFree"]
    assert vals["VmallocTotal"] == (0xFF3FE000 - 0xF7BFE000) >> 10 == 122880
    assert vals["Hugepagesize"] == 4096 and "DirectMap4M" in vals and "DirectMap1G" not in vals
    # the direct map covers lowmem only: 4K for the first PMD and the tail, 4M between; the
    # ISA range [0, 1 MiB) is mapped whole, RAM or not (init_mem_mapping), so the counts
    # cover every pfn below max_low_pfn
    assert vals["DirectMap4k"] + vals["DirectMap4M"] == 226302 * 4
    assert vals["DirectMap4k"] == (256 + 768 + 226302 % 1024) * 4
    assert vals["DirectMap4M"] == ((226302 // 1024) - 1) * 4096   # 4 MiB pages from 4 MiB on


# -- 4-byte pointers: slab geometry and struct sizes ---------------------------------------------
def test_struct_sizes() -> None:
    a = I386
    # struct page: flags + 5-word union + _mapcount + _refcount + memcg_data = 36, aligned to
    # 2 * sizeof(long) (HAVE_ALIGNED_STRUCT_PAGE): 40
    assert a.struct_page_size == 40
    assert a.sizeof_track == 4 + 4 + 4 + 4 + 4 == 20     # struct track with 4-byte longs
    assert a.sizeof_vm_struct == 9 * 4                    # no page_order without HAVE_ARCH_HUGE_VMALLOC
    assert a.kmalloc_min_align == a.slab_min_align == 8   # __alignof__(unsigned long long) is 8 in GCC


def test_slab_geometry_with_four_byte_pointers() -> None:
    """mm/slub.c: calculate_sizes with sizeof(void *) == 4 and ARCH_SLAB_MINALIGN 8."""
    align = g.calculate_alignment(0, 0, 10, I386)
    assert align == 8                                  # max(ARCH_SLAB_MINALIGN, sizeof(void *))
    plain = g.calculate_sizes(10, align, 0, 2, arch=I386)
    # ALIGN(10, 4) = 12 in use, free pointer at ALIGN_DOWN(10 / 2, 4) = 4, slot ALIGN(12, 8) = 16
    assert (plain.inuse, plain.offset, plain.size) == (12, 4, 16)
    dbg = g.SLAB_RED_ZONE | g.SLAB_STORE_USER | g.SLAB_POISON
    d = g.calculate_sizes(12, 8, dbg, 2, arch=I386)
    # 12 + a 4-byte right red zone, free pointer at 16 (+4), 2 tracks of 20 at 20 (+40), +4
    # padding word, red_left_pad ALIGN(4, 8) = 8: 72
    assert (d.inuse, d.offset, d.track_offset, d.red_left_pad, d.size) == (16, 16, 20, 8, 72)
    m = boot(256 * MiB)
    c = m.slab.find_cache("kmalloc-8")                 # KMALLOC_MIN_SIZE 8
    assert c is not None and c.object_size == 8 and c.size == 8
    small = m.slab.kmem_cache_create("small_obj", 20, 0, g.SLAB_NO_MERGE)
    assert (small.align, small.size) == (8, 24)
    p = m.kmalloc.kmalloc(50)
    assert p is not None and 0xC0000000 <= p < m.arch.direct_map_end


def test_addresses_print_with_eight_digits() -> None:
    m = boot(256 * MiB)
    m.tracer.enabled = True
    seen: list[str] = []
    m.tracer.add_listener(lambda ev, f: seen.append(f))
    m.kmalloc.kmalloc(50)
    line = next(f for f in seen if "bytes_req=50" in f)
    ptr = line.split("ptr=")[1].split()[0]
    assert len(ptr) == 8 and int(ptr, 16) >= 0xC0000000
    m.page_alloc.alloc_pages(G.GFP_KERNEL, 0)
    page = next(f for f in seen if f.startswith("page="))
    assert len(page.split()[0]) == len("page=") + 8
    vm = m.vmalloc.vmalloc_gfp(8192, G.GFP_KERNEL)
    assert vm is not None and m.arch.is_vmalloc_addr(vm)
    assert "0x%08x-0x%08x" % (vm, vm + 3 * 4096) in m.vmalloc.vmallocinfo()


def _run(text: str) -> str:
    from kmscript.session import Session
    out: list[str] = []
    s = Session(out=out.append, quiet=True)
    s.run_text(text)
    return "\n".join(out)


def test_stacks_are_page_blocks_with_hard_and_soft_irq_stacks() -> None:
    """THREAD_SIZE 8 KiB (THREAD_SIZE_ORDER 1); no VMAP_STACK on 32-bit (HAVE_ARCH_VMAP_STACK
    if X86_64); arch/x86/kernel/irq_32.c: irq_init_percpu_irqstack takes a hardirq and a
    softirq stack of THREAD_SIZE per CPU from the page allocator."""
    m = boot(256 * MiB)
    ks = m.kstacks
    assert ks.thread_size == 8192 and not ks.vmap_stack
    assert len(ks.irq_stack_pages) == m.nr_cpus
    for hard, soft in ks.irq_stack_pages:
        assert m.arch.is_direct_map_addr(hard) and m.arch.is_direct_map_addr(soft)
        assert hard % 8192 == 0 and soft % 8192 == 0 and hard != soft
    base = ks.alloc_thread_stack(0)
    assert base is not None and m.arch.is_direct_map_addr(base) and base % 8192 == 0
    assert "VMAP_STACK=n" in ks.show() and "softirq stack 0x" in ks.show()


def test_show_layout_draws_the_32_bit_kernel_half() -> None:
    text = _run('machine(cpus=2, mem=1G, arch="i386")\nshow layout')
    assert "00000000 - bfffffff       3 GB  user-space" in text
    assert "c0000000 - f73fdfff" in text                   # lowmem: MAXMEM below 1 GiB of RAM
    assert "f7bfe000 - ff3fdfff     120 MB  vmalloc" in text
    assert "ff400000 - ff7fffff       4 MB  pkmap" in text
    assert "ff800000 - ffbfffff       4 MB  LDT remap" in text
    assert "kmap_local slots fff3c000-fffbbfff" in text


def test_script_pointers_print_with_eight_digits() -> None:
    text = _run('machine(cpus=1, mem=256M, arch="i386")\nprint(kmalloc(50, GFP_KERNEL))')
    assert text.strip().startswith("0xc") and len(text.strip()) == 10
    text64 = _run('machine(cpus=1, mem=256M)\nprint(kmalloc(50, GFP_KERNEL))')
    assert text64.strip().startswith("0xffff888") and len(text64.strip()) == 18


def test_an_exhausted_pkmap_pool_is_reported_as_the_hang_it_would_be() -> None:
    """mm/highmem.c: map_new_virtual sleeps in TASK_UNINTERRUPTIBLE when LAST_PKMAP entries
    were checked without a free one; with no other task to kunmap, the script stops there."""
    m = boot(1 << 30, cpus=1)
    pfns = [m.page_alloc.alloc_pages(G.GFP_HIGHUSER, 0) for _ in range(1025)]
    assert all(p is not None and p >= m.page_alloc.max_low_pfn for p in pfns)
    addrs = [m.highmem.kmap(p) for p in pfns[:1024] if p is not None]
    assert sorted(addrs) == [0xFF400000 + i * PAGE_SIZE for i in range(1024)]   # entry 0 after the wrap
    assert m.highmem.pkmap_in_use() == 1024
    last = pfns[1024]
    assert last is not None
    with pytest.raises(KernelFault, match=r"all 1024 pkmap entries \(LAST_PKMAP\) are in use.*would hang forever"):
        m.highmem.kmap(last)
    # one kunmap frees an entry only at the next flush: the scan wraps, flushes, and finds it
    m.highmem.kunmap(pfns[7])
    assert m.highmem.kmap(last) == 0xFF400000 + 8 * PAGE_SIZE


def test_kmap_local_slots_follow_the_cpu_and_the_task_stack() -> None:
    m = boot(1 << 30, cpus=2)
    hm = m.highmem
    p = m.page_alloc.alloc_pages(G.GFP_HIGHUSER, 0)
    assert p is not None
    a = hm.kmap_local_page(p)
    m.mem.write(a, b"abc")                           # through the fixmap slot: the page's bytes
    b = hm.kmap_local_page(p)                       # nested: the next slot, same page
    assert b == a - PAGE_SIZE
    assert m.mem.read(b, 3) == b"abc"
    hm.kunmap_local(b)
    hm.kunmap_local(a)
    assert m.ctx.preempt_count == 0 and m.ctx.pagefault_disabled == 0
    snap = m.ctx.enter_cpu(1)
    try:
        assert hm.kmap_atomic(p) == I386.kmap_local_addr(1, 0) == 0xFFFBB000 - 16 * PAGE_SIZE
        assert m.ctx.preempt_count == 2 and m.ctx.pagefault_disabled == 1
        hm.kunmap_atomic(I386.kmap_local_addr(1, 0))
    finally:
        m.ctx.restore(snap)
    assert hm.page_address(p) == 0                  # kmap_local never sets page_address


def test_the_direct_map_ends_at_lowmem() -> None:
    """virt_to_page/free_pages take direct-map addresses only: on i386 the direct map ends
    at high_memory, so a vmalloc address above it is not one, whatever the RAM size."""
    m = boot(2 << 30)
    v = m.vmalloc.vmalloc_gfp(4096, G.GFP_KERNEL)
    assert v is not None and v >= m.arch.direct_map_end
    with pytest.raises(KernelFault, match="not a direct-map address"):
        m.page_alloc.virt_to_page(v)
    with pytest.raises(KernelFault, match="not a direct-map address"):
        m.page_alloc.free_pages_addr(v, 0)
    low = m.page_alloc.get_free_pages(G.GFP_KERNEL, 0)
    assert low is not None and m.page_alloc.virt_to_page(low).pfn == (low - 0xC0000000) >> PAGE_SHIFT

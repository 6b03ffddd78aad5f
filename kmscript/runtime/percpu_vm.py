"""Per-cpu chunk creation and population: mm/percpu-vm.c and the chunk slots of mm/percpu.c.

What it models: pcpu_create_chunk / pcpu_destroy_chunk (a vmalloc area per chunk from
pcpu_get_vm_areas, the chunk metadata kmalloc'ed or vmalloc'ed as pcpu_mem_zalloc does),
pcpu_populate_chunk / pcpu_depopulate_chunk (one page per CPU unit from the page
allocator, owned OWNER_PERCPU), the chunk slots by largest free area
(pcpu_chunk_relocate) and the nr_percpu_pages counter.  ``PercpuVm`` is the lower layer of
``PerCpu`` (percpu.py) and owns the allocator's state.

Invariant: a chunk is on exactly one slot list, the one of its largest free area.
"""

from __future__ import annotations

from array import array
from typing import Callable

from .context import ExecContext
from .gfp import __GFP_HIGHMEM, __GFP_ZERO
from .printk import KernelLog
from .trace import Tracer
from .vmalloc import Vmalloc
from .vmstat import VmStat
from .arch import Arch
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator, PhysMemory
from .percpu_internal import (PCPU_MIN_ALLOC_SHIFT, PCPU_MIN_ALLOC_SIZE, PCPU_BITMAP_BLOCK_SIZE,
                              PCPU_SLOT_BASE_SHIFT, PCPU_WARN_LIMIT,
                              SCRIPT_STATIC_SIZE, SIZEOF_PCPU_BLOCK_MD,
                              sizeof_pcpu_chunk, first_chunk_sizes, fls, pfn_align, pcpu_build_alloc_info, PcpuChunk, PerCpuVar)

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_HIGHMEM = __GFP_HIGHMEM
GFP_ZERO = __GFP_ZERO


class PercpuVm:
    """Chunks, their slots and their pages (the lower layer of ``PerCpu``)."""

    def __init__(self, *, arch: Arch, page_alloc: PageAllocator, vmalloc: Vmalloc,
                 kmalloc: Callable[[int, int, str | None], int | None], kfree: Callable[[int], None],
                 ctx: ExecContext, log: KernelLog, tracer: Tracer, vmstat: VmStat, nr_cpus: int,
                 first_chunk_paddr: Callable[[int], int], owner_percpu: int,
                 static_size: int | None = None, phys: PhysMemory | None = None) -> None:
        self.arch = arch
        # pcpu_chunk_struct_size without the populated[] bitmap (mm/percpu.c)
        self.chunk_struct_size = sizeof_pcpu_chunk(arch.pointer_size, arch.cache_line_size)
        page_offset = arch.page_offset
        self.page_alloc = page_alloc
        self.vmalloc = vmalloc
        self._kmalloc = kmalloc
        self._kfree = kfree
        self.ctx = ctx
        self.log = log
        self.tracer = tracer
        self.vmstat = vmstat
        self.nr_cpus = nr_cpus
        self.owner = owner_percpu
        # setup_per_cpu_areas -> pcpu_embed_first_chunk: the static part is the arch's
        # .data..percpu (None: Arch.pcpu_static_size), reserved and dyn as setup_percpu.c
        # sizes them for the word size, the atom PMD_SIZE on x86_64 and PAGE_SIZE on x86_32
        reserved, dyn = first_chunk_sizes(8 * arch.pointer_size)
        self.ai = ai = pcpu_build_alloc_info(nr_cpus, arch.pcpu_static_size if static_size is None else static_size,
                                             reserved, dyn, atom_size=arch.pcpu_atom_size)
        self.unit_size = ai.unit_size
        self.nr_units = ai.nr_units
        self.unit_pages = ai.unit_size >> PAGE_SHIFT
        # Unit offsets inside a chunk: unit i at i * unit_size (one group).
        self.unit_off = [cpu * ai.unit_size for cpu in range(nr_cpus)]
        # The embedded first chunk: memblock memory in the direct map, alloc_size aligned.
        fc_paddr = first_chunk_paddr(ai.alloc_size * (ai.nr_units // ai.upa))
        self.pcpu_base_addr = page_offset + fc_paddr
        self.pcpu_base_paddr = fc_paddr
        self.page_offset = page_offset
        static_end = ai.static_size + ai.reserved_size
        aligned = static_end & ~(PAGE_SIZE - 1)
        start_offset = static_end - aligned
        region = pfn_align(start_offset + ai.dyn_size)
        fc = PcpuChunk(self.pcpu_base_addr + aligned, region >> PAGE_SHIFT, arch.ptr_digits, start_offset=start_offset,
                       immutable=True)
        fc.alloc_map = bytearray(region // PCPU_MIN_ALLOC_SIZE)
        hidden = start_offset // PCPU_MIN_ALLOC_SIZE
        fc.alloc_map[:hidden] = b"\x01" * hidden
        fc.end_offset = region - start_offset - ai.dyn_size
        tail = fc.end_offset // PCPU_MIN_ALLOC_SIZE
        if tail:
            fc.alloc_map[len(fc.alloc_map) - tail:] = b"\x01" * tail
        fc.populated = bytearray(b"\x01" * fc.nr_pages)
        fc.free_bytes = ai.dyn_size
        fc.init_md()
        self.first_chunk = fc
        self.chunks: list[PcpuChunk] = [fc]
        # pcpu_sidelined_slot = __pcpu_size_to_slot(unit_size) + 1; pcpu_free_slot = that + 1
        self.free_slot = max(fls(self.unit_size) - PCPU_SLOT_BASE_SHIFT + 2, 1) + 2
        self.slots: list[list[PcpuChunk]] = [[] for _ in range(self.free_slot + 1)]
        self._relocate(fc)
        # pcpu_setup_first_chunk(): "include all regions of the first chunk"
        self.nr_populated = ai.size_sum >> PAGE_SHIFT
        self._update_vmstat()
        self.allocs: dict[int, tuple[PcpuChunk, int, int]] = {}  # ptr -> (chunk, bit_off, bits)
        self.vars: dict[str, PerCpuVar] = {}
        self._script_static_next = ai.static_size - SCRIPT_STATIC_SIZE
        self._warn_count = 0
        # mm/percpu-stats.c: pcpu_stats (the first chunk counts from the start)
        self.stats = {"nr_alloc": 0, "nr_dealloc": 0, "nr_cur_alloc": 0, "nr_max_alloc": 0, "nr_chunks": 1,
                      "nr_max_chunks": 1, "min_alloc_size": ai.unit_size, "max_alloc_size": 0}
        self._fc_pages: dict[int, bytearray] = {}  # first-chunk bytes by virtual page number
        self.phys = phys  # the physical byte store (None: chunk contents are not kept)
        self.log.printk(ai.embedded_line())
        self.log.printk(ai.dump_alloc_info())

    # -- slots ---------------------------------------------------------------------------------
    def size_to_slot(self, size: int) -> int:
        """pcpu_size_to_slot(): a fully free chunk goes to pcpu_free_slot."""
        if size == self.unit_size:
            return self.free_slot
        slot = size.bit_length() - PCPU_SLOT_BASE_SHIFT + 2  # max(fls(size) - ..., 1)
        return slot if slot > 1 else 1

    def chunk_slot(self, chunk: PcpuChunk) -> int:
        """pcpu_chunk_slot(): by the chunk's contig_hint."""
        contig = chunk.contig
        if chunk.free_bytes < PCPU_MIN_ALLOC_SIZE or contig == 0:
            return 0
        size = contig << PCPU_MIN_ALLOC_SHIFT
        if size == self.unit_size:
            return self.free_slot
        slot = size.bit_length() - PCPU_SLOT_BASE_SHIFT + 2
        return slot if slot > 1 else 1

    def _relocate(self, chunk: PcpuChunk) -> None:
        """pcpu_chunk_relocate(): move to the new slot, front if it moved down."""
        nslot = self.chunk_slot(chunk)
        oslot = chunk.slot
        if oslot == nslot:
            return
        if oslot >= 0:
            self.slots[oslot].remove(chunk)
        if oslot >= 0 and oslot < nslot:
            self.slots[nslot].insert(0, chunk)
        else:
            self.slots[nslot].append(chunk)
        chunk.slot = nslot

    # -- accounting ------------------------------------------------------------------------------
    def _update_vmstat(self) -> None:
        self.vmstat.nr_percpu_pages = self.nr_populated * self.nr_units

    def nr_empty_pop_pages(self) -> int:
        """pcpu_nr_empty_pop_pages: populated pages without any allocation, all chunks."""
        return sum(c.nr_empty_pop_pages for c in self.chunks)

    # -- helpers ---------------------------------------------------------------------------------
    def obj_full_size(self, size: int) -> int:
        """pcpu_obj_full_size(): a copy per possible CPU plus the memcg obj_cgroup pointers."""
        # struct pcpuobj_ext is one pointer (struct obj_cgroup *)
        return size * self.nr_cpus + size // PCPU_MIN_ALLOC_SIZE * self.arch.pointer_size

    def chunk_addr(self, chunk: PcpuChunk, cpu: int, off: int) -> int:
        return chunk.base_addr + self.unit_off[cpu] + off

    def per_cpu_ptr(self, ptr: int, cpu: int) -> int:
        self.ctx.check_cpu(cpu)
        return ptr + self.unit_off[cpu] - self.unit_off[0]

    def _warn(self, size: int, align: int, is_atomic: bool, err: str) -> None:
        if self._warn_count >= PCPU_WARN_LIMIT:
            return
        self._warn_count += 1
        self.log.printk(f"percpu: allocation failed, size={size} align={align} atomic={int(is_atomic)}, {err}", "warn")
        if self._warn_count == PCPU_WARN_LIMIT:
            self.log.printk("percpu: limit reached, disable warning", "warn")

    # -- chunk creation / destruction ----------------------------------------------------------------
    def _mem_zalloc(self, size: int, gfp: int, caller: str, chunk: PcpuChunk) -> bool:
        """pcpu_mem_zalloc(): kzalloc up to a page, __vmalloc above."""
        if size <= PAGE_SIZE:
            a = self._kmalloc(size, gfp | GFP_ZERO, "pcpu_mem_zalloc")
            if a:
                chunk.meta_kmalloc.append(a)
            return bool(a)
        a = self.vmalloc.vmalloc_gfp(size, gfp | GFP_ZERO, 1, caller)
        if a:
            chunk.meta_vmalloc.append(a)
        return bool(a)

    def _longs(self, nbits: int) -> int:
        """BITS_TO_LONGS(nbits) * sizeof(long)."""
        return -(-nbits // self.arch.ulong_bits) * self.arch.pointer_size

    def create_chunk(self, gfp: int) -> PcpuChunk | None:
        """pcpu_create_chunk(): metadata, then the congruent vm area at the top of vmalloc."""
        chunk = PcpuChunk(0, self.unit_pages, self.arch.ptr_digits)
        bits = self.unit_size // PCPU_MIN_ALLOC_SIZE
        ok = (self._mem_zalloc(self.chunk_struct_size + self._longs(self.unit_pages), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self._longs(bits), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self._longs(bits + 1), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self.unit_pages * PAGE_SIZE // PCPU_BITMAP_BLOCK_SIZE * SIZEOF_PCPU_BLOCK_MD,
                                   gfp, "pcpu_create_chunk", chunk)
              # memcg: one obj_ext per 4-byte unit; the vmallocinfo line seen on the machine
              and self._mem_zalloc(bits * self.arch.pointer_size, gfp,   # sizeof(struct pcpuobj_ext)
                                   "pcpu_create_chunk+0x217/0x230", chunk))
        vm = self.vmalloc.pcpu_get_vm_areas(self.nr_units * self.unit_size, self.ai.atom_size) if ok else None
        if vm is None:
            self._free_chunk_meta(chunk)
            return None
        vm.pages = array("q", [-1]) * (vm.size >> PAGE_SHIFT)
        chunk.vm = vm
        chunk.base_addr = vm.addr
        chunk.alloc_map = bytearray(bits)
        chunk.populated = bytearray(self.unit_pages)
        chunk.free_bytes = self.unit_size
        chunk.init_md()
        self.chunks.append(chunk)
        self.stats["nr_chunks"] += 1
        self.stats["nr_max_chunks"] = max(self.stats["nr_max_chunks"], self.stats["nr_chunks"])
        self._relocate(chunk)
        if self.tracer.enabled:
            self.tracer.emit("percpu_create_chunk", f"base_addr={chunk.base_addr:0{self.arch.ptr_digits}x}")
        return chunk

    def _free_chunk_meta(self, chunk: PcpuChunk) -> None:
        for a in chunk.meta_vmalloc:
            self.vmalloc.vfree(a)
        for a in chunk.meta_kmalloc:
            self._kfree(a)
        chunk.meta_vmalloc.clear()
        chunk.meta_kmalloc.clear()

    def destroy_chunk(self, chunk: PcpuChunk) -> None:
        """pcpu_destroy_chunk(): depopulate, give back the vm area and the metadata."""
        for page in sorted(chunk.page_pfns):
            self._depopulate_page(chunk, page)
        if self.tracer.enabled:
            self.tracer.emit("percpu_destroy_chunk", f"base_addr={chunk.base_addr:0{self.arch.ptr_digits}x}")
        self.slots[chunk.slot].remove(chunk)
        self.chunks.remove(chunk)
        self.stats["nr_chunks"] -= 1
        if chunk.vm is not None:
            chunk.vm.pages = array("q")
            self.vmalloc.pcpu_free_vm_areas(chunk.vm)
        self._free_chunk_meta(chunk)

    def _populate_page(self, chunk: PcpuChunk, page: int, gfp: int) -> bool:
        pfns: list[int] = []
        for cpu in range(self.nr_cpus):
            pfn = self.page_alloc.alloc_pages(gfp | GFP_HIGHMEM, 0, owner=self.owner, caller="pcpu_alloc_pages")
            if pfn is None:
                for p in pfns:
                    self.page_alloc.free_pages(p, 0)
                return False
            pfns.append(pfn)
        chunk.page_pfns[page] = pfns
        chunk.set_populated(page, True)
        vm = chunk.vm
        if vm is not None:
            for cpu, pfn in enumerate(pfns):
                vm.pages[(self.unit_off[cpu] >> PAGE_SHIFT) + page] = pfn
        self.nr_populated += 1
        self._update_vmstat()
        return True

    def _depopulate_page(self, chunk: PcpuChunk, page: int) -> None:
        pfns = chunk.page_pfns.pop(page)
        vm = chunk.vm
        for cpu, pfn in enumerate(pfns):
            if vm is not None:
                vm.pages[(self.unit_off[cpu] >> PAGE_SHIFT) + page] = -1
            self.page_alloc.free_pages(pfn, 0)
        chunk.set_populated(page, False)
        self.nr_populated -= 1
        self._update_vmstat()

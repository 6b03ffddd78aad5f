"""The per-cpu allocator (mm/percpu.c, arch/x86/kernel/setup_percpu.c, Linux 6.18).

What it models:

- **Units and the first chunk.** Every chunk holds one *unit* per possible CPU; a per-cpu
  object lives at the same offset in every unit.  The first chunk is embedded in the
  direct map at boot (pcpu_embed_first_chunk with atom = PMD_SIZE; PAGE_SIZE on i386,
  whose reserved and dynamic sizes setup_per_cpu_areas also sizes for 32 bits:
  percpu_internal.first_chunk_sizes) and laid out as
  ``[static | reserved | dynamic]``; pcpu_build_alloc_info() computes
  ``size_sum = PFN_ALIGN(static + reserved + max(dyn, PERCPU_DYNAMIC_EARLY_SIZE))``, the
  units per allocation (upa, wasting at most nr_cpus/3 units) and the unit size; with the
  reference kernel's 185496-byte static section and 2 CPUs this prints
  ``percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576`` and ``alloc=1*2097152``.
  The static size is the arch's ``pcpu_static_size`` (arch/i386.py states its basis).
  The dynamic part becomes a chunk whose bitmap starts at the page holding the end of the
  static area (start_offset = static % PAGE_SIZE bits are hidden).
- **Static variables** (DEFINE_PER_CPU, script ``percpu NAME = init``) live in the static
  section.  The 185496 bytes are the reference kernel's own; script variables are placed
  in the last SCRIPT_STATIC_SIZE bytes of that section (treated as if linked into the
  kernel image), 8 bytes each (a ``long``), so the boot numbers stay the kernel's.
- **Dynamic allocation** (pcpu_alloc_noprof): ``size = ALIGN(size, 4)``,
  ``align = max(align, 4)``; illegal requests WARN; the allocation bitmap has one bit per
  4 bytes (PCPU_MIN_ALLOC_SIZE); chunks sit in slots by their largest free run
  (``slot = max(fls(bytes) - 5 + 2, 1)``, fully free chunks in pcpu_free_slot) and are
  searched from ``slot(size)`` upward in list order, first fit inside a chunk.
  When nothing fits and the caller may sleep, a new chunk is created: its congruent area
  comes from pcpu_get_vm_areas at the top of the vmalloc space and its metadata
  (alloc_map, bound_map, md_blocks, the memcg obj_exts array) from pcpu_mem_zalloc, i.e.
  kmalloc or vmalloc; pages are populated on demand, one page per CPU per chunk page,
  from the page allocator (OWNER_PERCPU).  Atomic callers (no __GFP_DIRECT_RECLAIM) only
  get already-populated space and never create chunks.
- **Balance work** (pcpu_balance_workfn): keeps PCPU_EMPTY_POP_PAGES_LOW..HIGH empty
  populated pages and frees fully free chunks except one.
- **Accounting**: meminfo ``Percpu = pcpu_nr_populated * pcpu_nr_units`` pages, the first
  chunk counting PFN_DOWN(size_sum) pages.
- **Trace events** percpu_alloc_percpu / percpu_free_percpu / percpu_alloc_percpu_fail /
  percpu_create_chunk / percpu_destroy_chunk in include/trace/events/percpu.h formats.

Invariants:
- an allocation's bits are set in alloc_map and its start recorded in ``bound``; the
  free bytes of a chunk are ``4 * (number of clear bits)`` outside the hidden regions;
- a populated page of a non-first chunk has exactly one page frame per possible CPU.

Simplifications:
- The balance work runs synchronously at the end of the allocation or free that would
  schedule it.
- The block hints (pcpu_block_md) are replaced by an index of the free runs plus the
  chunk-level hints (first_free, contig_hint, empty populated pages), see PcpuChunk; the
  search returns the lowest-offset first fit, which the hints make cheap but do not
  change.  Static script variables keep their values as Python ints
  (addresses are real, the bytes are not stored in physical memory).
- The embedded first chunk's physical address is computed as memblock would place it
  (top-down, 2 MiB aligned, below the end of RAM) but those frames are not withdrawn from
  the simulated buddy allocator; the first chunk's bytes are stored here instead.
- ``__percpu`` pointers are represented by the address of CPU 0's copy (per_cpu_ptr(p, 0)).
- No reserved chunk (PERCPU_MODULE_RESERVE is 0: the reference kernel has no modules).
"""

from __future__ import annotations

from .bug_sites import PCPU_ILLEGAL_SIZE
from .errors import KernelFault
from .gfp import GFP_KERNEL, __GFP_DIRECT_RECLAIM, __GFP_NORETRY, __GFP_NOWARN, format_gfp
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .percpu_internal import (PCPU_MIN_ALLOC_SHIFT, PCPU_MIN_ALLOC_SIZE, PCPU_MIN_UNIT_SIZE,
                              PCPU_EMPTY_POP_PAGES_LOW, PCPU_EMPTY_POP_PAGES_HIGH, SCRIPT_STATIC_SIZE,
                              SCRIPT_VAR_SIZE, PcpuChunk, PerCpuVar)
from .percpu_vm import PercpuVm

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
GFP_NORETRY = __GFP_NORETRY
GFP_NOWARN = __GFP_NOWARN



# sizeof() of the scalar C types DEFINE_PER_CPU(type, name) accepts.  ``long`` and pointers
# follow the architecture's pointer size (LP64 on x86_64, ILP32 on i386); the rest are fixed.
_C_FIXED_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "u8": 1, "s8": 1,
    "short": 2, "unsigned short": 2, "u16": 2, "s16": 2,
    "int": 4, "unsigned int": 4, "unsigned": 4, "signed int": 4, "u32": 4, "s32": 4,
    "long long": 8, "unsigned long long": 8, "u64": 8, "s64": 8,
}
_C_LONG_TYPES = frozenset({"long", "unsigned long", "signed long", "long int", "unsigned long int",
                           "atomic_long_t", "size_t", "ssize_t", "uintptr_t"})


def c_type_size(ctype: str, long_size: int) -> int | None:
    """sizeof(ctype) for a scalar per-cpu type (None: not a type kmscript can size)."""
    t = " ".join(ctype.split())
    if t in _C_FIXED_SIZES:
        return _C_FIXED_SIZES[t]
    if t in _C_LONG_TYPES or t.endswith("*"):
        return long_size
    if t == "atomic_t":
        return 4
    return None


def c_type_names() -> list[str]:
    return sorted(set(_C_FIXED_SIZES) | _C_LONG_TYPES | {"atomic_t"})


class PerCpu(PercpuVm):
    """The per-cpu allocator of one machine.  See the module docstring."""
    # -- alloc / free ----------------------------------------------------------------------------
    def alloc_percpu(self, size: int, align: int = 4, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        """pcpu_alloc(): a __percpu pointer (CPU 0's copy) or None."""
        ex = self.tracer.explain
        if not ex.on:
            return self._pcpu_alloc(size, align, gfp, caller)
        step = ex.begin("pcpu_alloc", size=size, align=align, gfp=format_gfp(gfp))
        ptr = None
        try:
            ptr = self._pcpu_alloc(size, align, gfp, caller)
        finally:
            ex.end(step, "NULL" if ptr is None else f"{ptr:#x}")
        return ptr

    def _pcpu_alloc(self, size: int, align: int, gfp: int, caller: str | None) -> int | None:
        is_atomic = not gfp & GFP_DIRECT_RECLAIM
        pcpu_gfp = gfp & (GFP_KERNEL | GFP_NORETRY | GFP_NOWARN)
        do_warn = not gfp & GFP_NOWARN
        if align < PCPU_MIN_ALLOC_SIZE:
            align = PCPU_MIN_ALLOC_SIZE
        size = (size + PCPU_MIN_ALLOC_SIZE - 1) & ~(PCPU_MIN_ALLOC_SIZE - 1)
        bits = size >> PCPU_MIN_ALLOC_SHIFT
        bit_align = align >> PCPU_MIN_ALLOC_SHIFT
        if size == 0 or size > PCPU_MIN_UNIT_SIZE or align > PAGE_SIZE or align & (align - 1):
            if not do_warn:
                return None
            self.ctx.warn(PCPU_ILLEGAL_SIZE,
                          f"illegal size ({size}) or align ({align}) for percpu allocation",
                          frames=(caller,) if caller else ())
            return None
        if not is_atomic:
            ctx = self.ctx  # might_alloc(): its own test inlined, the report only when it fails
            if ctx.preempt_count or ctx.irqs_disabled_per_cpu[ctx.cpu] or ctx.rcu_nesting:
                ctx.might_alloc(gfp, ("pcpu_alloc_noprof",))
        err = "atomic alloc failed, no space left" if is_atomic else ""
        found: tuple[PcpuChunk, int] | None = None
        slots = self.slots
        for slot in range(self.size_to_slot(size), self.free_slot + 1):
            for chunk in slots[slot]:
                off = chunk.find_fit(bits, bit_align, is_atomic)
                if off >= 0:
                    found = (chunk, off)
                    break
            if found:
                break
        ex = self.tracer.explain
        if ex.on and found is not None:
            ex.note("pcpu_find_block_fit", f"chunk {found[0].base_addr:#x} has room at offset "
                    f"{found[1] * PCPU_MIN_ALLOC_SIZE}", size=size, align=align,
                    first_slot=self.size_to_slot(size), slot=self.chunk_slot(found[0]),
                    chunk_free_bytes=found[0].free_bytes)
        if found is None and not is_atomic:
            chunk_new = self.create_chunk(pcpu_gfp)
            if chunk_new is None:
                err = "failed to allocate new chunk"
            else:
                off = chunk_new.find_fit(bits, bit_align, False)
                if off >= 0:
                    found = (chunk_new, off)
            if ex.on:
                ex.note("pcpu_create_chunk", "no chunk has room: " + ("a new chunk could not be created"
                                                                      if chunk_new is None else
                                                                      f"created chunk {chunk_new.base_addr:#x}"),
                        size=size, align=align)
        elif found is None and ex.on:
            ex.note("pcpu_alloc", "atomic: no chunk has room, and an atomic allocation may not create one",
                    size=size, align=align)
        if found is None:
            return self._fail(size, align, is_atomic, do_warn, err)
        chunk, off = found
        chunk.alloc_area(off, bits)
        if self.chunk_slot(chunk) != chunk.slot:
            self._relocate(chunk)
        byte_off = off * PCPU_MIN_ALLOC_SIZE
        if not is_atomic and not chunk.is_populated(off, bits):
            p0 = byte_off >> PAGE_SHIFT
            p1 = (byte_off + size + PAGE_SIZE - 1) >> PAGE_SHIFT
            if ex.on:
                ex.note("pcpu_populate_chunk", f"back pages {p0}..{p1 - 1} of the chunk on every CPU",
                        pages=sum(1 for p in range(p0, p1) if not chunk.populated[p]))
            for page in range(p0, p1):
                if not chunk.populated[page] and not self._populate_page(chunk, page, pcpu_gfp):
                    self._free_area(chunk, off)
                    return self._fail(size, align, is_atomic, do_warn, "failed to populate")
        ptr = chunk.base_addr + self.unit_off[0] + byte_off
        self.allocs[ptr] = (chunk, off, bits)
        st = self.stats  # pcpu_stats_area_alloc()
        st["nr_alloc"] += 1
        cur = st["nr_cur_alloc"] = st["nr_cur_alloc"] + 1
        if cur > st["nr_max_alloc"]:
            st["nr_max_alloc"] = cur
        if size < st["min_alloc_size"]:
            st["min_alloc_size"] = size
        if size > st["max_alloc_size"]:
            st["max_alloc_size"] = size
        chunk.nr_alloc += 1
        if size > chunk.max_alloc_size:
            chunk.max_alloc_size = size
        self._clear(chunk, byte_off, size)
        if self.tracer.enabled:
            self.tracer.emit("percpu_alloc_percpu",
                             f"call_site={caller or 'pcpu_alloc_noprof'} reserved=0 is_atomic={int(is_atomic)} "
                             f"size={size} align={align} base_addr={chunk.base_addr:0{self.arch.ptr_digits}x} off={byte_off} "
                             f"ptr={ptr:0{self.arch.ptr_digits}x} bytes_alloc={self.obj_full_size(size)} gfp_flags={format_gfp(gfp)}")
        if chunk.nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW and \
                self.nr_empty_pop_pages() < PCPU_EMPTY_POP_PAGES_LOW:
            self.balance(is_atomic_failed=False)
        return ptr

    def _fail(self, size: int, align: int, is_atomic: bool, do_warn: bool, err: str) -> int | None:
        if self.tracer.enabled:
            self.tracer.emit("percpu_alloc_percpu_fail",
                             f"reserved=0 is_atomic={int(is_atomic)} size={size} align={align}")
        if do_warn:
            self._warn(size, align, is_atomic, err)
        if is_atomic:
            self.balance(is_atomic_failed=True)
        return None

    def _clear(self, chunk: PcpuChunk, byte_off: int, size: int) -> None:
        """memset(0) of the new area on every CPU.  A dynamic area lies after the static
        section, so no script variable is under it; in the first chunk only the pages
        already stored can hold non-zero bytes (a missing page reads as zeros)."""
        if not chunk.immutable:
            for cpu in range(self.nr_cpus):
                self.write(self.chunk_addr(chunk, cpu, byte_off), bytes(size), missing_ok=True)
            return
        pages = self._fc_pages
        if not pages:
            return
        for cpu in range(self.nr_cpus):
            a = chunk.base_addr + self.unit_off[cpu] + byte_off
            end = a + size
            while a < end:
                n = min(end - a, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
                page = pages.get(a >> PAGE_SHIFT)
                if page is not None:
                    off = a & (PAGE_SIZE - 1)
                    page[off:off + n] = bytes(n)
                a += n

    def _free_area(self, chunk: PcpuChunk, off: int) -> int:
        bits = chunk.free_area(off)
        self._relocate(chunk)
        return bits

    def free_percpu(self, ptr: int) -> None:
        """free_percpu(): NULL is a no-op; fully free chunks beyond one are destroyed."""
        if not ptr:
            return
        entry = self.allocs.pop(ptr, None)
        if entry is None:
            raise KernelFault(f"free_percpu(0x{ptr:x}): not a per-cpu pointer from alloc_percpu")
        chunk, off, _bits = entry
        chunk.free_area(off)  # _free_area(), inlined
        if self.chunk_slot(chunk) != chunk.slot:
            self._relocate(chunk)
        self.stats["nr_dealloc"] += 1  # pcpu_stats_area_dealloc()
        self.stats["nr_cur_alloc"] -= 1
        chunk.nr_alloc -= 1
        if self.tracer.enabled:
            self.tracer.emit("percpu_free_percpu",
                             f"base_addr={chunk.base_addr:0{self.arch.ptr_digits}x} off={off * PCPU_MIN_ALLOC_SIZE} ptr={ptr:0{self.arch.ptr_digits}x}")
            if self.tracer.explain.on:
                self.tracer.explain.note(
                    "pcpu_free_area", f"offset {off * PCPU_MIN_ALLOC_SIZE} of chunk {chunk.base_addr:#x} is free again"
                    + ("; the chunk is empty: pcpu_balance_workfn may destroy it"
                       if chunk.free_bytes == self.unit_size else ""),
                    chunk_free_bytes=chunk.free_bytes, unit_size=self.unit_size)
        if chunk.free_bytes == self.unit_size:
            self.balance(is_atomic_failed=False)

    def balance(self, is_atomic_failed: bool) -> None:
        """pcpu_balance_workfn(): free spare empty chunks, keep a few empty populated pages.
        It is a work item: it runs in process context even when an atomic caller queued it."""
        with self.ctx.worker():
            self._balance(is_atomic_failed)

    def _balance(self, is_atomic_failed: bool) -> None:
        free_chunks = [c for c in self.slots[self.free_slot] if not c.immutable]
        for chunk in free_chunks[1:]:
            self.destroy_chunk(chunk)
        target = PCPU_EMPTY_POP_PAGES_HIGH if is_atomic_failed else \
            max(0, min(PCPU_EMPTY_POP_PAGES_HIGH - self.nr_empty_pop_pages(), PCPU_EMPTY_POP_PAGES_HIGH))
        gfp = GFP_KERNEL | GFP_NOWARN | GFP_NORETRY
        while target > 0:
            # fill up from the most packed chunks that still have a page of contiguous space
            for slot in range(self.size_to_slot(PAGE_SIZE), self.free_slot + 1):
                for chunk in self.slots[slot]:
                    for page in range(chunk.nr_pages):
                        if target <= 0:
                            return
                        if not chunk.populated[page]:
                            if not self._populate_page(chunk, page, gfp):
                                return
                            target -= 1
            # pcpu_balance_populated(): "ran out of chunks to populate, create a new one and retry"
            if target > 0 and self.create_chunk(gfp) is None:
                return

    # -- memory contents -------------------------------------------------------------------------------
    def in_first_chunk(self, vaddr: int) -> bool:
        base = self.pcpu_base_addr
        return base <= vaddr < base + self.nr_units * self.unit_size

    def translate(self, vaddr: int) -> int | None:
        """Physical address behind a per-cpu address of a vmalloc-space chunk (None if unpopulated).

        First-chunk addresses are memblock memory, not page-allocator pages; their bytes are
        kept here (``read``/``write``) and they have no entry in the physical store."""
        if self.in_first_chunk(vaddr):
            return None
        return self.vmalloc.translate(vaddr)

    def _var_hits(self, vaddr: int, n: int) -> list[tuple[PerCpuVar, int, int]]:
        """Static script variables whose copy overlaps [vaddr, vaddr+n): (var, cpu, address).
        Their values live in ``PerCpuVar.values``; memory access goes through them."""
        hits: list[tuple[PerCpuVar, int, int]] = []
        if not self.vars or not self.in_first_chunk(vaddr):
            return hits
        for cpu in range(self.nr_cpus):
            unit = self.pcpu_base_addr + self.unit_off[cpu]
            lo, hi = unit + self.ai.static_size - SCRIPT_STATIC_SIZE, unit + self.ai.static_size
            if vaddr >= hi or vaddr + n <= lo:
                continue
            for var in self.vars.values():
                a = unit + var.offset
                if a < vaddr + n and vaddr < a + var.size:
                    hits.append((var, cpu, a))
        return hits

    def read(self, vaddr: int, n: int) -> bytes:
        data = self._read_store(vaddr, n)
        hits = self._var_hits(vaddr, n)
        if not hits:
            return data
        buf = bytearray(data)
        for var, cpu, a in hits:
            raw = (var.values[cpu] & ((1 << (8 * var.size)) - 1)).to_bytes(var.size, "little")
            for i in range(max(a, vaddr), min(a + var.size, vaddr + n)):
                buf[i - vaddr] = raw[i - a]
        return bytes(buf)

    def _read_store(self, vaddr: int, n: int) -> bytes:
        out = bytearray()
        pos = 0
        while pos < n:
            a = vaddr + pos
            chunk_n = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
            if self.in_first_chunk(a):
                page = self._fc_pages.get(a >> PAGE_SHIFT)
                off = a & (PAGE_SIZE - 1)
                out += page[off:off + chunk_n] if page is not None else bytes(chunk_n)
            else:
                paddr = self.vmalloc.translate(a)
                phys = self.phys
                if paddr is None or phys is None:
                    raise KernelFault(f"BUG: unable to handle page fault for address: {a:0{self.arch.ptr_digits}x} "
                                      "(per-cpu page not populated)")
                out += phys.read(paddr, chunk_n)
            pos += chunk_n
        return bytes(out)

    def write(self, vaddr: int, data: bytes, missing_ok: bool = False) -> None:
        for var, cpu, a in self._var_hits(vaddr, len(data)):
            raw = bytearray((var.values[cpu] & ((1 << (8 * var.size)) - 1)).to_bytes(var.size, "little"))
            for i in range(max(a, vaddr), min(a + var.size, vaddr + len(data))):
                raw[i - a] = data[i - vaddr]
            var.values[cpu] = int.from_bytes(raw, "little", signed=True)
        pos, n = 0, len(data)
        while pos < n:
            a = vaddr + pos
            chunk_n = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
            if self.in_first_chunk(a):
                off = a & (PAGE_SIZE - 1)
                page = self._fc_pages.get(a >> PAGE_SHIFT)
                if page is None:
                    if not any(data[pos:pos + chunk_n]):
                        pos += chunk_n
                        continue
                    page = self._fc_pages[a >> PAGE_SHIFT] = bytearray(PAGE_SIZE)
                page[off:off + chunk_n] = data[pos:pos + chunk_n]
            else:
                paddr = self.vmalloc.translate(a)
                phys = self.phys
                if paddr is None or phys is None:
                    if missing_ok:
                        pos += chunk_n
                        continue
                    raise KernelFault(f"BUG: unable to handle page fault for address: {a:0{self.arch.ptr_digits}x} "
                                      "(per-cpu page not populated)")
                phys.write(paddr, data[pos:pos + chunk_n])
            pos += chunk_n

    # -- static variables (DEFINE_PER_CPU) ----------------------------------------------------------
    def define_per_cpu(self, name: str, init: int = 0, ctype: str = "long") -> PerCpuVar:
        """DEFINE_PER_CPU(ctype, name) = init (script: ``percpu name = init`` is ``long``).

        sizeof(ctype) sets how many bytes of the unit the copy occupies (include/linux/percpu-defs.h:
        DEFINE_PER_CPU places a ``__typeof__(type)`` object in .data..percpu)."""
        size = c_type_size(ctype, self.arch.pointer_size)
        if size is None:
            raise KernelFault(f"DEFINE_PER_CPU({ctype}, {name}): kmscript models scalar per-cpu types "
                              f"only ({', '.join(c_type_names())})")
        return self.define_static(name, init, size)

    def define_static(self, name: str, init: int = 0, size: int = SCRIPT_VAR_SIZE) -> PerCpuVar:
        """DEFINE_PER_CPU(type, name) = init, sizeof(type) == size: the linker places each
        variable in .data..percpu at its natural alignment (include/linux/percpu-defs.h)."""
        if name in self.vars:
            raise KernelFault(f"percpu variable {name} is already defined")
        off = (self._script_static_next + size - 1) & ~(size - 1)
        if off + size > self.ai.static_size:
            raise KernelFault(f"percpu {name}: the static per-cpu section is full "
                              f"({SCRIPT_STATIC_SIZE} bytes for script variables)")
        self._script_static_next = off + size
        var = PerCpuVar(name, off, [init] * self.nr_cpus, size)
        self.vars[name] = var
        return var

    def has_var(self, name: str) -> bool:
        return name in self.vars

    def var_names(self) -> list[str]:
        """The script's per-cpu variables (``percpu NAME``), sorted."""
        return sorted(self.vars)

    def var(self, name: str) -> PerCpuVar:
        try:
            return self.vars[name]
        except KeyError:
            raise KernelFault(f"no per-cpu variable named {name} (declare it with `percpu {name}`)") from None

    def var_addr(self, name: str, cpu: int) -> int:
        """&per_cpu(var, cpu): the copy in CPU cpu's unit of the first chunk."""
        var = self.var(name)
        self.ctx.check_cpu(cpu)
        return self.pcpu_base_addr + self.unit_off[cpu] + var.offset

    # -- this_cpu / per_cpu accessors (include/linux/percpu-defs.h) ------------------------------------
    # A static variable's copies are the Python ints of PerCpuVar.values (see the docstring).
    def this_cpu_add(self, name: str, delta: int) -> int:
        """this_cpu_add(name, delta) on the current CPU (one irq-safe instruction); the new value."""
        var = self.vars.get(name)
        if var is None:
            var = self.var(name)  # raises the "no per-cpu variable" fault
        vals = var.values
        cpu = self.ctx.cpu
        v = vals[cpu] = vals[cpu] + delta
        return v

    def this_cpu_add_define(self, name: str, delta: int) -> int:
        """``percpu name += delta`` on a name never declared: DEFINE_PER_CPU(long, name) (zero on
        every CPU) first, then this_cpu_add(); a declared name goes straight to this_cpu_add()."""
        if name not in self.vars:
            self.define_per_cpu(name, 0)
        return self.this_cpu_add(name, delta)

    def this_cpu_read(self, name: str) -> int:
        return self.var(name).values[self.ctx.cpu]

    def this_cpu_write(self, name: str, value: int) -> None:
        self.var(name).values[self.ctx.cpu] = value

    def per_cpu(self, name: str, cpu: int) -> int:
        """per_cpu(var, cpu): another CPU's copy, no preemption change."""
        var = self.var(name)
        return var.values[self.ctx.check_cpu(cpu)]

    def set_per_cpu(self, name: str, cpu: int, value: int) -> None:
        var = self.var(name)
        var.values[self.ctx.check_cpu(cpu)] = value

    def get_cpu_var(self, name: str) -> int:
        """get_cpu_var(var): preempt_disable(), then this CPU's copy."""
        var = self.var(name)
        self.ctx.preempt_disable()
        return var.values[self.ctx.cpu]

    def put_cpu_var(self, name: str) -> None:
        """put_cpu_var(var): preempt_enable()."""
        self.var(name)
        self.ctx.preempt_enable()

    def percpu_sum(self, name: str) -> int:
        """Sum over every CPU's copy (as percpu_counter_sum adds up the per-cpu deltas)."""
        return sum(self.var(name).values)

    def this_cpu_ptr(self, ptr: int) -> int:
        return self.per_cpu_ptr(ptr, self.ctx.cpu)

    def get_cpu_ptr(self, ptr: int) -> int:
        """get_cpu_ptr(p): preempt_disable(), then this CPU's copy of p."""
        self.ctx.preempt_disable()
        return self.per_cpu_ptr(ptr, self.ctx.cpu)

    def put_cpu_ptr(self, ptr: int) -> None:
        """put_cpu_ptr(p): preempt_enable()."""
        self.ctx.preempt_enable()

    # -- views --------------------------------------------------------------------------------------
    def chunk_empty_pop_pages(self, chunk: PcpuChunk) -> int:
        return chunk.nr_empty_pop_pages

    def _chunk_map_stats(self, chunk: PcpuChunk) -> list[str]:
        """mm/percpu-stats.c: chunk_map_stats()."""
        m = chunk.alloc_map
        nbits = len(m) - chunk.end_offset // PCPU_MIN_ALLOC_SIZE
        last_alloc = nbits
        while last_alloc > 0 and not m[last_alloc - 1]:
            last_alloc -= 1
        start = chunk.start_offset // PCPU_MIN_ALLOC_SIZE
        sizes: list[int] = []
        while start < last_alloc:
            if m[start]:
                end = start + chunk.bound[start]
                sizes.append((end - start) * PCPU_MIN_ALLOC_SIZE)
            else:
                end = start + 1
                while end < last_alloc and not m[end]:
                    end += 1
                sizes.append(-(end - start) * PCPU_MIN_ALLOC_SIZE)
            start = end
        sum_frag = max_frag = cur_min = cur_med = cur_max = 0
        if sizes:
            sizes.sort()
            i = 0
            while i < len(sizes) and sizes[i] < 0:
                sum_frag -= sizes[i]
                max_frag = max(max_frag, -sizes[i])
                i += 1
            if i < len(sizes):
                cur_min = sizes[i]
                cur_med = sizes[(i + len(sizes) - 1) // 2]
                cur_max = sizes[-1]
        first_free = m.find(0) if m.count(0) else len(m)
        rows = [("nr_alloc", chunk.nr_alloc), ("max_alloc_size", chunk.max_alloc_size),
                ("empty_pop_pages", self.chunk_empty_pop_pages(chunk)), ("first_bit", first_free),
                ("free_bytes", chunk.free_bytes), ("contig_bytes", chunk.contig_bits() * PCPU_MIN_ALLOC_SIZE),
                ("sum_frag", sum_frag), ("max_frag", max_frag), ("cur_min_alloc", cur_min),
                ("cur_med_alloc", cur_med), ("cur_max_alloc", cur_max)]
        return [f"  {k:<20s}: {v:12d}" for k, v in rows] + [""]

    def percpu_stats(self) -> str:
        """/sys/kernel/debug/percpu_stats (mm/percpu-stats.c: percpu_stats_show)."""
        ai = self.ai
        out = ["Percpu Memory Statistics", "Allocation Info:", "-" * 40]
        for k, v in (("unit_size", ai.unit_size), ("static_size", ai.static_size),
                     ("reserved_size", ai.reserved_size), ("dyn_size", ai.dyn_size),
                     ("atom_size", ai.atom_size), ("alloc_size", ai.alloc_size)):
            out.append(f"  {k:<20s}: {v:12d}")
        out += ["", "Global Stats:", "-" * 40]
        for k in ("nr_alloc", "nr_dealloc", "nr_cur_alloc", "nr_max_alloc", "nr_chunks", "nr_max_chunks",
                  "min_alloc_size", "max_alloc_size"):
            out.append(f"  {k:<20s}: {self.stats[k]:12d}")
        out.append(f"  {'empty_pop_pages':<20s}: {self.nr_empty_pop_pages():12d}")
        out += ["", "Per Chunk Stats:", "-" * 40]
        for slot in range(self.free_slot + 1):
            for chunk in self.slots[slot]:
                out.append("Chunk: <- First Chunk" if chunk is self.first_chunk else "Chunk:")
                out += self._chunk_map_stats(chunk)
        return "\n".join(out).rstrip("\n")

    def show(self) -> str:
        """A summary for learners (not a kernel file): layout, chunks, static variables."""
        ai = self.ai
        lines = [ai.embedded_line(), ai.dump_alloc_info(),
                 f"units: {self.nr_units} x {self.unit_size} bytes, possible cpus: {self.nr_cpus}, "
                 f"first chunk base 0x{self.pcpu_base_addr:0{self.arch.ptr_digits}x}",
                 f"Percpu: {self.vmstat.nr_percpu_pages * 4} kB ({self.nr_populated} populated pages x {self.nr_units} units)"]
        for i, c in enumerate(self.chunks):
            kind = "first" if c.immutable else "vmalloc"
            used = sum(b for b in c.bound.values()) * PCPU_MIN_ALLOC_SIZE
            lines.append(f"chunk {i} ({kind}) base_addr=0x{c.base_addr:0{self.arch.ptr_digits}x} pages={c.nr_pages} "
                         f"populated={c.nr_populated} allocs={len(c.bound)} used={used} free={c.free_bytes} "
                         f"contig={c.contig_bits() * PCPU_MIN_ALLOC_SIZE} slot={c.slot}")
        if self.vars:
            lines.append("static variables:")
            for v in self.vars.values():
                lines.append(f"  {v.name} @ +0x{v.offset:x}: " + " ".join(f"[{c}]={x}" for c, x in enumerate(v.values)))
        return "\n".join(lines)

"""The per-cpu allocator (mm/percpu.c, arch/x86/kernel/setup_percpu.c, Linux 6.18).

What it models:

- **Units and the first chunk.** Every chunk holds one *unit* per possible CPU; a per-cpu
  object lives at the same offset in every unit.  The first chunk is embedded in the
  direct map at boot (pcpu_embed_first_chunk with atom = PMD_SIZE) and laid out as
  ``[static | reserved | dynamic]``; pcpu_build_alloc_info() computes
  ``size_sum = PFN_ALIGN(static + reserved + max(dyn, PERCPU_DYNAMIC_EARLY_SIZE))``, the
  units per allocation (upa, wasting at most nr_cpus/3 units) and the unit size; with the
  reference kernel's 185496-byte static section and 2 CPUs this prints
  ``percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576`` and ``alloc=1*2097152``.
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

import re
from array import array
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .context import ExecContext
from .errors import KernelFault
from .gfp import GFP_KERNEL, __GFP_DIRECT_RECLAIM, __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN, __GFP_ZERO, format_gfp

from .printk import KernelLog
from .trace import Tracer
from .vmalloc import Vmalloc, VmStruct
from .vmstat import VmStat

# Module-level aliases: a name starting with two underscores would be mangled inside a class.
GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
GFP_HIGHMEM = __GFP_HIGHMEM
GFP_NORETRY = __GFP_NORETRY
GFP_NOWARN = __GFP_NOWARN
GFP_ZERO = __GFP_ZERO

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PMD_SIZE = 1 << 21

# include/linux/percpu.h
PCPU_MIN_ALLOC_SHIFT = 2
PCPU_MIN_ALLOC_SIZE = 1 << PCPU_MIN_ALLOC_SHIFT
PCPU_BITMAP_BLOCK_SIZE = PAGE_SIZE
PCPU_MIN_UNIT_SIZE = 32 << 10
PERCPU_MODULE_RESERVE = 0  # CONFIG_MODULES=n on the reference machine ("r0")
PERCPU_DYNAMIC_SIZE_SHIFT = 10
PERCPU_DYNAMIC_EARLY_SIZE = 20 << PERCPU_DYNAMIC_SIZE_SHIFT
PERCPU_DYNAMIC_RESERVE = 28 << PERCPU_DYNAMIC_SIZE_SHIFT
# mm/percpu.c
PCPU_SLOT_BASE_SHIFT = 5
PCPU_EMPTY_POP_PAGES_LOW = 2
PCPU_EMPTY_POP_PAGES_HIGH = 4
PCPU_WARN_LIMIT = 10
# .data..percpu of the reference 6.18.44 kernel (boot log "s185496")
STATIC_SIZE_DEFAULT = 185496
SCRIPT_STATIC_SIZE = 4096
SCRIPT_VAR_SIZE = 8
# sizeof(struct pcpu_block_md) (8 ints) and of struct pcpuobj_ext (one pointer)
SIZEOF_PCPU_BLOCK_MD = 32
SIZEOF_PCPUOBJ_EXT = 8
SIZEOF_PCPU_CHUNK = 136

# one bitmap block per page: PCPU_BITMAP_BLOCK_BITS bits
BLOCK_BITS = PCPU_BITMAP_BLOCK_SIZE >> PCPU_MIN_ALLOC_SHIFT
BLOCK_SHIFT = BLOCK_BITS.bit_length() - 1

_ZERO_RUN = re.compile(b"\x00+")
_ZEROS: dict[int, bytes] = {}  # bits -> that many zero bytes: the needle of a fit search


def fls(x: int) -> int:
    return x.bit_length()


def pfn_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


@dataclass(frozen=True)
class PcpuAllocInfo:
    """struct pcpu_alloc_info for one group of CPUs (a single NUMA node)."""

    static_size: int
    reserved_size: int
    dyn_size: int
    unit_size: int
    atom_size: int
    alloc_size: int
    upa: int
    nr_cpus: int
    nr_units: int
    size_sum: int

    @property
    def cpu_map(self) -> list[int | None]:
        return [c if c < self.nr_cpus else None for c in range(self.nr_units)]

    def embedded_line(self) -> str:
        return (f"percpu: Embedded {self.size_sum >> PAGE_SHIFT} pages/cpu s{self.static_size} "
                f"r{self.reserved_size} d{self.dyn_size} u{self.unit_size}")

    def dump_alloc_info(self) -> str:
        """pcpu_dump_alloc_info(): the two pcpu-alloc lines of the boot log."""
        v, cpu_width = self.nr_cpus, 0
        while True:
            v //= 10
            if not v:
                break
            cpu_width += 1
        cpu_width += 1
        group_width = 1
        width = self.upa * (cpu_width + 1) + group_width + 3
        apl = max(60 // width, 1)
        apl = 1 << (apl.bit_length() - 1)
        head = (f"pcpu-alloc: s{self.static_size} r{self.reserved_size} d{self.dyn_size} "
                f"u{self.unit_size} alloc={self.alloc_size // self.atom_size}*{self.atom_size}")
        lines = [head]
        cur = ""
        cmap = self.cpu_map
        for alloc in range(self.nr_units // self.upa):
            if alloc % apl == 0:
                if cur:
                    lines.append(cur)
                cur = "pcpu-alloc: "
            cur += f"[{0:0{group_width}d}] "
            for unit in range(alloc * self.upa, (alloc + 1) * self.upa):
                c = cmap[unit]
                cur += (f"{c:0{cpu_width}d} " if c is not None else "-" * cpu_width + " ")
        lines.append(cur)
        return "\n".join(lines)


def pcpu_build_alloc_info(nr_cpus: int, static_size: int = STATIC_SIZE_DEFAULT,
                          reserved_size: int = PERCPU_MODULE_RESERVE,
                          dyn_size: int = PERCPU_DYNAMIC_RESERVE, atom_size: int = PMD_SIZE) -> PcpuAllocInfo:
    """mm/percpu.c: pcpu_build_alloc_info() for one group (no NUMA distances)."""
    size_sum = pfn_align(static_size + reserved_size + max(dyn_size, PERCPU_DYNAMIC_EARLY_SIZE))
    dyn_size = size_sum - static_size - reserved_size
    min_unit_size = max(size_sum, PCPU_MIN_UNIT_SIZE)
    alloc_size = -(-min_unit_size // atom_size) * atom_size
    upa = alloc_size // min_unit_size
    while alloc_size % upa or (alloc_size // upa) % PAGE_SIZE:
        upa -= 1
    max_upa = upa
    last_allocs = 1 << 62
    best_upa = 0
    for upa in range(max_upa, 0, -1):
        if alloc_size % upa or (alloc_size // upa) % PAGE_SIZE:
            continue
        allocs = -(-nr_cpus // upa)
        wasted = allocs * upa - nr_cpus
        if wasted > nr_cpus // 3:
            continue
        if allocs > last_allocs:
            break
        last_allocs = allocs
        best_upa = upa
    upa = best_upa
    nr_units = -(-nr_cpus // upa) * upa
    return PcpuAllocInfo(static_size, reserved_size, dyn_size, alloc_size // upa, atom_size, alloc_size,
                         upa, nr_cpus, nr_units, size_sum)


class PhysStore(Protocol):
    def read(self, paddr: int, n: int) -> bytes: ...

    def write(self, paddr: int, data: bytes) -> None: ...


class PageAllocator(Protocol):
    def alloc_pages(self, gfp: int, order: int, *, owner: int = ..., caller: str | None = None) -> int | None: ...

    def free_pages(self, pfn: int, order: int) -> None: ...


@dataclass(eq=False)
class PcpuChunk:
    """struct pcpu_chunk: one address range per unit, a bitmap of 4-byte units.

    Besides the bitmap the chunk keeps the search hints the kernel keeps in its
    pcpu_block_md (mm/percpu.c: pcpu_block_update_hint_alloc/_free,
    pcpu_chunk_refresh_hint): ``first_free`` (the lowest clear bit), ``contig`` (the
    largest free run, the chunk's contig_hint), per bitmap block (one page) the number of
    set bits (a block with none is an empty page, the kernel's ``contig_hint ==
    PCPU_BITMAP_BLOCK_BITS``) and the chunk's nr_empty_pop_pages.  Where the kernel
    narrows its scan with per-block left/right/contig hints, the free runs are kept here
    as an index (``runs``: start -> end, ``run_ends``: end -> start, ``run_lens``: length ->
    count) with, per block, the longest run starting in it (``block_max``), so a first-fit
    search skips the blocks that cannot hold the request, steps from free run to free run
    inside the others, and a free merges with its neighbours in O(1).  ``init_md`` builds the hints from the bitmap;
    :func:`pcpu_find_fit_scan` and :meth:`contig_bits` are the plain scans they shortcut.
    """

    base_addr: int  # unit u's byte at offset off is at base_addr + unit_off(u) + off
    nr_pages: int
    start_offset: int = 0
    end_offset: int = 0
    immutable: bool = False  # the first chunk: never freed, fully populated
    vm: VmStruct | None = None
    alloc_map: bytearray = field(default_factory=bytearray)
    bound: dict[int, int] = field(default_factory=dict)  # bit offset -> bits
    populated: bytearray = field(default_factory=bytearray)
    page_pfns: dict[int, list[int]] = field(default_factory=dict)  # page -> pfn per CPU
    meta_vmalloc: list[int] = field(default_factory=list)
    meta_kmalloc: list[int] = field(default_factory=list)
    free_bytes: int = 0
    slot: int = -1
    nr_alloc: int = 0  # live allocations (percpu-stats)
    max_alloc_size: int = 0
    # search hints (see the class docstring); built by init_md()
    runs: dict[int, int] = field(default_factory=dict)
    run_ends: dict[int, int] = field(default_factory=dict)
    run_lens: dict[int, int] = field(default_factory=dict)
    contig: int = 0
    first_free: int = -1
    block_used: list[int] = field(default_factory=list)
    block_lens: list[dict[int, int]] = field(default_factory=list)  # per block: run length -> count
    block_max: list[int] = field(default_factory=list)  # per block: longest run starting in it
    nr_empty_pop_pages: int = 0

    @property
    def nr_populated(self) -> int:
        return self.populated.count(1)

    def contig_bits(self) -> int:
        """The largest free run in bits, by a scan of the bitmap (what ``contig`` caches)."""
        best = 0
        for r in _ZERO_RUN.finditer(self.alloc_map):
            n = r.end() - r.start()
            if n > best:
                best = n
        return best

    def page_empty(self, page: int) -> bool:
        return not self.block_used[page]

    def is_populated(self, bit_off: int, bits: int) -> bool:
        """pcpu_is_populated(): every page under [bit_off, bit_off + bits) is populated."""
        return self.populated.find(0, bit_off >> BLOCK_SHIFT, (bit_off + bits + BLOCK_BITS - 1) >> BLOCK_SHIFT) < 0

    # -- hints -----------------------------------------------------------------------------------
    def init_md(self) -> None:
        """pcpu_init_md_blocks() + pcpu_chunk_refresh_hint(): every hint from the bitmap."""
        m = self.alloc_map
        self.runs, self.run_ends, self.run_lens = {}, {}, {}
        nr_blocks = len(m) >> BLOCK_SHIFT
        self.block_lens = [{} for _ in range(nr_blocks)]
        self.block_max = [0] * nr_blocks
        for r in _ZERO_RUN.finditer(m):
            self._add_run(r.start(), r.end())
        self.contig = max(self.run_lens, default=0)
        self.first_free = m.find(0)
        self.block_used = [m.count(1, lo, lo + BLOCK_BITS) for lo in range(0, len(m), BLOCK_BITS)]
        self.nr_empty_pop_pages = sum(1 for p, used in enumerate(self.block_used)
                                      if not used and self.populated[p])

    def _add_run(self, start: int, end: int) -> None:
        self.runs[start] = end
        self.run_ends[end] = start
        n = end - start
        lens = self.run_lens
        lens[n] = lens.get(n, 0) + 1
        if n > self.contig:
            self.contig = n
        b = start >> BLOCK_SHIFT
        lens = self.block_lens[b]
        lens[n] = lens.get(n, 0) + 1
        if n > self.block_max[b]:
            self.block_max[b] = n

    def _del_run(self, start: int) -> int:
        end = self.runs.pop(start)
        del self.run_ends[end]
        n = end - start
        lens = self.run_lens
        c = lens[n] - 1
        if c:
            lens[n] = c
        else:
            del lens[n]
            if n == self.contig:  # pcpu_chunk_refresh_hint(): the largest run went away
                self.contig = max(lens, default=0)
        b = start >> BLOCK_SHIFT
        lens = self.block_lens[b]
        c = lens[n] - 1
        if c:
            lens[n] = c
        else:
            del lens[n]
            if n == self.block_max[b]:  # pcpu_block_refresh_hint()
                self.block_max[b] = max(lens, default=0)
        return end

    def _account_blocks(self, off: int, bits: int, sign: int) -> None:
        """Add sign * bits set bits to the blocks under [off, off + bits) and keep
        nr_empty_pop_pages (a populated block with no set bit) in step."""
        used, pop = self.block_used, self.populated
        end = off + bits
        b = off >> BLOCK_SHIFT
        if (end - 1) >> BLOCK_SHIFT == b:  # the common case: inside one block
            before = used[b]
            after = used[b] = before + sign * bits
            if pop[b] and (not before) != (not after):
                self.nr_empty_pop_pages += 1 if not after else -1
            return
        while off < end:
            nxt = min((b + 1) << BLOCK_SHIFT, end)
            before = used[b]
            after = before + sign * (nxt - off)
            used[b] = after
            if pop[b] and (not before) != (not after):
                self.nr_empty_pop_pages += 1 if not after else -1
            off = nxt
            b += 1

    def _next_run_start(self, pos: int) -> int:
        """The start of the first free run at or after ``pos`` (-1 if none)."""
        m = self.alloc_map
        start = m.find(0, pos)
        if start == pos and pos and not m[pos - 1]:
            end = m.find(1, pos)  # pos is inside a run begun earlier: skip the rest of it
            return -1 if end < 0 else m.find(0, end)
        return start

    def find_fit(self, bits: int, align_bits: int, is_atomic: bool) -> int:
        """First fit: the lowest aligned bit offset with ``bits`` free bits (and, for atomic
        callers, only populated pages under it).  Blocks without a long enough run are
        skipped by their hint; inside a block the first long enough run is found by a
        search of the bitmap for ``bits`` zero bytes (the leftmost match starts a run).
        Same answer as :func:`pcpu_find_fit_scan` on the bitmap."""
        if bits > self.contig:
            return -1
        m, runs, block_max = self.alloc_map, self.runs, self.block_max
        zeros = _ZEROS.get(bits)
        if zeros is None:
            zeros = _ZEROS[bits] = bytes(bits)
        start = self.first_free
        while start >= 0:
            b = start >> BLOCK_SHIFT
            if block_max[b] < bits:
                # no run starting in this block is long enough: go to the next block that
                # has one (pcpu_for_each_fit_region() skipping blocks by their hints)
                b += 1
                nr_blocks = len(block_max)
                while b < nr_blocks and block_max[b] < bits:
                    b += 1
                if b == nr_blocks:
                    return -1
                start = self._next_run_start(b << BLOCK_SHIFT)
                continue
            hi = (b + 1) << BLOCK_SHIFT  # only runs starting in this block
            start = m.find(zeros, start, hi - 1 + bits)
            if start < 0:
                start = self._next_run_start(hi)
                continue
            end = runs[start]
            cand = _fit_in_run(self.populated, start, end, bits, align_bits, is_atomic)
            if cand >= 0:
                return cand
            start = m.find(0, end)
        return -1

    def alloc_area(self, off: int, bits: int) -> None:
        """pcpu_alloc_area(): mark [off, off + bits) used and update the hints."""
        m = self.alloc_map
        start = m.rfind(1, 0, off) + 1
        end = self._del_run(start)
        if start < off:
            self._add_run(start, off)
        if off + bits < end:
            self._add_run(off + bits, end)
        m[off:off + bits] = b"\x01" * bits
        self.bound[off] = bits
        self.free_bytes -= bits * PCPU_MIN_ALLOC_SIZE
        if start == self.first_free:
            self.first_free = m.find(0, start)
        self._account_blocks(off, bits, 1)

    def free_area(self, off: int) -> int:
        """pcpu_free_area(): clear the area starting at ``off``, merge it with its free
        neighbours; returns its size in bits."""
        bits = self.bound.pop(off)
        end = off + bits
        self.alloc_map[off:end] = bytes(bits)
        start = self.run_ends.get(off, off)
        if start != off:
            self._del_run(start)
        if end in self.runs:
            end = self._del_run(end)
        self._add_run(start, end)
        self.free_bytes += bits * PCPU_MIN_ALLOC_SIZE
        if self.first_free < 0 or start < self.first_free:
            self.first_free = start
        self._account_blocks(off, bits, -1)
        return bits

    def set_populated(self, page: int, on: bool) -> None:
        if bool(self.populated[page]) == on:
            return
        self.populated[page] = int(on)
        if not self.block_used[page]:
            self.nr_empty_pop_pages += 1 if on else -1

    def __str__(self) -> str:
        return f"pcpu_chunk base_addr=0x{self.base_addr:016x} pages={self.nr_pages} free={self.free_bytes}"


def _fit_in_run(populated: bytearray, start: int, end: int, bits: int, align_bits: int, is_atomic: bool) -> int:
    """The lowest aligned offset in the free run [start, end) that fits ``bits``; an atomic
    caller also needs every page under the area populated (pcpu_is_populated)."""
    cand = -(-start // align_bits) * align_bits
    while cand + bits <= end:
        if not is_atomic:
            return cand
        p0 = cand >> BLOCK_SHIFT
        p1 = (cand + bits + BLOCK_BITS - 1) >> BLOCK_SHIFT
        hole = populated.find(0, p0, p1)
        if hole < 0:
            return cand
        # restart after the unpopulated page
        cand = -(-((hole + 1) * BLOCK_BITS) // align_bits) * align_bits
    return -1


def pcpu_find_fit_scan(chunk: PcpuChunk, bits: int, align_bits: int, is_atomic: bool) -> int:
    """The plain first-fit scan over every free run of the bitmap, without hints: the
    reference :meth:`PcpuChunk.find_fit` must agree with (tests run both)."""
    for run in _ZERO_RUN.finditer(chunk.alloc_map):
        start, end = run.span()
        if end - start >= bits:
            cand = _fit_in_run(chunk.populated, start, end, bits, align_bits, is_atomic)
            if cand >= 0:
                return cand
    return -1


class PerCpuVar:
    """A static per-cpu variable (DEFINE_PER_CPU): one value per CPU."""

    KMS_TYPE = "percpu_var"
    KMS_ATTRS = frozenset({"name", "offset", "values"})
    __slots__ = ("name", "offset", "values")

    def __init__(self, name: str, offset: int, values: list[int]) -> None:
        self.name = name
        self.offset = offset
        self.values = values

    def __str__(self) -> str:
        return f"percpu {self.name} " + " ".join(f"cpu{c}={v}" for c, v in enumerate(self.values))


class PerCpu:
    """The per-cpu allocator of one machine.  See the module docstring."""

    def __init__(self, *, page_alloc: PageAllocator, vmalloc: Vmalloc,
                 kmalloc: Callable[[int, int, str | None], int | None], kfree: Callable[[int], None],
                 ctx: ExecContext, log: KernelLog, tracer: Tracer, vmstat: VmStat, nr_cpus: int,
                 first_chunk_paddr: Callable[[int], int], owner_percpu: int, page_offset: int,
                 static_size: int = STATIC_SIZE_DEFAULT) -> None:
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
        self.ai = ai = pcpu_build_alloc_info(nr_cpus, static_size)
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
        fc = PcpuChunk(self.pcpu_base_addr + aligned, region >> PAGE_SHIFT, start_offset=start_offset,
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
        self.phys: PhysStore | None = None  # set by the machine: the physical byte store
        self.log.printk(ai.embedded_line())
        self.log.printk(ai.dump_alloc_info())

    # -- slots ---------------------------------------------------------------------------------
    def size_to_slot(self, size: int) -> int:
        """pcpu_size_to_slot(): a fully free chunk goes to pcpu_free_slot."""
        if size == self.unit_size:
            return self.free_slot
        return max(fls(size) - PCPU_SLOT_BASE_SHIFT + 2, 1)

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
        return size * self.nr_cpus + size // PCPU_MIN_ALLOC_SIZE * SIZEOF_PCPUOBJ_EXT

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

    @staticmethod
    def _longs(nbits: int) -> int:
        """BITS_TO_LONGS(nbits) * sizeof(long)."""
        return -(-nbits // 64) * 8

    def create_chunk(self, gfp: int) -> PcpuChunk | None:
        """pcpu_create_chunk(): metadata, then the congruent vm area at the top of vmalloc."""
        chunk = PcpuChunk(0, self.unit_pages)
        bits = self.unit_size // PCPU_MIN_ALLOC_SIZE
        ok = (self._mem_zalloc(SIZEOF_PCPU_CHUNK + self._longs(self.unit_pages), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self._longs(bits), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self._longs(bits + 1), gfp, "pcpu_create_chunk", chunk)
              and self._mem_zalloc(self.unit_pages * PAGE_SIZE // PCPU_BITMAP_BLOCK_SIZE * SIZEOF_PCPU_BLOCK_MD,
                                   gfp, "pcpu_create_chunk", chunk)
              # memcg: one obj_ext per 4-byte unit; the vmallocinfo line seen on the machine
              and self._mem_zalloc(bits * SIZEOF_PCPUOBJ_EXT, gfp, "pcpu_create_chunk+0x217/0x230", chunk))
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
            self.tracer.emit("percpu_create_chunk", f"base_addr={chunk.base_addr:016x}")
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
            self.tracer.emit("percpu_destroy_chunk", f"base_addr={chunk.base_addr:016x}")
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

    # -- alloc / free ----------------------------------------------------------------------------
    def alloc_percpu(self, size: int, align: int = 4, gfp: int = GFP_KERNEL, caller: str | None = None) -> int | None:
        """pcpu_alloc(): a __percpu pointer (CPU 0's copy) or None."""
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
            self.ctx.warn("mm/percpu.c", "pcpu_alloc_noprof",
                          f"illegal size ({size}) or align ({align}) for percpu allocation")
            return None
        if not is_atomic:
            self.ctx.might_alloc(gfp)
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
        if found is None and not is_atomic:
            chunk_new = self.create_chunk(pcpu_gfp)
            if chunk_new is None:
                err = "failed to allocate new chunk"
            else:
                off = chunk_new.find_fit(bits, bit_align, False)
                if off >= 0:
                    found = (chunk_new, off)
        if found is None:
            return self._fail(size, align, is_atomic, do_warn, err)
        chunk, off = found
        chunk.alloc_area(off, bits)
        self._relocate(chunk)
        byte_off = off * PCPU_MIN_ALLOC_SIZE
        if not is_atomic and not chunk.is_populated(off, bits):
            p0 = byte_off >> PAGE_SHIFT
            p1 = (byte_off + size + PAGE_SIZE - 1) >> PAGE_SHIFT
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
                             f"size={size} align={align} base_addr={chunk.base_addr:016x} off={byte_off} "
                             f"ptr={ptr:016x} bytes_alloc={self.obj_full_size(size)} gfp_flags={format_gfp(gfp)}")
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
        self._free_area(chunk, off)
        self.stats["nr_dealloc"] += 1  # pcpu_stats_area_dealloc()
        self.stats["nr_cur_alloc"] -= 1
        chunk.nr_alloc -= 1
        if self.tracer.enabled:
            self.tracer.emit("percpu_free_percpu",
                             f"base_addr={chunk.base_addr:016x} off={off * PCPU_MIN_ALLOC_SIZE} ptr={ptr:016x}")
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
                if a < vaddr + n and vaddr < a + SCRIPT_VAR_SIZE:
                    hits.append((var, cpu, a))
        return hits

    def read(self, vaddr: int, n: int) -> bytes:
        data = self._read_store(vaddr, n)
        hits = self._var_hits(vaddr, n)
        if not hits:
            return data
        buf = bytearray(data)
        for var, cpu, a in hits:
            raw = (var.values[cpu] & 0xFFFFFFFFFFFFFFFF).to_bytes(SCRIPT_VAR_SIZE, "little")
            for i in range(max(a, vaddr), min(a + SCRIPT_VAR_SIZE, vaddr + n)):
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
                    raise KernelFault(f"BUG: unable to handle page fault for address: {a:016x} "
                                      "(per-cpu page not populated)")
                out += phys.read(paddr, chunk_n)
            pos += chunk_n
        return bytes(out)

    def write(self, vaddr: int, data: bytes, missing_ok: bool = False) -> None:
        for var, cpu, a in self._var_hits(vaddr, len(data)):
            raw = bytearray((var.values[cpu] & 0xFFFFFFFFFFFFFFFF).to_bytes(SCRIPT_VAR_SIZE, "little"))
            for i in range(max(a, vaddr), min(a + SCRIPT_VAR_SIZE, vaddr + len(data))):
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
                    raise KernelFault(f"BUG: unable to handle page fault for address: {a:016x} "
                                      "(per-cpu page not populated)")
                phys.write(paddr, data[pos:pos + chunk_n])
            pos += chunk_n

    # -- static variables (DEFINE_PER_CPU) ----------------------------------------------------------
    def define_per_cpu(self, name: str, init: int = 0) -> PerCpuVar:
        if name in self.vars:
            raise KernelFault(f"percpu variable {name} is already defined")
        off = self._script_static_next
        if off + SCRIPT_VAR_SIZE > self.ai.static_size:
            raise KernelFault(f"percpu {name}: the static per-cpu section is full "
                              f"({SCRIPT_STATIC_SIZE // SCRIPT_VAR_SIZE} script variables)")
        self._script_static_next = off + SCRIPT_VAR_SIZE
        var = PerCpuVar(name, off, [init] * self.nr_cpus)
        self.vars[name] = var
        return var

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
                 f"first chunk base 0x{self.pcpu_base_addr:016x}",
                 f"Percpu: {self.vmstat.nr_percpu_pages * 4} kB ({self.nr_populated} populated pages x {self.nr_units} units)"]
        for i, c in enumerate(self.chunks):
            kind = "first" if c.immutable else "vmalloc"
            used = sum(b for b in c.bound.values()) * PCPU_MIN_ALLOC_SIZE
            lines.append(f"chunk {i} ({kind}) base_addr=0x{c.base_addr:016x} pages={c.nr_pages} "
                         f"populated={c.nr_populated} allocs={len(c.bound)} used={used} free={c.free_bytes} "
                         f"contig={c.contig_bits() * PCPU_MIN_ALLOC_SIZE} slot={c.slot}")
        if self.vars:
            lines.append("static variables:")
            for v in self.vars.values():
                lines.append(f"  {v.name} @ +0x{v.offset:x}: " + " ".join(f"[{c}]={x}" for c, x in enumerate(v.values)))
        return "\n".join(lines)

"""Per-cpu chunk internals: mm/percpu-internal.h and the bitmap allocator of mm/percpu.c.

What it models: the first-chunk layout (pcpu_build_alloc_info, pcpu_alloc_info and the
"Embedded ... pages/cpu" line), a chunk's allocation bitmap with its per-block hints
(pcpu_block_md: contig_hint, first_free, scan_hint) and free runs, the fit search
(pcpu_find_block_fit / pcpu_alloc_area / pcpu_free_area), the populated-page bitmap,
and the static per-cpu variables scripts define (DEFINE_PER_CPU).

Invariants: the runs of a chunk's bitmap are disjoint; a block's hints are never larger
than its longest free run; an allocation is placed only on populated pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .arch import X86_64
from .vmap_area import VmStruct
from .mm_types import PAGE_SHIFT, PAGE_SIZE



# include/linux/percpu.h
PCPU_MIN_ALLOC_SHIFT = 2
PCPU_MIN_ALLOC_SIZE = 1 << PCPU_MIN_ALLOC_SHIFT
PCPU_BITMAP_BLOCK_SIZE = PAGE_SIZE
PCPU_MIN_UNIT_SIZE = 32 << 10
PERCPU_MODULE_RESERVE = 0  # CONFIG_MODULES=n on the reference machine ("r0")
PERCPU_DYNAMIC_SIZE_SHIFT = 10
PERCPU_DYNAMIC_EARLY_SIZE = 20 << PERCPU_DYNAMIC_SIZE_SHIFT
PERCPU_DYNAMIC_RESERVE = 28 << PERCPU_DYNAMIC_SIZE_SHIFT    # BITS_PER_LONG > 32 (see first_chunk_sizes)
# mm/percpu.c
PCPU_SLOT_BASE_SHIFT = 5
PCPU_EMPTY_POP_PAGES_LOW = 2
PCPU_EMPTY_POP_PAGES_HIGH = 4
PCPU_WARN_LIMIT = 10
# .data..percpu of the reference 6.18.44 kernel (boot log "s185496"): the arch's figure
STATIC_SIZE_DEFAULT = X86_64.pcpu_static_size
SCRIPT_STATIC_SIZE = 4096
SCRIPT_VAR_SIZE = 8
# sizeof(struct pcpu_block_md) (8 ints); struct pcpuobj_ext is one pointer (Arch.pointer_size)
SIZEOF_PCPU_BLOCK_MD = 32


def sizeof_pcpu_chunk(pointer_size: int, cache_line: int) -> int:
    """sizeof(struct pcpu_chunk) (mm/percpu-internal.h; CONFIG_SMP, NEED_PCPUOBJ_EXT with
    MEMCG_KMEM, no PERCPU_STATS).  base_addr is ____cacheline_aligned_in_smp, so the struct
    is aligned to the cache line and its size padded to it: 192 on x86_64 (populated[] sits
    at 136), 128 on i386 (populated[] at 108).  pcpu_setup_first_chunk (mm/percpu.c) sizes
    every later chunk as struct_size(chunk, populated, BITS_TO_LONGS(pcpu_unit_pages)),
    i.e. this sizeof plus the bitmap (include/linux/overflow.h: struct_size adds
    sizeof(*p))."""
    def align(off: int, a: int) -> int:
        return (off + a - 1) // a * a
    ptr = pointer_size
    off = 2 * ptr + 4 + SIZEOF_PCPU_BLOCK_MD   # list, free_bytes, chunk_md
    off = align(off, ptr) + ptr                # bound_map
    off = align(off, cache_line) + 4 * ptr     # base_addr (cacheline aligned), alloc_map, md_blocks, data
    off = align(off + 2, 4) + 8                # immutable, isolated; start_offset, end_offset
    off = align(off, ptr) + ptr                # obj_exts
    off = align(off + 12, ptr)                 # nr_pages, nr_populated, nr_empty_pop_pages; populated[]
    return align(off, cache_line)

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


def first_chunk_sizes(bits_per_long: int, module_reserve: int = PERCPU_MODULE_RESERVE) -> tuple[int, int]:
    """(reserved_size, dyn_size) that arch/x86/kernel/setup_percpu.c: setup_per_cpu_areas
    passes to pcpu_embed_first_chunk: reserved = PERCPU_FIRST_CHUNK_RESERVE (PERCPU_MODULE_RESERVE
    on x86_64, whose module per-cpu symbols must stay within 32-bit relocations of the
    first chunk; 0 on x86_32, where "anything can address anywhere"), dyn =
    PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE - PERCPU_FIRST_CHUNK_RESERVE, with
    include/linux/percpu.h's PERCPU_DYNAMIC_RESERVE 28 KiB when BITS_PER_LONG > 32, 20 KiB
    otherwise (<< PERCPU_DYNAMIC_SIZE_SHIFT 10: no RANDOM_KMALLOC_CACHES)."""
    dynamic_reserve = (28 if bits_per_long > 32 else 20) << PERCPU_DYNAMIC_SIZE_SHIFT
    reserved = module_reserve if bits_per_long == 64 else 0
    return reserved, module_reserve + dynamic_reserve - reserved


def pcpu_build_alloc_info(nr_cpus: int, static_size: int = STATIC_SIZE_DEFAULT,
                          reserved_size: int = PERCPU_MODULE_RESERVE,
                          dyn_size: int = PERCPU_DYNAMIC_RESERVE, *, atom_size: int) -> PcpuAllocInfo:
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
    ptr_digits: int  # how many hex digits a pointer prints with (Arch.ptr_digits)
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
        self.contig = max(self.run_lens) if self.run_lens else 0
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
                # (max() without its keyword argument: CPython parses keywords slowly)
                self.contig = max(lens) if lens else 0
        b = start >> BLOCK_SHIFT
        lens = self.block_lens[b]
        c = lens[n] - 1
        if c:
            lens[n] = c
        else:
            del lens[n]
            if n == self.block_max[b]:  # pcpu_block_refresh_hint()
                self.block_max[b] = max(lens) if lens else 0
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
        b = off >> BLOCK_SHIFT
        used = self.block_used
        if (off + bits - 1) >> BLOCK_SHIFT == b and used[b]:
            used[b] += bits  # _account_blocks()'s common case: a block already in use
        else:
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
        b = off >> BLOCK_SHIFT
        used = self.block_used
        if (off + bits - 1) >> BLOCK_SHIFT == b and used[b] > bits:
            used[b] -= bits  # _account_blocks()'s common case: the block stays in use
        else:
            self._account_blocks(off, bits, -1)
        return bits

    def set_populated(self, page: int, on: bool) -> None:
        if bool(self.populated[page]) == on:
            return
        self.populated[page] = int(on)
        if not self.block_used[page]:
            self.nr_empty_pop_pages += 1 if on else -1

    def __str__(self) -> str:
        return f"pcpu_chunk base_addr=0x{self.base_addr:0{self.ptr_digits}x} pages={self.nr_pages} free={self.free_bytes}"


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
    KMS_ATTRS = frozenset({"name", "offset", "values", "size"})
    __slots__ = ("name", "offset", "values", "size")

    def __init__(self, name: str, offset: int, values: list[int], size: int = SCRIPT_VAR_SIZE) -> None:
        self.name = name
        self.offset = offset
        self.values = values
        self.size = size  # sizeof(type) of DEFINE_PER_CPU(type, name): how many bytes memory access sees

    def __str__(self) -> str:
        return f"percpu {self.name} " + " ".join(f"cpu{c}={v}" for c, v in enumerate(self.values))

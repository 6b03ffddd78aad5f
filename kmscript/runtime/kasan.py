"""Generic KASAN (CONFIG_KASAN_GENERIC, inline instrumentation): shadow memory, the
allocator hooks, the quarantine and the reports of Linux 6.18.

What it models (mm/kasan/kasan.h, generic.c, common.c, shadow.c, quarantine.c, report.c,
report_generic.c; include/linux/kasan.h; Documentation/dev-tools/kasan.rst):

- **Shadow memory.**  One shadow byte per 8-byte granule (KASAN_GRANULE_SIZE): 0 = the 8
  bytes are accessible, 1..7 = only the first N are, a "negative" value = none is, and which
  one says why (mm/kasan/kasan.h): KASAN_PAGE_FREE 0xFF (a free page), KASAN_PAGE_REDZONE
  0xFE (the tail of a large kmalloc), KASAN_SLAB_REDZONE 0xFC (slab redzones and never
  allocated objects), KASAN_SLAB_FREE 0xFB (a freed object), KASAN_SLAB_FREE_META 0xFA (the
  first granule of a freed object whose free meta is valid), KASAN_VMALLOC_INVALID 0xF8
  (the unused part and guard page of a vmalloc area).
- **Allocator hooks** (the calls mm/slub.c and mm/slab_common.c make): kasan_poison_slab
  (a new slab is all 0xFC), kasan_slab_alloc/kasan_kmalloc (unpoison the requested size,
  the partial last granule, 0xFC from there to the object size), kasan_slab_free (poison
  0xFB, 0xFA on the first granule, free track, quarantine; a pointer that is not an object
  start is an invalid-free, one whose first byte is already poisoned a double-free, and
  neither is freed), __kasan_kmalloc_large (0xFE after the requested size up to the end of
  the pages), kasan_krealloc, and the kasan_check_byte of ksize and krealloc.
  The metadata KASAN adds to each cache (kasan_cache_create) is in slab_geometry.py.
- **The quarantine** (mm/kasan/quarantine.c): a freed object is not given back to SLUB;
  it goes to this CPU's queue, which moves to the global FIFO of batches once it holds more
  than QUARANTINE_PERCPU_SIZE (1 MiB) of objects (counted by cache->size).  An allocation
  that may sleep calls kasan_quarantine_reduce: when the global queue exceeds its maximum
  (totalram / QUARANTINE_FRACTION (32) minus 1 MiB per online CPU, computed at the first
  reduce, so 0 before it) the oldest batch is freed to SLUB.  kmem_cache_shrink/destroy
  take a cache's objects out first (kasan_quarantine_remove_cache).
- **Checks**: every access a script makes through a pointer (``p[i]``: inline
  instrumentation, the access goes ahead after a report; memset/memcpy: __asan_memset /
  __asan_memcpy call kasan_check_range and skip the operation when it fails, mm/kasan/
  shadow.c) is checked as memory_is_poisoned does.  An address below the shadow's reach
  (a NULL or user pointer, a non-canonical address) has no metadata: kasan_check_range
  reports it as null-ptr-deref / user-memory-access / wild-memory-access; an inline
  access there dereferences a non-canonical shadow address and takes the general
  protection fault, whose kasan_non_canonical_hook line names the range.
- **Reports** in report.c's format: the banner, the access line, dump_stack, "Allocated
  by task"/"Freed by task" (the stack is the script line under the kernel's save-stack
  frames), the object description, the physical page, "Memory state around the buggy
  address" (5 rows of 16 shadow bytes, ``>`` on the row of the first bad granule and a
  ``^`` under it).  One report per boot unless kasan_multi_shot (report_enabled); each
  report taints the kernel with B (TAINT_BAD_PAGE) and panics with panic_on_warn unless
  multi-shot (end_report).

How the shadow is stored (host memory proportional to what the script touches): only
memory whose shadow is not uniform has shadow bytes, one bytearray per slab (viewed per
page) and per page of a large kmalloc's tail.  Everything else is derived from the
allocators' own state, which is what the kernel's shadow holds for it: a page the buddy
allocator or a pcp list holds is 0xFF (free_pages_prepare -> kasan_poison_pages), any
other page of RAM 0x00 (post_alloc_hook -> kasan_unpoison_pages), a vmalloc address
0x00 up to the area's requested size, the partial granule, then 0xF8 to the end of the
area and its guard page (kasan_populate_vmalloc + kasan_unpoison_vmalloc).

Invariants: a slab has shadow bytes from the moment it is allocated until its pages are
freed; an object is in the quarantine iff it is in ``_quarantined``, and then its first
shadow byte is 0xFA (0xFB for caches without free meta) and it is still allocated from
SLUB's point of view (it counts in /proc/slabinfo's active objects, as in the kernel).

Simplifications: stacks are the script line under KASAN's own frames (no stack depot, no
offsets); the stack of a report's access is the script line; aux stacks (call_rcu,
workqueues) are not recorded; KASAN_STACK / globals are not modelled (scripts have
neither); vmalloc shadow pages are not allocated (the derived shadow needs none), so
vfree'd ranges have no shadow and an access there faults as without KASAN.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Protocol

from . import gfp as _gfp
from .arch import Arch
from .context import ExecContext
from .errors import KernelFault
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .printk import KernelLog
from .slab import SlabAllocator
from .slab_geometry import KASAN_NO_FREE_META, SLAB_TYPESAFE_BY_RCU
from .slab_types import KmemCache, Slab

__all__ = ["Kasan", "KASAN_PAGE_FREE", "KASAN_PAGE_REDZONE", "KASAN_SLAB_REDZONE", "KASAN_SLAB_FREE",
           "KASAN_SLAB_FREE_META", "KASAN_VMALLOC_INVALID", "KASAN_GRANULE_SIZE", "KASAN_STACK_ORDER"]

# mm/kasan/kasan.h (CONFIG_KASAN_GENERIC)
KASAN_PAGE_FREE = 0xFF
KASAN_PAGE_REDZONE = 0xFE
KASAN_SLAB_REDZONE = 0xFC
KASAN_SLAB_FREE = 0xFB
KASAN_SLAB_FREE_META = 0xFA
KASAN_VMALLOC_INVALID = 0xF8
KASAN_GRANULE_SIZE = 8  # 1 << KASAN_SHADOW_SCALE_SHIFT
_GRANULE_MASK = KASAN_GRANULE_SIZE - 1
META_BYTES_PER_ROW = 16
META_MEM_BYTES_PER_ROW = META_BYTES_PER_ROW * KASAN_GRANULE_SIZE
META_ROWS_AROUND_ADDR = 2
# arch/x86/include/asm/page_64_types.h: THREAD_SIZE_ORDER = 2 + KASAN_STACK_ORDER
KASAN_STACK_ORDER = 1
# arch/x86/Kconfig: KASAN_SHADOW_OFFSET (0xdffffc0000000000 for 4-level paging);
# kasan_shadow_to_mem(KASAN_SHADOW_START) is where addr_has_metadata() starts
KASAN_SHADOW_OFFSET = 0xDFFFFC0000000000
KASAN_SHADOW_START = 0xFFFFEC0000000000
KASAN_SHADOW_END = 0xFFFFFC0000000000
# mm/kasan/quarantine.c
QUARANTINE_PERCPU_SIZE = 1 << 20
QUARANTINE_FRACTION = 32
NR_CPUS_CONFIG = 8192  # CONFIG_NR_CPUS of the reference kernel (MAXSMP)
QUARANTINE_BATCHES = max(1024, 4 * NR_CPUS_CONFIG)

_GFP_DIRECT_RECLAIM = _gfp.__GFP_DIRECT_RECLAIM  # (a __GFP_ name in a class body is name-mangled)
_PAGES_PER_SHADOW_ROW = PAGE_SIZE // KASAN_GRANULE_SIZE  # 512 shadow bytes per page
_FREE_KINDS = frozenset(("buddy", "pcp"))


class PageStates(Protocol):
    """What KASAN reads from the page allocator: a frame's state and dump_page's lines."""

    def page_state(self, pfn: int) -> tuple[str, bool, int]: ...
    def dump_page_lines(self, pfn: int, mapping: int = 0, index: int = 0, anon: bool = False) -> list[str]: ...

    @property
    def totalram_pages(self) -> int: ...


class VmAreaLike(Protocol):
    addr: int
    size: int
    nr_pages: int
    requested_size: int
    caller: str | None


class VmallocLookup(Protocol):
    """What KASAN reads from vmalloc (installed once vmalloc is up)."""

    def area_containing(self, vaddr: int) -> VmAreaLike | None: ...
    def vmalloc_to_pfn(self, addr: int) -> int | None: ...


class _QList:
    """struct qlist_head: a FIFO of objects with the bytes they hold (cache->size each)."""

    __slots__ = ("objs", "bytes")

    def __init__(self) -> None:
        self.objs: deque[tuple[KmemCache, int]] = deque()
        self.bytes = 0


def _s8(v: int) -> int:
    return v - 256 if v >= 128 else v


class Kasan:
    """Generic KASAN of one machine.  See the module docstring."""

    KMS_TYPE = "kasan"
    KMS_ATTRS = frozenset({"multi_shot", "reports", "quarantine_bytes", "quarantine_objects",
                           "quarantine_max_size"})

    def __init__(self, *, arch: Arch, page_alloc: PageStates, slab: SlabAllocator, ctx: ExecContext,
                 log: KernelLog, nr_cpus: int, multi_shot: bool = False) -> None:
        self.arch = arch
        self.page_offset = arch.page_offset
        # addr_has_metadata: kasan_shadow_to_mem(KASAN_SHADOW_START) = -1UL << __VIRTUAL_MASK_SHIFT
        # (47 with 4-level paging, 56 with 5-level: the direct map is below 0xffff800000000000)
        self.mem_with_metadata = 0xFFFF800000000000 if arch.page_offset >= 0xFFFF800000000000 else 0xFF00000000000000
        self.page_alloc = page_alloc
        self.slab = slab
        self.ctx = ctx
        self.log = log
        self.nr_cpus = nr_cpus
        self.vmalloc: VmallocLookup | None = None
        # shadow bytes of the non-uniform pages: pfn -> 512 bytes (a view of its slab's array)
        self.shadow: dict[int, memoryview | bytearray] = {}
        # kasan_track: object -> (pid, stack id); stacks interned in _stacks
        self.alloc_track: dict[int, tuple[int, int]] = {}
        self.free_track: dict[int, tuple[int, int]] = {}
        self._stacks: list[tuple[str, ...]] = [()]
        self._stack_ids: dict[tuple[str, ...], int] = {}
        self._alloc_sids: dict[tuple[str, bool], int] = {}
        self._free_sids: dict[tuple[str, str], int] = {}
        # shadow patterns of an allocated / freed object, by (size, object_size) / (object_size, free meta)
        self._alloc_pats: dict[tuple[int, int], bytes] = {}
        self._free_pats: dict[KmemCache, tuple[bytes, bool]] = {}
        # report.c: KASAN_BIT_REPORTED / KASAN_BIT_MULTI_SHOT
        self.multi_shot = multi_shot
        self.reported = False
        self.reports = 0  # reports printed
        # quarantine.c
        self.cpu_quarantine = [_QList() for _ in range(nr_cpus)]
        self.global_quarantine: dict[int, _QList] = {}
        self.quarantine_head = 0
        self.quarantine_tail = 0
        self.quarantine_size = 0
        self.quarantine_max_size = 0
        self.quarantine_batch_size = 0
        self._quarantined: set[int] = set()

    def install_vmalloc(self, vmalloc: VmallocLookup) -> None:
        """vmalloc is built above the slab layer KASAN hooks into: connected once it is up."""
        self.vmalloc = vmalloc

    # ================================================================ handle attributes
    @property
    def quarantine_bytes(self) -> int:
        """Bytes (cache->size) of the objects in the quarantine, per-cpu queues included."""
        return self.quarantine_size + sum(q.bytes for q in self.cpu_quarantine)

    @property
    def quarantine_objects(self) -> int:
        return len(self._quarantined)

    def save_enable_multi_shot(self) -> bool:
        """kasan_save_enable_multi_shot (what KUnit's KASAN tests do for their duration)."""
        old = self.multi_shot
        self.multi_shot = True
        return old

    def restore_multi_shot(self, enabled: bool) -> None:
        self.multi_shot = enabled

    # ================================================================ shadow
    def _stack(self, frames: tuple[str, ...]) -> int:
        sid = self._stack_ids.get(frames)
        if sid is None:
            sid = self._stack_ids[frames] = len(self._stacks)
            self._stacks.append(frames)
        return sid

    def _poison(self, addr: int, size: int, value: int) -> None:
        """kasan_poison over [addr, addr + size) of memory that has shadow bytes (both
        granule aligned); the range may cross pages of one slab or large kmalloc."""
        shadow = self.shadow
        off = addr - self.page_offset
        end = off + size
        while off < end:
            pfn = off >> PAGE_SHIFT
            g0 = (off & (PAGE_SIZE - 1)) >> 3
            n = min(end - off, PAGE_SIZE - (off & (PAGE_SIZE - 1)))
            sh = shadow.get(pfn)
            if sh is not None:
                sh[g0:g0 + ((n + _GRANULE_MASK) >> 3)] = bytes((value,)) * ((n + _GRANULE_MASK) >> 3)
            off += n

    def _unpoison(self, addr: int, size: int) -> None:
        """kasan_unpoison (generic): zero shadow for [addr, addr + size), the last granule
        partially (size & 7)."""
        full = size & ~_GRANULE_MASK
        if full:
            self._poison(addr, full, 0)
        if size & _GRANULE_MASK:
            self._poison(addr + full, KASAN_GRANULE_SIZE, size & _GRANULE_MASK)

    def shadow_byte(self, addr: int) -> int:
        """The shadow byte of the granule holding *addr* (see the module docstring)."""
        po = self.page_offset
        if po <= addr < self.arch.direct_map_end:
            pfn = (addr - po) >> PAGE_SHIFT
            sh = self.shadow.get(pfn)
            if sh is not None:
                return sh[(addr & (PAGE_SIZE - 1)) >> 3]
            return KASAN_PAGE_FREE if self.page_alloc.page_state(pfn)[0] in _FREE_KINDS else 0
        if self.arch.is_vmalloc_addr(addr) and self.vmalloc is not None:
            vm = self.vmalloc.area_containing(addr)
            if vm is None:
                return KASAN_VMALLOC_INVALID
            off = addr - vm.addr
            req = vm.requested_size
            if off < req & ~_GRANULE_MASK:
                return 0
            if off < req:
                return req & _GRANULE_MASK if req & _GRANULE_MASK else 0
            return KASAN_VMALLOC_INVALID
        return 0

    def _has_shadow(self, addr: int) -> bool:
        """Whether the shadow of *addr* is mapped memory the check can read (the vmalloc
        range only where an area is: KASAN_VMALLOC populates shadow per area)."""
        if self.arch.is_vmalloc_addr(addr):
            return self.vmalloc is not None and self.vmalloc.area_containing(addr) is not None
        return True

    def _poisoned(self, addr: int, size: int) -> bool:
        """memory_is_poisoned: memory_is_poisoned_1 / _n."""
        if size == 1:
            v = self.shadow_byte(addr)
            return bool(v) and (addr & _GRANULE_MASK) >= _s8(v)
        last = addr + size - 1
        g = addr & ~_GRANULE_MASK
        while g <= last:
            v = self.shadow_byte(g)
            if v:
                # memory_is_nonzero found this granule: fine only if it is the last one and
                # the last byte is below the partial value
                return g != last & ~_GRANULE_MASK or (last & _GRANULE_MASK) >= _s8(v)
            g = self._next_checked(g)
        return False

    def _next_checked(self, g: int) -> int:
        """The next granule to look at after the accessible granule *g*: a page whose shadow
        is derived is uniform, and so is the accessible part of a vmalloc area."""
        po = self.page_offset
        if po <= g < self.arch.direct_map_end:
            if ((g - po) >> PAGE_SHIFT) not in self.shadow:
                return (g | (PAGE_SIZE - 1)) + 1
        elif self.vmalloc is not None and self.arch.is_vmalloc_addr(g):
            vm = self.vmalloc.area_containing(g)
            if vm is not None and g < vm.addr + (vm.requested_size & ~_GRANULE_MASK):
                return vm.addr + (vm.requested_size & ~_GRANULE_MASK)
        return g + KASAN_GRANULE_SIZE

    def find_first_bad_addr(self, addr: int, size: int) -> int:
        """report_generic.c: kasan_find_first_bad_addr."""
        p = addr
        while p < addr + size and not self.shadow_byte(p):
            p += KASAN_GRANULE_SIZE
        return p

    # ================================================================ access checks
    def check_access(self, addr: int, size: int, write: bool, site: str, op: str = "inline") -> bool:
        """Check an access a script makes at *site*; False (after the report) if it is bad.

        *op*: ``inline`` for a ``p[i]`` access (inline instrumentation, reported through
        __asan_report_{load,store}N_noabort), ``memset``/``memcpy`` for the intercepted
        functions (__asan_memset/__asan_memcpy -> kasan_check_range, mm/kasan/shadow.c)."""
        inline = op == "inline"
        if size == 0:
            return True
        po = self.page_offset
        if size == 1 and po <= addr < self.arch.direct_map_end:
            sh = self.shadow.get((addr - po) >> PAGE_SHIFT)
            if sh is not None:
                v = sh[(addr & (PAGE_SIZE - 1)) >> 3]
                if not v or (v < 8 and (addr & _GRANULE_MASK) < v):
                    return True
        if addr + size - 1 > self.arch.ulong_max:
            return not self.report_access(addr, size, write, site, op)  # get_bug_type: "out-of-bounds"
        if addr < self.mem_with_metadata:
            if inline:
                self._non_canonical_gpf(addr, site)
            return not self.report_access(addr, size, write, site, op)
        if not self._has_shadow(addr):
            return True  # no shadow mapped: the access itself faults (or not) as without KASAN
        if not self._poisoned(addr, size):
            return True
        # kasan_check_range returns !kasan_report(): a report that was not printed
        # (single-shot, already reported) lets the operation go ahead
        return not self.report_access(addr, size, write, site, op)

    def check_byte(self, addr: int, caller: str, func: str) -> bool:
        """__kasan_check_byte: a one-byte read check whose report names *func*."""
        if addr < self.mem_with_metadata or not self._has_shadow(addr) or not self._poisoned(addr, 1):
            return True
        return not self.report_access(addr, 1, False, caller, "check_byte", frames=(func,), banner=func)

    def _non_canonical_gpf(self, addr: int, site: str) -> None:
        """An inline check of an address below the shadow's reach reads a non-canonical
        shadow address: the #GP Oops (arch/x86/kernel/traps.c) with
        kasan_non_canonical_hook's line (mm/kasan/report.c)."""
        shadow = ((addr >> 3) + KASAN_SHADOW_OFFSET) & self.arch.ulong_max
        orig = addr & ~_GRANULE_MASK
        if orig < PAGE_SIZE:
            bug = "null-ptr-deref"
        elif orig < self.arch.task_size:
            bug = "probably user-memory-access"
        elif KASAN_SHADOW_START <= shadow < KASAN_SHADOW_END:
            bug = "probably wild-memory-access"
        else:
            bug = "maybe wild-memory-access"
        fmt = self.arch.fmt_ptr       # %016lx / %px: the pointer width
        lines = [f"Oops: general protection fault, probably for non-canonical address 0x{fmt(shadow)}: "
                 "0000 [#1] SMP KASAN NOPTI",
                 f"KASAN: {bug} in range [0x{fmt(orig)}-0x{fmt(orig + KASAN_GRANULE_SIZE - 1)}]",
                 self.ctx.dump_stack_header(),
                 f"RIP: 0010:{site}"]
        self.log.printk("\n".join(lines), "bug")  # oops_end: the task dies (context.py)

    # ================================================================ slab hooks
    def poison_slab(self, slab: Slab) -> None:
        """kasan_poison_slab: the whole slab is KASAN_SLAB_REDZONE until objects are allocated."""
        npages = 1 << slab.order
        arr = bytearray(b"\xfc" * (_PAGES_PER_SHADOW_ROW * npages))
        view = memoryview(arr)
        for i in range(npages):
            self.shadow[slab.pfn + i] = view[i * _PAGES_PER_SHADOW_ROW:(i + 1) * _PAGES_PER_SHADOW_ROW]

    def release_slab(self, slab: Slab) -> None:
        """The slab's pages go back to the buddy allocator (free_pages_prepare poisons them
        KASAN_PAGE_FREE: derived from now on); the objects' tracks go with them."""
        for i in range(1 << slab.order):
            self.shadow.pop(slab.pfn + i, None)
        at, ft = self.alloc_track, self.free_track
        if at or ft:
            size = slab.cache.size
            for obj in range(slab.first, slab.first + slab.objects * size, size):
                at.pop(obj, None)
                ft.pop(obj, None)

    def _alloc_pattern(self, size: int, object_size: int) -> bytes:
        """The shadow of an object of *object_size* allocated with *size* usable bytes:
        0 per full granule, the partial granule, KASAN_SLAB_REDZONE up to round_up(object_size)."""
        full, part = divmod(size, KASAN_GRANULE_SIZE)
        n = (object_size + _GRANULE_MASK) >> 3
        pat = bytes(full) + (bytes((part,)) if part else b"")
        return pat + bytes((KASAN_SLAB_REDZONE,)) * (n - len(pat))

    def _set_shadow(self, addr: int, pat: bytes) -> None:
        """Write shadow bytes *pat* from the granule of *addr* on (a slab's pages are contiguous)."""
        off = addr - self.page_offset
        sh = self.shadow.get(off >> PAGE_SHIFT)
        g0 = (off & (PAGE_SIZE - 1)) >> 3
        if sh is not None and g0 + len(pat) <= _PAGES_PER_SHADOW_ROW:
            sh[g0:g0 + len(pat)] = pat  # the object's granules are in one page
            return
        pos = 0
        while pos < len(pat):
            sh = self.shadow.get(off >> PAGE_SHIFT)
            g0 = (off & (PAGE_SIZE - 1)) >> 3
            n = min(len(pat) - pos, _PAGES_PER_SHADOW_ROW - g0)
            if sh is not None:
                sh[g0:g0 + n] = pat[pos:pos + n]
            pos += n
            off += n * KASAN_GRANULE_SIZE

    def slab_alloc(self, s: KmemCache, obj: int, req: int, gfp: int, caller: str, is_kmalloc: bool) -> None:
        """kasan_slab_alloc (unpoison the object) and, for kmalloc, kasan_kmalloc
        (poison_kmalloc_redzone: KASAN_SLAB_REDZONE from round_up(size) to the object
        size, the partial granule); the alloc track is saved."""
        if gfp & _GFP_DIRECT_RECLAIM and self.quarantine_size > self.quarantine_max_size:
            self.quarantine_reduce()  # __kasan_slab_alloc: gfpflags_allow_blocking
        size = req if is_kmalloc else s.object_size
        key = (size, s.object_size)
        pat = self._alloc_pats.get(key)
        if pat is None:
            pat = self._alloc_pats[key] = self._alloc_pattern(size, s.object_size)
        self._set_shadow(obj, pat)
        if s.geo.kasan_alloc_meta_offset:
            skey = (caller, is_kmalloc)
            sid = self._alloc_sids.get(skey)
            if sid is None:
                sid = self._alloc_sids[skey] = self._stack((
                    "kasan_save_stack", "kasan_save_track", "__kasan_kmalloc" if is_kmalloc else "__kasan_slab_alloc",
                    "__kmalloc_cache_noprof" if is_kmalloc else "kmem_cache_alloc_noprof", caller))
            self.alloc_track[obj] = (self.ctx.current.pid, sid)
        if self.free_track:
            self.free_track.pop(obj, None)

    def _free_info(self, s: KmemCache) -> tuple[bytes, bool]:
        """The shadow of a freed object of *s* (poison_slab_object: KASAN_SLAB_FREE over
        round_up(object_size); kasan_save_free_info puts KASAN_SLAB_FREE_META on the first
        granule when the cache has free meta) and whether it has free meta (and so goes to
        the quarantine)."""
        has_free_meta = s.geo.kasan_free_meta_offset != KASAN_NO_FREE_META
        n = (s.object_size + _GRANULE_MASK) >> 3
        first = KASAN_SLAB_FREE_META if has_free_meta else KASAN_SLAB_FREE
        return bytes((first,)) + bytes((KASAN_SLAB_FREE,)) * (n - 1), has_free_meta

    def slab_free(self, s: KmemCache, slab: Slab, addr: int, caller: str, api: str) -> bool:
        """slab_free_hook under KASAN: True when KASAN keeps the object (quarantined, or a
        bad free that was reported and is not done)."""
        off = addr - slab.first
        size = s.size
        if off < 0 or off % size or off >= slab.objects * size:
            # check_slab_allocation: nearest_obj(cache, slab, object) != object
            self.report_free(addr, "invalid-free", caller, api)
            return True
        poff = addr - self.page_offset
        sh = self.shadow.get(poff >> PAGE_SHIFT)
        g0 = (poff & (PAGE_SIZE - 1)) >> 3
        if (sh[g0] if sh is not None else self.shadow_byte(addr)) >= 0x80:
            # !kasan_byte_accessible(object): freed before (or never allocated)
            self.report_free(addr, "double-free", caller, api)
            return True
        if s.flags & SLAB_TYPESAFE_BY_RCU:
            return False  # __kasan_slab_free: still_accessible, no poisoning, no quarantine
        info = self._free_pats.get(s)
        if info is None:
            info = self._free_pats[s] = self._free_info(s)
        pat, has_free_meta = info
        if sh is not None and g0 + len(pat) <= _PAGES_PER_SHADOW_ROW:
            sh[g0:g0 + len(pat)] = pat
        else:
            self._set_shadow(addr, pat)
        if not has_free_meta:
            return False  # no free meta: no quarantine (kasan_quarantine_put returns false)
        skey = (caller, api)
        sid = self._free_sids.get(skey)
        if sid is None:
            sid = self._free_sids[skey] = self._stack(("kasan_save_stack", "kasan_save_track", "kasan_save_free_info",
                                                       "__kasan_slab_free", api, caller))
        self.free_track[addr] = (self.ctx.current.pid, sid)
        # kasan_quarantine_put
        q = self.cpu_quarantine[self.ctx.cpu]
        q.objs.append((s, addr))
        q.bytes += size
        self._quarantined.add(addr)
        if q.bytes > QUARANTINE_PERCPU_SIZE:
            self._quarantine_move(q)
        return True

    def kmalloc_large(self, ptr: int, size: int, order: int, gfp: int, caller: str) -> None:
        """__kasan_kmalloc_large: the pages are accessible up to *size*, KASAN_PAGE_REDZONE
        after it (poison_kmalloc_large_redzone)."""
        if gfp & _GFP_DIRECT_RECLAIM:
            self.quarantine_reduce()
        pfn = (ptr - self.page_offset) >> PAGE_SHIFT
        rz = (size + _GRANULE_MASK) & ~_GRANULE_MASK
        end = PAGE_SIZE << order
        # pages wholly inside the requested size keep the derived (allocated) shadow; the
        # others get bytes: the page with the end of the object and the redzone pages
        for i in range(rz >> PAGE_SHIFT if rz < end else end >> PAGE_SHIFT, 1 << order):
            self.shadow[pfn + i] = bytearray(b"\xfe" * _PAGES_PER_SHADOW_ROW)
        if size & _GRANULE_MASK or rz & (PAGE_SIZE - 1):
            self._unpoison(ptr + ((size >> PAGE_SHIFT) << PAGE_SHIFT), size & (PAGE_SIZE - 1))

    def kfree_large(self, addr: int, head: int, order: int, caller: str) -> bool:
        """__kasan_kfree_large -> check_page_allocation: a pointer that is not the start of
        the pages is an invalid free (reported, not freed); otherwise the shadow bytes go
        (the pages become free: KASAN_PAGE_FREE, derived)."""
        if addr != head:
            self.report_free(addr, "invalid-free", caller, "kfree", large=True)
            return True
        pfn = (head - self.page_offset) >> PAGE_SHIFT
        for i in range(1 << order):
            self.shadow.pop(pfn + i, None)
        return False

    def krealloc(self, addr: int, new_size: int, s: KmemCache | None, ks: int) -> None:
        """kasan_krealloc in place: unpoison new_size, poison the rest of the object
        (KASAN_SLAB_REDZONE) or of the large kmalloc's pages (KASAN_PAGE_REDZONE)."""
        if s is not None:
            self._unpoison(addr, new_size)
            rz = (new_size + _GRANULE_MASK) & ~_GRANULE_MASK
            end = (s.object_size + _GRANULE_MASK) & ~_GRANULE_MASK
            if end > rz:
                self._poison(addr + rz, end - rz, KASAN_SLAB_REDZONE)
            return
        order = (ks >> PAGE_SHIFT).bit_length() - 1
        pfn = (addr - self.page_offset) >> PAGE_SHIFT
        for i in range(1 << order):
            self.shadow.pop(pfn + i, None)
        self.kmalloc_large(addr, new_size, order, 0, "")

    def is_quarantined(self, addr: int) -> bool:
        return addr in self._quarantined

    # ================================================================ quarantine
    def quarantine_put(self, s: KmemCache, obj: int) -> None:
        """kasan_quarantine_put (slab_free does the same inline)."""
        q = self.cpu_quarantine[self.ctx.cpu]
        q.objs.append((s, obj))
        q.bytes += s.size
        self._quarantined.add(obj)
        if q.bytes > QUARANTINE_PERCPU_SIZE:
            self._quarantine_move(q)

    def _quarantine_move(self, q: _QList) -> None:
        """A CPU's queue past QUARANTINE_PERCPU_SIZE joins the tail batch of the global FIFO;
        the tail moves on once its batch holds quarantine_batch_size bytes."""
        batch = self.global_quarantine.get(self.quarantine_tail)
        if batch is None:
            batch = self.global_quarantine[self.quarantine_tail] = _QList()
        self.quarantine_size += q.bytes
        batch.objs.extend(q.objs)
        batch.bytes += q.bytes
        q.objs = deque()
        q.bytes = 0
        if batch.bytes >= self.quarantine_batch_size:
            new_tail = (self.quarantine_tail + 1) % QUARANTINE_BATCHES
            if new_tail != self.quarantine_head:
                self.quarantine_tail = new_tail

    def quarantine_reduce(self) -> None:
        """kasan_quarantine_reduce: free the oldest batch when the global queue is over its
        maximum (re-computed here from totalram, as the kernel does on every reduce)."""
        if self.quarantine_size <= self.quarantine_max_size:
            return
        total_size = (self.page_alloc.totalram_pages << PAGE_SHIFT) // QUARANTINE_FRACTION
        percpu = QUARANTINE_PERCPU_SIZE * self.nr_cpus
        self.quarantine_max_size = 0 if total_size < percpu else total_size - percpu
        self.quarantine_batch_size = max(QUARANTINE_PERCPU_SIZE, 2 * total_size // QUARANTINE_BATCHES)
        if self.quarantine_size > self.quarantine_max_size:
            batch = self.global_quarantine.pop(self.quarantine_head, None)
            self.quarantine_head = (self.quarantine_head + 1) % QUARANTINE_BATCHES
            if batch is not None:
                self.quarantine_size -= batch.bytes
                self._free_all(batch.objs)

    def _free_all(self, objs: Iterable[tuple[KmemCache, int]]) -> None:
        """qlist_free_all -> qlink_free -> ___cache_free (the tracks are kept for reports
        of use-after-free-before-realloc)."""
        slab = self.slab
        quarantined = self._quarantined
        for s, obj in objs:
            quarantined.discard(obj)
            sl = slab.slab_of(obj)
            if sl is not None:
                slab.cache_free(s, sl, obj, "qlink_free")

    def remove_cache(self, s: KmemCache) -> None:
        """kasan_quarantine_remove_cache: free every quarantined object of *s* now."""
        out: list[tuple[KmemCache, int]] = []
        for q in list(self.cpu_quarantine) + list(self.global_quarantine.values()):
            if not any(c is s for c, _o in q.objs):
                continue
            keep = deque((c, o) for c, o in q.objs if c is not s)
            gone = [(c, o) for c, o in q.objs if c is s]
            q.bytes -= sum(c.size for c, _o in gone)
            if q in self.global_quarantine.values():
                self.quarantine_size -= sum(c.size for c, _o in gone)
            q.objs = keep
            out += gone
        self._free_all(out)

    # ================================================================ reports
    def _report_enabled(self) -> bool:
        """report.c: report_enabled (one report per boot unless kasan_multi_shot)."""
        if self.multi_shot:
            return True
        if self.reported:
            return False
        self.reported = True
        return True

    def _object_of(self, addr: int) -> tuple[KmemCache, Slab, int] | None:
        """kasan_addr_to_slab + nearest_obj."""
        sl = self.slab.slab_of(addr) if self.page_offset <= addr < self.arch.direct_map_end else None
        if sl is None:
            return None
        s = sl.cache
        idx = max(0, addr - sl.first) // s.size
        idx = min(idx, sl.objects - 1)
        return s, sl, sl.first + idx * s.size

    def _alloc_size(self, s: KmemCache, obj: int) -> int:
        """report_generic.c: kasan_get_alloc_size (0 for a freed object -> object_size)."""
        size = 0
        while size < s.object_size:
            v = self.shadow_byte(obj + size)
            if v == 0:
                size += KASAN_GRANULE_SIZE
            elif 1 <= v <= _GRANULE_MASK:
                return size + v
            else:
                return size or s.object_size
        return s.object_size

    def _bug_type(self, addr: int, size: int, first_bad: int) -> str:
        """report_generic.c: get_bug_type / get_shadow_bug_type / get_wild_bug_type."""
        if addr + size - 1 > self.arch.ulong_max:
            return "out-of-bounds"
        if addr < self.mem_with_metadata:
            if addr < PAGE_SIZE:
                return "null-ptr-deref"
            if addr < self.arch.task_size:
                return "user-memory-access"
            return "wild-memory-access"
        v = self.shadow_byte(first_bad)
        if 0 < v <= _GRANULE_MASK:
            v = self.shadow_byte(first_bad + KASAN_GRANULE_SIZE)
        if v <= _GRANULE_MASK:
            return "out-of-bounds"
        return {KASAN_PAGE_REDZONE: "slab-out-of-bounds", KASAN_SLAB_REDZONE: "slab-out-of-bounds",
                KASAN_PAGE_FREE: "use-after-free", KASAN_SLAB_FREE: "slab-use-after-free",
                KASAN_SLAB_FREE_META: "slab-use-after-free",
                KASAN_VMALLOC_INVALID: "vmalloc-out-of-bounds"}.get(v, "unknown-crash")

    def report_access(self, addr: int, size: int, write: bool, site: str, op: str,
                      frames: tuple[str, ...] = (), banner: str | None = None) -> bool:
        """kasan_report: one access report; False if report_enabled() said no."""
        if not self._report_enabled():
            return False
        if op == "inline":
            via: tuple[str, ...] = (f"__asan_report_{'store' if write else 'load'}{size}_noabort",)
        elif op == "check_byte":
            via = ("__kasan_check_byte",) + frames
        else:
            via = ("kasan_check_range", f"__asan_{op}")
        first_bad = self.find_first_bad_addr(addr, size) if addr + size - 1 <= self.arch.ulong_max else addr
        bug = self._bug_type(addr, size, first_bad)
        task = self.ctx.current
        lines = [f"BUG: KASAN: {bug} in {banner or site}",
                 f"{'Write' if write else 'Read'} of size {size} at addr {self.arch.fmt_ptr(addr)} by task {task.comm}/{task.pid}",
                 ""]
        self._finish(lines, addr, first_bad, bug, ("kasan_report",) + via + (site,))
        return True

    def report_free(self, addr: int, bug: str, caller: str, api: str, large: bool = False) -> None:
        """kasan_report_invalid_free: invalid-free / double-free."""
        if not self._report_enabled():
            return
        task = self.ctx.current
        lines = [f"BUG: KASAN: {bug} in {caller}",
                 f"Free of addr {self.arch.fmt_ptr(addr)} by task {task.comm}/{task.pid}",
                 ""]
        via = (("kasan_report_invalid_free", "__kasan_kfree_large", "free_large_kmalloc") if large
               else ("kasan_report_invalid_free", "check_slab_allocation", "__kasan_slab_pre_free"))
        self._finish(lines, addr, addr, bug, via + (api, caller))

    def _finish(self, lines: list[str], addr: int, first_bad: int, bug: str, frames: tuple[str, ...]) -> None:
        """print_report's body and end_report."""
        ctx = self.ctx
        if addr < self.mem_with_metadata:
            lines += ctx.dump_stack(("dump_stack_lvl",) + frames)
        else:
            lines += ctx.dump_stack(("dump_stack_lvl", "print_address_description.constprop.0",
                                     "print_report") + frames)
            lines.append("")
            lines += self._address_description(addr, bug)
            lines += self._memory_metadata(first_bad)
        text = "\n".join(["=" * 66] + lines + ["=" * 66])
        self.reports += 1
        self.log.printk(text, "bug")
        # end_report: panic_on_warn (not with multi-shot), then TAINT_BAD_PAGE
        if ctx.panic_on_warn and not self.multi_shot:
            ctx.panic_on_warn = 0
            ctx.panic("KASAN: panic_on_warn set ...")
        ctx.add_taint("B")

    def _track_lines(self, track: tuple[int, int], prefix: str) -> list[str]:
        """report.c: print_track + stack_depot_print."""
        pid, sid = track
        return [f"{prefix} by task {pid}:", *(f" {f}" for f in self._stacks[sid]), ""]

    def _address_description(self, addr: int, bug: str) -> list[str]:
        """report.c: print_address_description after dump_stack."""
        lines: list[str] = []
        found = self._object_of(addr)
        pfn: int | None = None
        if found is not None:
            s, sl, obj = found
            at = self.alloc_track.get(obj)
            if at is not None:
                lines += self._track_lines(at, "Allocated")
            ft = self.free_track.get(obj)  # dropped when the object is allocated again
            if ft is not None:
                lines += self._track_lines(ft, "Freed")
            alloc_size = self._alloc_size(s, obj)
            if addr < obj:
                rel, nbytes = "to the left", obj - addr
            elif addr >= obj + alloc_size:
                rel, nbytes = "to the right", addr - (obj + alloc_size)
            else:
                rel, nbytes = "inside", addr - obj
            state = "allocated " if bug == "slab-out-of-bounds" else "freed " if bug == "slab-use-after-free" else ""
            fmt = self.arch.fmt_ptr
            lines += [f"The buggy address belongs to the object at {fmt(obj)}",
                      f" which belongs to the cache {s.name} of size {s.object_size}",
                      f"The buggy address is located {nbytes} bytes {rel} of",
                      f" {state}{alloc_size}-byte region [{fmt(obj)}, {fmt(obj + alloc_size)})", ""]
            pfn = sl.pfn
        elif self.page_offset <= addr < self.arch.direct_map_end:
            pfn = (addr - self.page_offset) >> PAGE_SHIFT
        elif self.arch.is_vmalloc_addr(addr) and self.vmalloc is not None:
            vm = self.vmalloc.area_containing(addr)
            if vm is not None:
                # vmalloc_dump_obj (mm/vmalloc.c)
                lines.append(f"The buggy address belongs to a {vm.nr_pages}-page vmalloc region starting at "
                             f"{vm.addr:#x} allocated at {vm.caller or 'vmalloc'}")
            else:
                lines.append("The buggy address belongs to a vmalloc virtual mapping")
            pfn = self.vmalloc.vmalloc_to_pfn(addr)
        if pfn is not None and self.page_alloc.page_state(pfn)[0] != "absent":
            lines.append("The buggy address belongs to the physical page:")
            lines += self.page_alloc.dump_page_lines(pfn)
            lines += ["page dumped because: kasan: bad access detected", ""]
        return lines

    def _memory_metadata(self, addr: int) -> list[str]:
        """report.c: print_memory_metadata (5 rows of 16 shadow bytes around *addr*)."""
        row = (addr & ~(META_MEM_BYTES_PER_ROW - 1)) - META_ROWS_AROUND_ADDR * META_MEM_BYTES_PER_ROW
        lines = ["Memory state around the buggy address:"]
        for i in range(-META_ROWS_AROUND_ADDR, META_ROWS_AROUND_ADDR + 1):
            row &= self.arch.ulong_max
            meta = " ".join(f"{self.shadow_byte(row + k * KASAN_GRANULE_SIZE):02x}"
                            for k in range(META_BYTES_PER_ROW))
            lines.append(f"{'>' if i == 0 else ' '}{self.arch.fmt_ptr(row)}: {meta}")
            if row <= addr < row + META_MEM_BYTES_PER_ROW:
                # meta_pointer_offset: 3 + (BITS_PER_LONG / 8) * 2 + (addr - row) / 8 * 3 + 1, "%*c"
                offset = 3 + self.arch.ptr_digits + (addr - row) // KASAN_GRANULE_SIZE * 3 + 1
                lines.append(" " * (offset - 1) + "^")
            row += META_MEM_BYTES_PER_ROW
        return lines


class UncheckedAccessHint:
    """Without KASAN nothing reports a bad access (faithful).  This notices the first
    access a script makes past a live slab object's requested size, into a free slab
    object or into a free page, so that the end of the run can say once that
    ``kasan=true`` would have reported it (the REPL's result line already says "free").
    It only reads the allocators' state; after the first find it is not consulted again."""

    def __init__(self, *, arch: Arch, page_alloc: PageStates, slab: SlabAllocator) -> None:
        self.page_offset = arch.page_offset
        self.direct_map_end = arch.direct_map_end
        self.page_alloc = page_alloc
        self.slab = slab
        self.slab_by_pfn = slab.slab_by_pfn

    def check(self, addr: int, n: int, write: bool, site: str) -> str | None:
        """A description of the access if generic KASAN would report it, else None."""
        po = self.page_offset
        if not po <= addr < self.direct_map_end:
            return None
        sl = self.slab_by_pfn.get((addr - po) >> PAGE_SHIFT)
        if sl is not None:
            s = sl.cache
            off = addr - sl.first
            i = off // s.size
            if off >= 0 and i < sl.objects:
                rid = sl.owners[i]
                if rid:
                    req = self.slab.live.records[rid][1]
                    within = off - i * s.size
                    if within + n <= req:
                        return None  # the common case: inside a live object
                    what = f"{max(0, within - req)} bytes past a {req}-byte {s.name} object"
                else:
                    what = f"inside a free {s.name} object"
            else:
                what = f"outside every {s.name} object"
        elif self.page_alloc.page_state((addr - po) >> PAGE_SHIFT)[0] in _FREE_KINDS:
            what = "in a free page"
        else:
            return None
        return f"{site or 'a script access'}: {'wrote' if write else 'read'} {n} byte{'s' if n != 1 else ''} at {addr:#x}, {what}"


def kasan_thread_size(arch: Arch) -> int:
    """THREAD_SIZE of a KASAN kernel: PAGE_SIZE << (THREAD_SIZE_ORDER + KASAN_STACK_ORDER)."""
    return int(arch.thread_size) << KASAN_STACK_ORDER


def check_supported(arch: Arch) -> None:
    """HAVE_ARCH_KASAN: x86_64 only (arch/x86/Kconfig selects it with X86_64)."""
    if arch.name != "x86_64":
        raise KernelFault(f"kasan=true: KASAN needs HAVE_ARCH_KASAN, which {arch.name} does not have")


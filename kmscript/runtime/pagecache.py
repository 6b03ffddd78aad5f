"""Page cache, the node's LRU lists and the reverse map shared by tasks and files.

What it models
--------------
- ``PfnMap``: a sparse per-pfn array (sections of 32768 pfns, created on first touch), the
  compact per-page state behind everything below.  No Python object exists per page.
- ``Rmap``: for every user page (anonymous or page cache) the owner and the index of the
  page in it (``owner_id << 32 | index``), so reclaim, compaction and the OOM killer can go
  from a pfn back to the task pte slot or file slot that maps it (the kernel's rmap /
  ``folio->mapping`` + ``folio->index``).
- ``LruVec``: the node's four evictable LRU lists (include/linux/mmzone.h: enum lru_list,
  LRU_INACTIVE_ANON=0, LRU_ACTIVE_ANON=1, LRU_INACTIVE_FILE=2, LRU_ACTIVE_FILE=3) as
  deques of pfns.  The right end is the list head (newest, ``list_add``), the left end the
  tail reclaim isolates from.  ``lru_state`` records the list a page is on (0 = none,
  ``lru + 1`` otherwise).  Taking a page off a list (munmap/exit/truncate, migration, a
  move to another list) leaves its entry in the deque, stale, and counts it in that
  list's ``stale`` map (an entry of the page at the tail is dropped instead: an exit
  takes a task's pages off in the order they were faulted); the page may come back to the same list before the entry is met
  (freed and allocated again), so its state alone cannot tell the entries apart.  A
  page's entries in one deque are in the order they were added and only its newest can
  be live, so isolation from the tail skips as many of a page's entries as it has stale
  ones, and compaction keeps the newest entry of each page on the list.
  Counters are exact at all times (vmstat ``nr_inactive_anon`` ...); the deques are
  compacted when stale entries outnumber live ones, so memory stays proportional to the
  pages in use.
- ``File``/``PageCache``: files by name (one inode per name; ``open`` twice gives the same
  cache), each with a sparse index -> pfn map of cached pages (the xarray ``i_pages``:
  host memory follows the pages cached, not the file offsets used) and a dirty bit per
  page (PG_dirty, kept in a ``PfnMap``).  ``read`` adds clean pages, ``write`` dirty ones, both on the
  inactive file list first; an access to a page already cached activates it
  (mm/swap.c: folio_mark_accessed: the second access promotes inactive -> active).
  ``sync`` cleans every dirty page (writeback is instantaneous), ``drop_caches`` frees the
  clean, unmapped page cache pages (fs/drop_caches.c, ``echo 1``) and prints the kernel's
  ``drop_caches: 1`` line.

Allocation flags (include/linux/pagemap.h, mm/readahead.c, mm/filemap.c): a read allocates
with ``readahead_gfp_mask`` = mapping gfp (GFP_HIGHUSER_MOVABLE) | __GFP_NORETRY |
__GFP_NOWARN and, when that fails, once more with the plain mapping gfp, as filemap_read
falls back from readahead to filemap_create_folio; a write allocates with the mapping gfp
| __GFP_WRITE (FGP_WRITEBEGIN).  Folio allocation adds __GFP_COMP to both.
New anonymous and file pages start on the inactive list (since 5.9 for anon:
lru_cache_add_inactive_or_unevictable / folio_add_lru).

Simplifications relative to the kernel
--------------------------------------
- One node, one lruvec (no memcg), no unevictable/mlocked list, no MGLRU.
- Writeback completes instantly; there is no PG_writeback window and no flusher threads.
- A file read/write moves a sequential file position (``seek`` sets it); files have no
  on-disk contents.  The filesystem is ext4-like: ``s_maxbytes`` is FS_MAXBYTES
  (runtime/limits.py, 16 TiB - 4 KiB), so a page index fits in 32 bits.  As in the
  kernel, one read or write moves at most MAX_RW_COUNT bytes (fs/read_write.c), a read at
  or beyond s_maxbytes returns 0 (mm/filemap.c: filemap_read), a write there returns
  -EFBIG and a write crossing it is shortened (mm/filemap.c: generic_write_check_limits),
  and seeking beyond it returns -EINVAL (fs/read_write.c: vfs_setpos).  Every page read,
  written or mapped is charged PAGE_WORK steps to the machine's work meter.
  Readahead window sizes are not modelled: pages are read one at a time as needed.
- Address spaces map page-cache pages (address_spaces.py); a file's ``maps`` lists each mapping
  mm (``FileMapping``, the i_mmap).  Reclaim unmaps a mapped page from every mapper before
  it frees it (try_to_unmap); a mapped page whose pte is young gets one more round on the
  active list first.  drop_caches leaves mapped pages alone.  A shmem file (the backing of
  a shared anonymous mapping) is a page-cache file with ``shmem`` set, counted in Shmem.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from itertools import islice
from typing import Any, Callable, Protocol

from .buddy import SECTION_MASK, SECTION_SHIFT
from .context import ExecContext
from .errors import KernelFault
from .events import Clock, EventQueue
from .gfp import __GFP_COMP, __GFP_NORETRY, __GFP_NOWARN, __GFP_WRITE
from .mm_types import PAGE_SHIFT, PAGE_SIZE, PageAllocator
from .printk import KernelLog
from .vmstat import VmStat
from .limits import EFBIG, EINVAL, FS_MAXBYTES, MAX_RW_COUNT, PAGE_WORK, WorkMeter

# include/linux/mmzone.h: enum lru_list
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
NR_LRU_LISTS = 4
LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file")
# include/linux/pagevec.h: PAGEVEC_SIZE, the folios one struct folio_batch holds (31 in
# 6.18, so that the batch with its header fills 256 bytes)
PAGEVEC_SIZE = 31

_SECTION_SHIFT = SECTION_SHIFT
_SECTION_MASK = SECTION_MASK
_SECTION_PAGES = SECTION_MASK + 1


class PfnMap:
    """A sparse per-pfn integer array; untouched pfns read as *default*."""

    __slots__ = ("typecode", "default", "sections")

    def __init__(self, typecode: str, default: int) -> None:
        self.typecode = typecode
        self.default = default
        self.sections: dict[int, array[int]] = {}

    def get(self, pfn: int) -> int:
        sec = self.sections.get(pfn >> _SECTION_SHIFT)
        if sec is None:
            return self.default
        return sec[pfn & _SECTION_MASK]

    def section(self, pfn: int) -> "array[int]":
        """The section array holding *pfn* (created on first use)."""
        key = pfn >> _SECTION_SHIFT
        sec = self.sections.get(key)
        if sec is None:
            sec = array(self.typecode, [self.default]) * (1 << _SECTION_SHIFT)
            self.sections[key] = sec
        return sec

    def set(self, pfn: int, value: int) -> None:
        key = pfn >> _SECTION_SHIFT
        sec = self.sections.get(key)
        if sec is None:
            sec = array(self.typecode, [self.default]) * (1 << _SECTION_SHIFT)
            self.sections[key] = sec
        sec[pfn & _SECTION_MASK] = value


class Rmap:
    """pfn -> (owner, index in the owner) for every anonymous and page-cache page.

    The per-pfn value packs ``owner_id << INDEX_BITS | index``: the index is a file page
    index or, for an anonymous page, its virtual page number (up to 45 bits with 5-level
    paging).  Owner ids are reused once unregistered (lowest first), so at most
    2^(63 - INDEX_BITS) owners live at once."""

    NONE = -1
    INDEX_BITS = 45
    MAX_OWNERS = 1 << (63 - INDEX_BITS)

    def __init__(self) -> None:
        self.map = PfnMap("q", -1)
        self.owners: dict[int, Any] = {}
        self._next_id = 1
        self._free_ids: list[int] = []

    def register(self, owner: Any) -> int:
        if self._free_ids:
            oid = heapq.heappop(self._free_ids)
        else:
            oid = self._next_id
            if oid >= self.MAX_OWNERS:
                raise KernelFault(f"rmap: more than {self.MAX_OWNERS - 1} files and anon_vmas at once")
            self._next_id += 1
        self.owners[oid] = owner
        return oid

    def unregister(self, oid: int) -> None:
        if self.owners.pop(oid, None) is not None:
            heapq.heappush(self._free_ids, oid)

    def set(self, pfn: int, oid: int, index: int) -> None:
        self.map.set(pfn, (oid << self.INDEX_BITS) | index)

    def set_run(self, pfn: int, nr: int, oid: int, index: int) -> None:
        """set() on nr consecutive pfns of one section, with consecutive indices."""
        sec = self.map.section(pfn)
        off = pfn & _SECTION_MASK
        first = (oid << self.INDEX_BITS) | index
        sec[off:off + nr] = array(sec.typecode, range(first, first + nr))

    def clear(self, pfn: int) -> None:
        self.map.set(pfn, -1)

    def lookup(self, pfn: int) -> tuple[Any, int] | None:
        v = self.map.get(pfn)
        if v < 0:
            return None
        owner = self.owners.get(v >> self.INDEX_BITS)
        if owner is None:
            return None
        return owner, v & ((1 << self.INDEX_BITS) - 1)


class LruVec:
    """The node's LRU lists; see the module docstring for the deque/state protocol.

    Besides the node counters (vmstat ``nr_inactive_anon`` ...) it keeps the per-zone
    counts the kernel keeps as NR_ZONE_INACTIVE_ANON ... (``zone_nr[zone_idx][lru]``), used
    by zone_reclaimable_pages and the OOM report; ``zone_of(pfn)`` is set at boot.
    """

    COUNTER_NAMES = ("nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file")

    def __init__(self, vmstat: Any, zone_of: Callable[[int], int] | None = None, nr_zones: int = 5,
                 range_zone: Callable[[int, int], int] | None = None) -> None:
        self.vmstat = vmstat
        self.lists: list[deque[int]] = [deque() for _ in range(NR_LRU_LISTS)]
        self.nr: list[int] = [0] * NR_LRU_LISTS
        self.zone_nr: list[list[int]] = [[0] * NR_LRU_LISTS for _ in range(nr_zones)]
        self.zone_of: Callable[[int], int] = zone_of or (lambda pfn: 0)
        # the zone of a whole pfn range, -1 if it crosses a zone boundary
        self.range_zone: Callable[[int, int], int] = range_zone or (lambda first, end: 0)
        # range_zone of each section met so far (the zone spans are fixed at boot)
        self._section_zone: dict[int, int] = {}
        self.state = PfnMap("b", 0)  # 0 = not on an LRU, else lru + 1
        # per list: how many stale entries of each page its deque holds (module docstring)
        self.stale = [PfnMap("B", 0) for _ in range(NR_LRU_LISTS)]
        # pte young bit of anonymous pages (set by the fault, cleared when reclaim meets it)
        self.young = PfnMap("b", 0)

    def _count(self, pfn: int, lru: int, delta: int) -> None:
        self.nr[lru] += delta
        key = pfn >> _SECTION_SHIFT
        z = self._section_zone.get(key)
        if z is None:
            first = key << _SECTION_SHIFT
            z = self._section_zone[key] = self.range_zone(first, first + _SECTION_MASK + 1)
        self.zone_nr[z if z >= 0 else self.zone_of(pfn)][lru] += delta
        vm = self.vmstat
        if lru == LRU_INACTIVE_FILE:
            vm.nr_inactive_file += delta
        elif lru == LRU_ACTIVE_FILE:
            vm.nr_active_file += delta
        elif lru == LRU_INACTIVE_ANON:
            vm.nr_inactive_anon += delta
        else:
            vm.nr_active_anon += delta

    def _mark_stale(self, pfn: int, lru: int) -> None:
        """The page's newest entry in lists[lru] is stale from now on; called after its
        state changed (and after a move added its new entry), so a compaction here, at a
        page's 255th stale entry in one list, drops that entry too."""
        sec = self.stale[lru].section(pfn)
        off = pfn & _SECTION_MASK
        c = sec[off]
        if c == 0xFF:
            self._compact(lru)
        else:
            sec[off] = c + 1

    def add(self, pfn: int, lru: int) -> None:
        """lruvec_add_folio: put the page at the head of *lru*."""
        self.state.set(pfn, lru + 1)
        self.lists[lru].append(pfn)
        self._count(pfn, lru, 1)

    def add_run(self, pfn: int, nr: int, lru: int) -> None:
        """add() on nr consecutive pfns of one section, in ascending order."""
        sec = self.state.section(pfn)
        off = pfn & _SECTION_MASK
        sec[off:off + nr] = array(sec.typecode, (lru + 1,)) * nr
        self.lists[lru].extend(range(pfn, pfn + nr))
        self._count(pfn, lru, 1)   # (caches the section's zone)
        if self._section_zone[pfn >> _SECTION_SHIFT] >= 0:
            self._count(pfn, lru, nr - 1)   # the section is in one zone
        else:
            for p in range(pfn + 1, pfn + nr):
                self._count(p, lru, 1)

    def lru_of(self, pfn: int) -> int:
        """The list the page is on, or -1."""
        return self.state.get(pfn) - 1

    def remove(self, pfn: int) -> int:
        """Take the page off its list (lazy: the deque entry becomes stale). Returns the lru."""
        lru = self.state.get(pfn) - 1
        if lru >= 0:
            self.state.set(pfn, 0)
            self._count(pfn, lru, -1)
            dq = self.lists[lru]
            if dq[0] == pfn:
                # an entry of the page is the tail: drop it instead of leaving one stale
                # (all of the page's entries are stale now, and the counts say how many
                # of them are left)
                dq.popleft()
            else:
                self._mark_stale(pfn, lru)
                self._maybe_compact(lru)
        return lru

    def remove_many(self, pfns: list[int]) -> None:
        """remove() on each page in turn (the pages off no list are skipped), as
        folios_put_refs takes a batch of freed folios off their lists
        (lruvec_del_folio).  Node and zone counts change page by page and the deques are
        compacted at the same page as one remove() at a time would (only removals happen
        meanwhile, so the deque length is fixed between compactions); the vmstat counters
        are updated once at the end (nothing reads them in between)."""
        st_secs = self.state.sections
        nr = self.nr
        lists = self.lists
        zone_nr = self.zone_nr
        zone_of = self.zone_of
        range_zone = self.range_zone
        stale = self.stale
        gone = [0] * NR_LRU_LISTS
        cur_key = -1
        sec: array[int] | None = None
        # this section's stale-count arrays, per list (_mark_stale, inlined)
        ssecs: list[array[int] | None] = [None] * NR_LRU_LISTS
        z = -1
        total = len(pfns)
        i = 0
        while i < total:
            pfn = pfns[i]
            i += 1
            key = pfn >> _SECTION_SHIFT
            if key != cur_key:
                cur_key = key
                sec = st_secs.get(key)
                first = key << _SECTION_SHIFT
                z = range_zone(first, first + _SECTION_MASK + 1)
                ssecs = [None] * NR_LRU_LISTS
            if sec is None:
                continue
            off = pfn & _SECTION_MASK
            lru = sec[off] - 1
            if lru < 0:
                continue
            dq = lists[lru]
            # consecutive pfns of one section, one zone and one list whose entries are the
            # list's tail in the same order (an exit's pages, in the order they were
            # faulted): each page's step below is the tail's popleft, so all at once
            if z >= 0 and dq[0] == pfn and i < total and pfns[i] == pfn + 1:
                k = min(total - i + 1, _SECTION_PAGES - off)
                while k > 8:
                    if pfns[i + k - 2] == pfn + k - 1:
                        run = range(pfn, pfn + k)
                        if (pfns[i - 1:i - 1 + k] == list(run)
                                and sec[off:off + k] == array(sec.typecode, (lru + 1,)) * k
                                and list(islice(dq, k)) == list(run)):
                            break
                    k >>= 1
                if k > 8:
                    sec[off:off + k] = array(sec.typecode, (0,)) * k
                    nr[lru] -= k
                    zone_nr[z][lru] -= k
                    gone[lru] += k
                    for _ in range(k):
                        dq.popleft()
                    i += k - 1
                    continue
            sec[off] = 0
            n = nr[lru] - 1
            nr[lru] = n
            zone_nr[z if z >= 0 else zone_of(pfn)][lru] -= 1
            gone[lru] += 1
            if dq[0] == pfn:
                dq.popleft()   # an entry of the page is the tail (remove())
                continue
            ss = ssecs[lru]
            if ss is None:
                ss = ssecs[lru] = stale[lru].section(pfn)
            c = ss[off]
            dqlen = len(dq)
            if c == 0xFF or (dqlen > 4096 and dqlen > 2 * n):
                self._compact(lru)   # (drops this page's entry too)
                ssecs[lru] = None    # the compaction reset the stale counts
            else:
                ss[off] = c + 1
        vm = self.vmstat
        vm.nr_inactive_anon -= gone[LRU_INACTIVE_ANON]
        vm.nr_active_anon -= gone[LRU_ACTIVE_ANON]
        vm.nr_inactive_file -= gone[LRU_INACTIVE_FILE]
        vm.nr_active_file -= gone[LRU_ACTIVE_FILE]

    def move(self, pfn: int, lru: int) -> None:
        """Move a page to the head of another (or the same) list."""
        old = self.state.get(pfn) - 1
        if old >= 0:
            self._count(pfn, old, -1)
        self.add(pfn, lru)
        if old >= 0:
            self._mark_stale(pfn, old)

    def pop_tail(self, lru: int) -> int | None:
        """Isolate the page at the tail of *lru* (isolate_lru_folios); None if empty."""
        dq = self.lists[lru]
        want = lru + 1
        secs = self.state.sections   # state.get/set, inlined (an untouched pfn reads 0)
        stale_secs = self.stale[lru].sections
        while dq:
            pfn = dq.popleft()
            key = pfn >> _SECTION_SHIFT
            off = pfn & _SECTION_MASK
            ss = stale_secs.get(key)
            if ss is not None and ss[off]:
                ss[off] -= 1   # an entry older than the page's newest
                continue
            sec = secs.get(key)
            if sec is not None and sec[off] == want:
                sec[off] = 0
                self._count(pfn, lru, -1)
                return pfn
        return None

    def putback_tail(self, pfns: list[int], lru: int) -> None:
        """Return isolated pages to the tail in their original order."""
        dq = self.lists[lru]
        for pfn in reversed(pfns):
            self.state.set(pfn, lru + 1)
            dq.appendleft(pfn)
            self._count(pfn, lru, 1)

    def _maybe_compact(self, lru: int) -> None:
        dq = self.lists[lru]
        if len(dq) > 4096 and len(dq) > 2 * self.nr[lru]:
            self._compact(lru)

    def _compact(self, lru: int) -> None:
        """Drop the stale entries of lists[lru]: keep the newest entry of each page on the list."""
        dq = self.lists[lru]
        want = lru + 1
        secs = self.state.sections
        # Walk from the head so that a pfn re-added after being freed keeps its newest
        # position (dict.fromkeys keeps the first of duplicates), then restore
        # tail-to-head order.  (state.get inlined: an untouched section's pages are on
        # no list.)
        live = [pfn for pfn in reversed(dq)
                if (sec := secs.get(pfn >> _SECTION_SHIFT)) is not None and sec[pfn & _SECTION_MASK] == want]
        keep = list(dict.fromkeys(live))
        keep.reverse()
        # in place: callers may hold a reference to the deque across allocations
        dq.clear()
        dq.extend(keep)
        self.stale[lru].sections.clear()


class FileMapping(Protocol):
    """One address space's mappings of a file (its place in the file's i_mmap): whether a
    page index is mapped there, and unmapping it (try_to_unmap).  pgtable.py's FileRmap implements it."""

    def mapped(self, idx: int) -> bool: ...

    def unmap(self, idx: int) -> None: ...


class File:
    """An inode's page cache.  A script handle (``file log = open("app.log")``)."""

    KMS_TYPE = "file"
    KMS_ATTRS = frozenset({"name", "cached", "dirty", "pos", "size"})

    def __init__(self, cache: "PageCache", name: str) -> None:
        self._cache = cache
        self.name = name
        self.oid = cache.rmap.register(self)
        self.pages: dict[int, int] = {}  # i_pages: file page index -> pfn of the cached page
        self.nr_cached = 0
        self.nr_dirty = 0
        self.pos = 0  # byte offset of the next read/write
        self.size = 0  # i_size: the highest byte written or read
        self.maps: list[FileMapping] = []  # the address spaces mapping the file (i_mmap)
        self.shmem: bool = False  # a shmem file (the backing of a shared anonymous mapping)

    @property
    def cached(self) -> int:
        """Bytes of this file in the page cache."""
        return self.nr_cached * PAGE_SIZE

    @property
    def dirty(self) -> int:
        return self.nr_dirty * PAGE_SIZE

    def read(self, size: int) -> int:
        return self._cache.file_rw(self, size, write=False)

    def write(self, size: int) -> int:
        return self._cache.file_rw(self, size, write=True)

    def seek(self, pos: int) -> int:
        """lseek(fd, pos, SEEK_SET): the new position, or -EINVAL beyond s_maxbytes."""
        if pos < 0 or pos > FS_MAXBYTES:
            return -EINVAL  # fs/read_write.c: vfs_setpos
        self.pos = pos
        return pos

    def __str__(self) -> str:
        return (f"file {self.name}: {self.nr_cached} pages cached ({self.nr_cached * 4} kB), "
                f"{self.nr_dirty} dirty, pos {self.pos}")


# Simulated time (printk timestamps) one page of read/write costs (copy + page-cache insert;
# the disk is not modelled).
RW_PAGE_NS = 1000

# GFP bits used here (a __GFP_ name in a class body is name-mangled)
_GFP_NORETRY = __GFP_NORETRY
_GFP_NOWARN = __GFP_NOWARN
_GFP_COMP = __GFP_COMP
_GFP_WRITE = __GFP_WRITE


class AllocSite:
    """A shared note of what the runtime is allocating for ("fault", "read", "write"):
    the OOM report's stack dump reads it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = ""


class PageCache:
    """All files of the machine and the page-cache side of reclaim."""

    def __init__(self, *, page_alloc: PageAllocator, vmstat: VmStat, clock: Clock, ctx: ExecContext,
                 log: KernelLog, events: EventQueue, lru: LruVec, rmap: Rmap, alloc_site: AllocSite,
                 meter: WorkMeter, mapping_gfp: int, owner_file: int) -> None:
        self.page_alloc = page_alloc
        self.meter = meter
        self.vmstat = vmstat
        self.clock = clock
        self.ctx = ctx
        self.log = log
        self.events = events
        self.lru = lru
        self.rmap = rmap
        self.mapping_gfp = mapping_gfp
        self.owner_file = owner_file
        self.dirty = PfnMap("b", 0)
        self.files: dict[str, File] = {}
        self.sysctl_drop_caches = 0
        # free evicted pages in folio_batches as reclaim and invalidation do (False: one
        # page at a time, the path tests/runtime/test_reclaim_free_batch.py compares with)
        self.batched_free = True
        # take the pages of a run of missing file pages from the pcp list at once
        # (alloc_pages_pcp_run; False: one alloc_pages call per page, the path
        # tests/runtime/test_file_rw_runs.py compares with)
        self.alloc_runs = True
        self.drop_caches_stfu = False
        # shared with the task table and the OOM report: what the allocation is for
        self.alloc_site = alloc_site

    def open(self, name: str) -> File:
        f = self.files.get(name)
        if f is None:
            f = File(self, name)
            self.files[name] = f
        return f

    # -- read / write ----------------------------------------------------------------------
    def _alloc(self, write: bool) -> int | None:
        # filemap_alloc_folio -> folio_alloc adds __GFP_COMP; the write path
        # (__filemap_get_folio with FGP_WRITEBEGIN) adds __GFP_WRITE
        pa = self.page_alloc
        gfp = self.mapping_gfp | _GFP_COMP
        if write:
            return pa.alloc_pages(gfp | _GFP_WRITE, 0, owner=self.owner_file)
        pfn = pa.alloc_pages(gfp | _GFP_NORETRY | _GFP_NOWARN, 0, owner=self.owner_file)
        if pfn is None:
            pfn = pa.alloc_pages(gfp, 0, owner=self.owner_file)
        return pfn

    def file_rw(self, f: File, size: int, write: bool) -> int:
        """Read or write *size* bytes at the file position; returns the bytes done.

        Stops early (short read/write, -ENOMEM in the kernel) when a page cannot be
        allocated even after the allocator's slow path.
        """
        if size <= 0:
            return 0
        size = min(size, MAX_RW_COUNT)  # fs/read_write.c: vfs_read/vfs_write
        if f.pos + size > FS_MAXBYTES:
            if f.pos >= FS_MAXBYTES:
                # filemap_read returns 0 at s_maxbytes; generic_write_check_limits -EFBIG
                return -EFBIG if write else 0
            size = FS_MAXBYTES - f.pos
        first = f.pos >> PAGE_SHIFT
        last = (f.pos + size - 1) >> PAGE_SHIFT
        pages = f.pages
        meter = self.meter
        lru = self.lru
        vm = self.vmstat
        done_to = f.pos
        end_pos = f.pos + size
        # the first allocation _alloc makes for a page
        run_gfp = self.mapping_gfp | _GFP_COMP | (_GFP_WRITE if write else _GFP_NORETRY | _GFP_NOWARN)
        alloc_run = self.page_alloc.alloc_pages_pcp_run if self.alloc_runs else None
        self.alloc_site.value = "write" if write else "read"
        try:
            idx = first
            while idx <= last:
                meter.charge(PAGE_WORK)
                pfn = pages.get(idx, -1)
                if pfn < 0:
                    run: list[int] = []
                    if alloc_run is not None:
                        # the missing pages from here on (within the work meter) take
                        # what their _alloc calls would get while the pcp list serves
                        # them: the allocator sees the same calls as page by page, and
                        # nothing in between reads what they change
                        want = min(last + 1 - idx, 1 + meter.left // PAGE_WORK)
                        j = idx + 1
                        while j < idx + want and j not in pages:
                            j += 1
                        if j - idx > 1:
                            run = alloc_run(run_gfp, j - idx, self.owner_file)
                            if run:   # its pages after the first (want kept the meter >= 0)
                                meter.left -= PAGE_WORK * (len(run) - 1)
                    if not run:
                        new = self._alloc(write)
                        if new is None:
                            break
                        run = [new]
                    k = len(run)
                    p0 = run[0]
                    if (not write and k > 4 and (p0 & _SECTION_MASK) + k <= _SECTION_PAGES
                            and run == list(range(p0, p0 + k))):
                        # a read of consecutive pfns in one section (a pcp refill): the
                        # loop below for each page, with the page-state writes as slices
                        pages.update(zip(range(idx, idx + k), run))
                        self.rmap.set_run(p0, k, f.oid, idx)
                        lru.add_run(p0, k, LRU_INACTIVE_FILE)
                        f.nr_cached += k
                        vm.nr_file_pages += k
                        idx += k
                        done_to = min(end_pos, idx << PAGE_SHIFT)
                        self.clock.ns += RW_PAGE_NS * k
                        continue
                    for pfn in run:
                        pages[idx] = pfn
                        self.rmap.set(pfn, f.oid, idx)
                        lru.add(pfn, LRU_INACTIVE_FILE)
                        f.nr_cached += 1
                        vm.nr_file_pages += 1
                        if write:
                            self.mark_dirty(f, pfn)
                        idx += 1
                        done_to = min(end_pos, idx << PAGE_SHIFT)
                        self.clock.ns += RW_PAGE_NS
                    continue
                # folio_mark_accessed: a second access promotes to the active list
                if lru.lru_of(pfn) == LRU_INACTIVE_FILE:
                    lru.move(pfn, LRU_ACTIVE_FILE)
                if write:
                    self.mark_dirty(f, pfn)
                idx += 1
                done_to = min(end_pos, idx << PAGE_SHIFT)
                self.clock.ns += RW_PAGE_NS
        finally:
            done = done_to - f.pos
            f.pos = done_to
            f.size = max(f.size, f.pos)
            self.alloc_site.value = ""
            # deferred work this operation woke (kswapd) runs now (events.py)
            self.events.run_due()
        return done

    # -- page state changes used by reclaim and compaction -----------------------------------
    def writeback_page(self, f: File, pfn: int) -> None:
        """pageout(): write a dirty page back; it is clean afterwards."""
        if self.dirty.get(pfn):
            self.dirty.set(pfn, 0)
            f.nr_dirty -= 1
            self.vmstat.nr_dirty -= 1

    # -- mappings (filemap_fault, try_to_unmap) ---------------------------------------------
    def page_mapped(self, f: File, idx: int) -> bool:
        return any(m.mapped(idx) for m in f.maps)

    def unmap_page(self, f: File, idx: int) -> None:
        """try_to_unmap: clear every pte mapping page idx of the file."""
        for m in list(f.maps):
            m.unmap(idx)

    def get_page(self, f: File, idx: int) -> int | None:
        """filemap_fault's page lookup: the cached page at idx, read in (as a read does) when
        missing; None when it cannot be allocated."""
        self.meter.charge(PAGE_WORK)
        pfn = f.pages.get(idx, -1)
        if pfn >= 0:
            return pfn
        new = self._alloc(False)
        if new is None:
            return None
        f.pages[idx] = new
        self.rmap.set(new, f.oid, idx)
        self.lru.add(new, LRU_INACTIVE_FILE)
        f.nr_cached += 1
        self.vmstat.nr_file_pages += 1
        if f.shmem:
            self.vmstat.nr_shmem_pages += 1
        # (the time is the fault's: the caller charges it)
        f.size = max(f.size, (idx + 1) * PAGE_SIZE)
        return new

    def mark_dirty(self, f: File, pfn: int) -> None:
        """folio_mark_dirty: a page written (by write() or through a shared mapping)."""
        if not self.dirty.get(pfn):
            self.dirty.set(pfn, 1)
            f.nr_dirty += 1
            self.vmstat.nr_dirty += 1

    def evict_page(self, f: File, idx: int, pfn: int) -> None:
        """__remove_mapping + free: drop a clean page from the cache (already off the LRU),
        unmapping it first from every task that maps it (try_to_unmap), and free it at
        once (the page-by-page path, ``batched_free = False``)."""
        self.remove_mapping(f, idx, pfn)
        self.page_alloc.free_pages(pfn, 0)

    def remove_mapping(self, f: File, idx: int, pfn: int) -> None:
        """try_to_unmap + __remove_mapping (mm/vmscan.c): drop a clean page from the cache
        without freeing it; the caller frees it with the rest of its folio_batch
        (``release_folios``)."""
        if f.maps:
            self.unmap_page(f, idx)
        del f.pages[idx]
        f.nr_cached -= 1
        self.vmstat.nr_file_pages -= 1
        self.rmap.clear(pfn)

    def release_folios(self, pfns: list[int]) -> None:
        """free_unref_folios on a folio_batch of pages that left the cache (in order);
        the allocator ends as after free_pages(pfn, 0) on each in turn (release_pages)."""
        if pfns:
            self.page_alloc.release_pages(pfns)

    def migrate_page(self, f: File, idx: int, old: int, new: int) -> None:
        """Repoint the cache slot at the page's new location (the caller copied it)."""
        f.pages[idx] = new
        self.rmap.clear(old)
        self.rmap.set(new, f.oid, idx)
        if self.dirty.get(old):
            self.dirty.set(old, 0)
            self.dirty.set(new, 1)

    def sync(self) -> int:
        """sync(2): write back every dirty page; returns the number written."""
        n = 0
        for f in self.files.values():
            if not f.nr_dirty:
                continue
            for pfn in f.pages.values():
                if self.dirty.get(pfn):
                    self.dirty.set(pfn, 0)
                    n += 1
            self.vmstat.nr_dirty -= f.nr_dirty
            f.nr_dirty = 0
        return n

    def drop_pagecache(self) -> int:
        """drop_pagecache_sb for every file: free the clean page-cache pages; returns pages freed.

        invalidate_mapping_pages -> mapping_try_invalidate (mm/truncate.c) takes the cached
        folios of one file PAGEVEC_SIZE at a time in index order (find_lock_entries into a
        folio_batch), removes the clean unmapped ones from the cache (mapping_evict_folio
        -> remove_mapping), then drops the batch's references (folio_batch_release ->
        release_pages -> folios_put_refs): the evicted folios, whose last reference that
        was, come off the LRU (lruvec_del_folio) and go to free_unref_folios together.
        With ``batched_free = False`` each page is taken off the LRU and freed at once."""
        n = 0
        batched = self.batched_free
        dirty = self.dirty
        for f in self.files.values():
            items = sorted(f.pages.items())
            for start in range(0, len(items), PAGEVEC_SIZE):
                evicted: list[int] = []
                for idx, pfn in items[start:start + PAGEVEC_SIZE]:
                    if dirty.get(pfn) or (f.maps and self.page_mapped(f, idx)):
                        continue  # (invalidate_mapping_pages leaves dirty and mapped folios alone)
                    if batched:
                        self.remove_mapping(f, idx, pfn)
                        evicted.append(pfn)
                    else:
                        self.lru.remove(pfn)
                        self.evict_page(f, idx, pfn)
                    n += 1
                if evicted:
                    self.lru.remove_many(evicted)
                    self.release_folios(evicted)
        return n

    def drop_caches(self, value: int = 1, shrink_slab: Callable[[], int] | None = None) -> int:
        """``echo VALUE > /proc/sys/vm/drop_caches`` (fs/drop_caches.c): 1 frees clean page
        cache, 2 reclaimable slab, 3 both; 4 silences the message.  Returns pages freed."""
        n = 0
        if value & 1:
            n += self.drop_pagecache()
        if value & 2 and shrink_slab is not None:
            n += shrink_slab()
        if not self.drop_caches_stfu:
            cur = self.ctx.current
            self.log.printk(f"{cur.comm} ({cur.pid}): drop_caches: {value}", "info")
        self.drop_caches_stfu |= bool(value & 4)
        self.sysctl_drop_caches = value
        return n

    def nr_pages(self) -> int:
        return sum(f.nr_cached for f in self.files.values())

"""Memory-model types and constants shared by every allocator: each fact defined once.

What it models: include/asm-generic/page.h, arch/x86/include/asm/page_64_types.h and
include/linux/mmzone.h - the page size, the buddy orders, the pageblock order's cap, the owner
codes kept in the per-page state byte (buddy.py), and the Protocols shared between
layers.  Address-space facts (PAGE_OFFSET, vmemmap, vmalloc range) are per
architecture: arch/ (``Arch.page_address``, ``virt_to_pfn``, ``pfn_to_struct_page``).

Invariants: the owner codes are the high nibble of a page's state byte, so they stay below
16 and above the non-allocated kinds of buddy.py (K_NONE, K_RESERVED, K_PCP).
"""

from __future__ import annotations

from typing import Protocol



PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1
PAGE_ALLOC_COSTLY_ORDER = 3
# CONFIG_PAGE_BLOCK_MAX_ORDER (mm/Kconfig: default 10 where ARCH_FORCE_MAX_ORDER is unset, as
# on x86).  pageblock_order itself depends on the arch's huge page size: ``Arch.pageblock_order``.
PAGE_BLOCK_MAX_ORDER = 10

# Owner codes of allocated blocks.  The values are the high nibble of the per-page state
# byte (buddy.py), so they must stay below 16 and above the non-allocated kinds.
OWNER_KERNEL = 4       # alloc_pages() by kernel code / scripts
OWNER_SLAB = 5         # SLUB slabs (PageSlab)
OWNER_VMALLOC = 6      # pages backing vmalloc areas
OWNER_USER = 7         # anonymous user pages (on the LRU, movable)
OWNER_FILE = 8         # page cache pages (on the LRU, movable)
OWNER_PAGETABLE = 9    # page-table pages
OWNER_KSTACK = 10      # kernel stacks without VMAP_STACK
OWNER_PERCPU = 11      # per-cpu allocator chunks
# include/uapi/asm-generic/mman-common.h, mman.h: mmap, mprotect and mremap flags, and the
# names scripts use for them (the language's constants come from this one table)
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0x0, 0x1, 0x2, 0x4
MAP_SHARED, MAP_PRIVATE = 0x01, 0x02
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x100
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MMAP_NAMES: dict[str, int] = {
    "PROT_NONE": PROT_NONE, "PROT_READ": PROT_READ, "PROT_WRITE": PROT_WRITE, "PROT_EXEC": PROT_EXEC,
    "MAP_SHARED": MAP_SHARED, "MAP_PRIVATE": MAP_PRIVATE, "MAP_FIXED": MAP_FIXED, "MAP_ANONYMOUS": MAP_ANONYMOUS,
    "MAP_GROWSDOWN": MAP_GROWSDOWN, "MAP_NORESERVE": MAP_NORESERVE, "MAP_POPULATE": MAP_POPULATE,
    "MAP_FIXED_NOREPLACE": MAP_FIXED_NOREPLACE, "MREMAP_MAYMOVE": MREMAP_MAYMOVE, "MREMAP_FIXED": MREMAP_FIXED,
}

OWNER_NAMES = {
    OWNER_KERNEL: "kernel", OWNER_SLAB: "slab", OWNER_VMALLOC: "vmalloc", OWNER_USER: "user",
    OWNER_FILE: "file", OWNER_PAGETABLE: "pagetable", OWNER_KSTACK: "kstack", OWNER_PERCPU: "percpu",
}
OWNERS_MOVABLE = frozenset({OWNER_USER, OWNER_FILE})



# ---------------------------------------------------------------------------------------
# Shared Protocols: what a layer needs of a lower one, declared once.
# ---------------------------------------------------------------------------------------
class PageAllocator(Protocol):
    """What the allocators above the buddy allocator use of it (alloc_pages/__free_pages)."""

    def alloc_pages(self, gfp: int, order: int, *, owner: int = ..., caller: str | None = None) -> int | None: ...
    def alloc_pages_bulk(self, gfp: int, nr_pages: int, *, owner: int = ...,
                         caller: str | None = None) -> list[int]: ...
    def alloc_pages_pcp_run(self, gfp: int, nr: int, owner: int) -> list[int]: ...
    def free_pages(self, pfn: int, order: int) -> None: ...
    def release_pages(self, pfns: list[int]) -> None: ...


class PhysMemory(Protocol):
    """Byte-level access to simulated physical memory (physmem.py)."""

    def read(self, paddr: int, n: int) -> bytes: ...
    def write(self, paddr: int, data: bytes | bytearray) -> None: ...
    def fill(self, paddr: int, n: int, byte: int) -> None: ...

"""Physical memory contents: a sparse byte store addressed by physical address.

What it models: the bytes of RAM.  Allocators and scripts read and write memory through
physical addresses (``paddr = pfn * PAGE_SIZE + offset``); the direct-map virtual address
of a byte is ``PAGE_OFFSET + paddr`` (see ``arch.page_address``).

Invariants:
- Only pages that were written hold storage: a ``bytearray`` of PAGE_SIZE per touched
  page frame in ``_pages``.  Every untouched byte reads as 0, so a 1 TiB machine costs
  nothing until a script writes into it.
- Filling a page with zeroes (``__GFP_ZERO``, ``clear_page``) drops its storage instead of
  storing 4096 zero bytes, so zeroing is free and memory stays proportional to the data a
  script really keeps.

Simplification relative to the kernel: freshly allocated pages read as zero unless they
were written before (the kernel returns whatever the previous owner left, which is
exactly what this store does for reused pages; never-touched RAM is zero here).
"""

from __future__ import annotations

from .mm_types import PAGE_SIZE
_PAGE_MASK = PAGE_SIZE - 1


class PhysMem:
    """Sparse physical memory.  ``max_paddr`` bounds every access (end of RAM)."""

    __slots__ = ("max_paddr", "_pages")

    def __init__(self, max_paddr: int) -> None:
        self.max_paddr = max_paddr
        self._pages: dict[int, bytearray] = {}

    def _check(self, paddr: int, n: int) -> None:
        if paddr < 0 or n < 0 or paddr + n > self.max_paddr:
            raise ValueError(f"physical range 0x{paddr:x}+{n} is outside RAM (0..0x{self.max_paddr:x})")

    def read(self, paddr: int, n: int) -> bytes:
        """``n`` bytes at ``paddr``; untouched memory reads as zero."""
        self._check(paddr, n)
        out = bytearray(n)
        pos = 0
        pages = self._pages
        while pos < n:
            pfn, off = divmod(paddr + pos, PAGE_SIZE)
            chunk = min(PAGE_SIZE - off, n - pos)
            page = pages.get(pfn)
            if page is not None:
                out[pos:pos + chunk] = page[off:off + chunk]
            pos += chunk
        return bytes(out)

    def write(self, paddr: int, data: bytes | bytearray) -> None:
        """Store ``data`` at ``paddr`` (may cross page boundaries)."""
        n = len(data)
        self._check(paddr, n)
        pos = 0
        pages = self._pages
        while pos < n:
            pfn, off = divmod(paddr + pos, PAGE_SIZE)
            chunk = min(PAGE_SIZE - off, n - pos)
            page = pages.get(pfn)
            if page is None:
                page = pages[pfn] = bytearray(PAGE_SIZE)
            page[off:off + chunk] = data[pos:pos + chunk]
            pos += chunk

    def fill(self, paddr: int, n: int, byte: int) -> None:
        """memset(): ``n`` bytes at ``paddr`` set to ``byte``."""
        self._check(paddr, n)
        byte &= 0xFF
        pos = 0
        pages = self._pages
        while pos < n:
            pfn, off = divmod(paddr + pos, PAGE_SIZE)
            chunk = min(PAGE_SIZE - off, n - pos)
            if byte == 0 and chunk == PAGE_SIZE:
                pages.pop(pfn, None)  # a zero page needs no storage
            else:
                page = pages.get(pfn)
                if page is None:
                    if byte == 0:
                        pos += chunk
                        continue
                    page = pages[pfn] = bytearray(PAGE_SIZE)
                page[off:off + chunk] = bytes((byte,)) * chunk
            pos += chunk

    def clear_pages(self, pfn: int, nr_pages: int) -> None:
        """clear_page() over ``nr_pages`` frames starting at ``pfn`` (used by __GFP_ZERO)."""
        pages = self._pages
        if not pages:
            return
        if nr_pages <= 64:
            for p in range(pfn, pfn + nr_pages):
                pages.pop(p, None)
        else:
            end = pfn + nr_pages
            for p in [p for p in pages if pfn <= p < end]:
                del pages[p]

    def touched_pages(self) -> int:
        """Number of page frames holding stored bytes (memory cost of the store)."""
        return len(self._pages)

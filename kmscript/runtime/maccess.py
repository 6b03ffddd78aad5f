"""Kernel memory access: reading and writing through kernel virtual addresses.

What it models: the loads and stores kernel code does through a pointer (mm/maccess.c's
copy_from_kernel_nofault family, memset/memcpy), reduced to the three kinds of kernel
address the simulator hands out:

- the direct map (``PAGE_OFFSET + phys``: page-allocator pages, slab objects, kmalloc);
- the vmalloc space, translated page by page through the vmalloc page tables
  (vmalloc_to_page), so an access may not cross a vmalloc page;
- the embedded per-cpu first chunk, memblock memory whose bytes the per-cpu allocator keeps;
- on a highmem kernel (i386) the pkmap and kmap_local addresses kmap() and
  kmap_local_page() hand out while they are mapped (highmem.py).

Anything else faults the way the kernel reports it: an address in the first page is a NULL
pointer dereference (arch/x86/mm/fault.c: show_fault_oops "kernel NULL pointer
dereference"), any other unmapped address "unable to handle page fault".

Without KASAN the first access KASAN would have reported is remembered
(``unchecked_access``) for the end-of-run note; nothing is reported (faithful).
With KASAN (``kasan``, runtime/kasan.py) every access is checked first, at the script line
*site* that makes it: a load or store (inline instrumentation) goes ahead after a report;
memset and memcpy are __asan_memset/__asan_memcpy (mm/kasan/shadow.c), which do nothing
when kasan_check_range fails.  The per-cpu first chunk is memblock memory, never poisoned:
not checked.  zero() is the allocators' own clearing: not instrumented.

Invariant: bulk operations (memset, memcpy, zeroing a range) charge the work meter per page
before any byte moves, so a stopped script leaves nothing half-written.
"""

from __future__ import annotations

from .arch import Arch
from .errors import KernelFault
from .kasan import Kasan, UncheckedAccessHint
from .highmem import Highmem
from .limits import PAGE_WORK, WorkMeter
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .percpu import PerCpu
from .physmem import PhysMem
from .vmalloc import Vmalloc


class KernelMemory:
    """Byte access through kernel virtual addresses.  See the module docstring."""

    def __init__(self, *, arch: Arch, phys: PhysMem, vmalloc: Vmalloc, percpu: PerCpu, meter: WorkMeter,
                 kasan: Kasan | None = None, hint: UncheckedAccessHint | None = None, highmem: Highmem | None = None) -> None:
        self.arch = arch
        self.kasan = kasan
        # without KASAN: the first access KASAN would have reported (UncheckedAccessHint)
        self.hint = hint
        self.unchecked_access: str | None = None
        self.highmem = highmem
        self.phys = phys
        self.vmalloc = vmalloc
        self.percpu = percpu
        self.meter = meter

    def paddr(self, addr: int, n: int) -> int:
        """Physical address of a kernel virtual range, or a KernelFault like the kernel's oops."""
        if addr < PAGE_SIZE:
            raise KernelFault(f"BUG: kernel NULL pointer dereference, address: {addr:0{self.arch.ptr_digits}x}")
        if self.arch.is_direct_map_addr(addr):
            return addr - self.arch.page_offset
        pa = self.vmalloc.translate(addr)
        if pa is None and self.highmem is not None:
            pa = self.highmem.virt_to_phys(addr)   # a kmap or kmap_local address (i386)
        if pa is not None:
            if (addr & (PAGE_SIZE - 1)) + n > PAGE_SIZE:
                raise KernelFault(f"access of {n} bytes at 0x{addr:0{self.arch.ptr_digits}x} crosses a vmalloc page; "
                                  "access it page by page")
            return int(pa)
        raise KernelFault(f"BUG: unable to handle page fault for address: {addr:0{self.arch.ptr_digits}x}")

    def read(self, addr: int, n: int, site: str = "") -> bytes:
        """Bytes at a kernel virtual address (direct map, slab objects, vmalloc, per-cpu)."""
        percpu = self.percpu
        if percpu.in_first_chunk(addr):  # memblock memory (percpu section)
            return bytes(percpu.read(addr, n))
        if self.kasan is not None:
            self.kasan.check_access(addr, n, False, site)
        elif self.hint is not None and self.hint.check(addr, n, False, site) is not None:
            self._note_unchecked(addr, n, False, site)
        return bytes(self.phys.read(self.paddr(addr, n), n))

    def _note_unchecked(self, addr: int, n: int, write: bool, site: str) -> None:
        found = self.hint.check(addr, n, write, site) if self.hint is not None else None
        if found is not None:
            self.unchecked_access = found
            self.hint = None  # once per run

    def write(self, addr: int, data: bytes, site: str = "") -> None:
        percpu = self.percpu
        if percpu.in_first_chunk(addr):  # memblock memory (percpu section)
            percpu.write(addr, data)
            return
        if self.kasan is not None:
            self.kasan.check_access(addr, len(data), True, site)
        elif self.hint is not None and self.hint.check(addr, len(data), True, site) is not None:
            self._note_unchecked(addr, len(data), True, site)
        self.phys.write(self.paddr(addr, len(data)), data)

    def _read(self, addr: int, n: int) -> bytes:
        """An access that is not instrumented (__memcpy's own loads)."""
        percpu = self.percpu
        if percpu.in_first_chunk(addr):
            return bytes(percpu.read(addr, n))
        return bytes(self.phys.read(self.paddr(addr, n), n))

    def _write(self, addr: int, data: bytes) -> None:
        percpu = self.percpu
        if percpu.in_first_chunk(addr):
            percpu.write(addr, data)
            return
        self.phys.write(self.paddr(addr, len(data)), data)

    def fill(self, addr: int, byte: int, n: int, site: str = "") -> None:
        """memset(addr, byte, n): charged per page to the work meter first; a direct-map
        range is filled in place (no n-byte buffer is built on the host)."""
        self.meter.charge(((n + PAGE_SIZE - 1) >> PAGE_SHIFT) * PAGE_WORK)
        if (self.kasan is not None and not self.percpu.in_first_chunk(addr)
                and not self.kasan.check_access(addr, n, True, site, "memset")):
            return
        if self.percpu.in_first_chunk(addr):
            self.percpu.write(addr, bytes((byte & 0xFF,)) * n)
            return
        self.phys.fill(self.paddr(addr, n), n, byte)

    def copy(self, dst: int, src: int, n: int, site: str = "") -> None:
        """memcpy(dst, src, n): charged per page to the work meter before any byte moves."""
        self.meter.charge(((n + PAGE_SIZE - 1) >> PAGE_SHIFT) * PAGE_WORK)
        kasan = self.kasan
        first_chunk = self.percpu.in_first_chunk
        if kasan is not None and not ((first_chunk(src) or kasan.check_access(src, n, False, site, "memcpy"))
                                      and (first_chunk(dst) or kasan.check_access(dst, n, True, site, "memcpy"))):
            return
        self._write(dst, self._read(src, n))

    def zero(self, vaddr: int, n: int) -> None:
        """memset(vaddr, 0, n) page by page (a vmalloc range is not physically contiguous)."""
        phys = self.phys
        end = vaddr + n
        while vaddr < end:
            chunk = min(end - vaddr, PAGE_SIZE - (vaddr & (PAGE_SIZE - 1)))
            phys.fill(self.paddr(vaddr, chunk), chunk, 0)
            vaddr += chunk

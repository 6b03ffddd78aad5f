"""High-memory mappings: kmap, kmap_atomic and kmap_local_page (mm/highmem.c,
include/linux/highmem-internal.h), for a kernel with or without CONFIG_HIGHMEM.

Without CONFIG_HIGHMEM (x86_64): every page is in the direct map.

- ``kmap(page)``: ``might_sleep()`` - it may sleep on a 32-bit kernel waiting for a pkmap
  slot, so calling it in atomic context gets the sleeping-function report here too - then
  ``page_address(page)``; ``kunmap(page)`` does nothing (x86 has no
  ARCH_HAS_FLUSH_ON_KUNMAP).
- ``kmap_atomic(page)``: ``preempt_disable()`` (no PREEMPT_RT), ``pagefault_disable()``,
  ``page_address(page)``; ``kunmap_atomic(addr)``: ``pagefault_enable()``,
  ``preempt_enable()``.
- ``kmap_local_page(page)``: ``page_address(page)`` and nothing else;
  ``kunmap_local(addr)`` does nothing.

With CONFIG_HIGHMEM (i386, the arch's ``has_highmem``): pages at or above max_low_pfn have
no permanent virtual address.

- ``page_address(page)`` of a highmem page is what the page_address_htable holds
  (HASHED_PAGE_VIRTUAL): the pkmap address while kmap() has it mapped, else NULL.
- ``kmap(page)``: might_sleep(); a lowmem page returns its direct-map address; a highmem
  page goes through ``kmap_high``: an existing pkmap entry gains a user, else
  ``map_new_virtual`` scans from the entry after the last one used
  (``get_next_pkmap_nr``: (last + 1) & LAST_PKMAP_MASK), calls ``flush_all_zero_pkmaps``
  (every entry with count 1 - mapped, no users - is unmapped and its page_address
  cleared) each time the scan wraps to entry 0, takes the first entry with count 0, and
  sleeps in TASK_UNINTERRUPTIBLE when LAST_PKMAP entries were checked in vain.
  pkmap_count[nr]: 0 free, 1 mapped without users, n: n - 1 users.  The sleep waits for
  another task's kunmap(); a script is one task, so nobody would ever wake it: that is
  reported as the hang it is (a KernelFault), not simulated.
- ``kunmap(page)``: might_sleep(); ``kunmap_high``: BUG_ON(!page_address(page)), then
  --pkmap_count[nr], BUG() when it reaches 0 (a kunmap without its kmap).
- ``kmap_local_page(page)`` / ``kmap_atomic(page)``: a lowmem page returns its
  direct-map address (``__kmap_local_page_prot``); a highmem page takes the next slot of
  the current task's kmap_ctrl stack (``kmap_local_idx_push``: idx += 1,
  BUG_ON(idx >= KM_MAX_IDX)) at ``__fix_to_virt(FIX_KMAP_BEGIN + idx + KM_MAX_IDX * cpu)``
  under migrate_disable() (kept until the unmap) and a preempt_disable/enable pair.
  kmap_atomic first does preempt_disable() and pagefault_disable(); kunmap_atomic undoes
  them after the unmap.
- ``kunmap_local(addr)`` (``kunmap_local_indexed``): an address outside the kmap_local
  slots (a lowmem page's) is left alone (WARN_ON_ONCE if below PAGE_OFFSET); else
  WARN_ON_ONCE(addr != the top slot's address) - the strict LIFO rule - then the pte *of the
  given address* is cleared and the top index popped (BUG_ON(idx < 0)), as the kernel does
  even after the warning.

Invariants: kmap_atomic/kunmap_atomic pairs leave preempt_count and the task's
pagefault_disabled count as they found them; a pkmap entry's count is 0 exactly when no
page is mapped there; page_address() of a highmem page is non-NULL exactly while a pkmap
entry maps it.
"""

from __future__ import annotations

from .arch import Arch
from .bug_sites import (KMAP_HIGHMEM_MIGHT_SLEEP, KMAP_LOCAL_POP_UNDERFLOW, KMAP_LOCAL_PUSH_OVERFLOW, KMAP_MIGHT_SLEEP,
                        KUNMAP_HIGH_COUNT_ZERO, KUNMAP_HIGH_NOT_MAPPED, KUNMAP_HIGHMEM_MIGHT_SLEEP, KUNMAP_LOCAL_NOT_TOP,
                        KUNMAP_LOCAL_USER_ADDR, Site)
from .context import ExecContext
from .errors import KernelFault
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .printk import KernelLog



class Highmem:
    """kmap/kmap_atomic/kmap_local of the arch's kernel.  See the module docstring."""

    def __init__(self, *, arch: Arch, ctx: ExecContext, log: KernelLog, max_low_pfn: int) -> None:
        self.arch = arch
        self.ctx = ctx
        self.log = log
        self.max_low_pfn = max_low_pfn
        self.highmem = arch.has_highmem
        n = arch.last_pkmap
        self.pkmap_count = [0] * n           # see the module docstring
        self.pkmap_page = [-1] * n           # pfn an entry maps (its pte), -1 when none
        self.page_virtual: dict[int, int] = {}  # page_address_htable: pfn -> pkmap address
        self.last_pkmap_nr = 0
        # current->kmap_ctrl per task: the stack of (fixmap address, pfn) of its kmap_local
        # mappings, innermost last; a slot whose pte a LIFO violation cleared keeps pfn -1
        self.kmap_ctrl: dict[int, list[tuple[int, int]]] = {}
        self._warned: set[Site] = set()

    # -- page_address (mm/highmem.c, HASHED_PAGE_VIRTUAL) -------------------------------------
    def is_highmem_pfn(self, pfn: int) -> bool:
        """PageHighMem(): the page lies above the direct map (max_low_pfn)."""
        return self.highmem and pfn >= self.max_low_pfn

    def page_address(self, pfn: int) -> int:
        """page_address(page): lowmem_page_address, or the kmap address of a highmem page
        (0, NULL, when it is not kmapped)."""
        if not self.is_highmem_pfn(pfn):
            return self.arch.page_address(pfn)
        return self.page_virtual.get(pfn, 0)

    def virt_to_phys(self, addr: int) -> int | None:
        """The physical address behind a pkmap or kmap_local address that is mapped now."""
        if not self.highmem:
            return None
        a = self.arch
        off = addr & (PAGE_SIZE - 1)
        if a.pkmap_base <= addr < a.pkmap_addr(a.last_pkmap):
            pfn = self.pkmap_page[(addr - a.pkmap_base) >> PAGE_SHIFT]
            return None if pfn < 0 else (pfn << PAGE_SHIFT) + off
        base = addr - off
        for stack in self.kmap_ctrl.values():
            for vaddr, pfn in stack:
                if vaddr == base and pfn >= 0:
                    return (pfn << PAGE_SHIFT) + off
        return None

    # -- kmap / kunmap --------------------------------------------------------------------------
    def kmap(self, pfn: int, caller: str | None = None) -> int:
        """kmap(): might_sleep() where the header has it (``caller``: the script line, the
        outermost frame of a report), then page_address() or kmap_high()."""
        site = KMAP_HIGHMEM_MIGHT_SLEEP if self.highmem else KMAP_MIGHT_SLEEP
        self.ctx.might_sleep(site.location, ("kmap", caller) if caller else ("kmap",))
        if not self.is_highmem_pfn(pfn):
            return self.arch.page_address(pfn)
        return self._kmap_high(pfn)

    def _kmap_high(self, pfn: int) -> int:
        vaddr = self.page_virtual.get(pfn) or self._map_new_virtual(pfn)
        nr = (vaddr - self.arch.pkmap_base) >> PAGE_SHIFT
        self.pkmap_count[nr] += 1
        return vaddr

    def _map_new_virtual(self, pfn: int) -> int:
        last_pkmap = self.arch.last_pkmap
        count = last_pkmap
        while True:
            self.last_pkmap_nr = nr = (self.last_pkmap_nr + 1) & (last_pkmap - 1)
            if nr == 0:
                self.flush_all_zero_pkmaps()
                count = last_pkmap
            if not self.pkmap_count[nr]:
                break
            count -= 1
            if count:
                continue
            # every entry is in use: the task sleeps until a kunmap() wakes pkmap_map_wait
            task = self.ctx.current
            raise KernelFault(f"kmap: all {last_pkmap} pkmap entries (LAST_PKMAP) are in use; kmap_high() "
                              f"sleeps in TASK_UNINTERRUPTIBLE until another task's kunmap() frees one, and "
                              f"no other task runs here: {task.comm}/{task.pid} would hang forever "
                              f"(mm/highmem.c: map_new_virtual; khungtaskd reports it after 120 s)")
        vaddr = self.arch.pkmap_addr(nr)
        self.pkmap_count[nr] = 1
        self.pkmap_page[nr] = pfn
        self.page_virtual[pfn] = vaddr    # set_page_address
        return vaddr

    def flush_all_zero_pkmaps(self) -> None:
        """Unmap every entry that is mapped but unused (count 1) and forget its page_address."""
        for nr, c in enumerate(self.pkmap_count):
            if c != 1:
                continue
            self.pkmap_count[nr] = 0
            pfn = self.pkmap_page[nr]
            self.pkmap_page[nr] = -1
            self.page_virtual.pop(pfn, None)

    def kunmap(self, pfn: int, caller: str | None = None) -> None:
        if not self.highmem:
            return  # nothing to undo: the page stays in the direct map
        self.ctx.might_sleep(KUNMAP_HIGHMEM_MIGHT_SLEEP.location, ("kunmap", caller) if caller else ("kunmap",))
        if not self.is_highmem_pfn(pfn):
            return
        vaddr = self.page_virtual.get(pfn)
        if vaddr is None:
            self._bug(KUNMAP_HIGH_NOT_MAPPED)            # BUG_ON(!vaddr)
            return
        nr = (vaddr - self.arch.pkmap_base) >> PAGE_SHIFT
        self.pkmap_count[nr] -= 1
        if self.pkmap_count[nr] == 0:
            self._bug(KUNMAP_HIGH_COUNT_ZERO)            # "A count must never go down to zero"

    # -- kmap_local / kmap_atomic -----------------------------------------------------------------
    def kmap_atomic(self, pfn: int) -> int:
        self.ctx.preempt_disable()
        self.ctx.pagefault_disable()
        return self._kmap_local(pfn)

    def kunmap_atomic(self, addr: int) -> None:
        if self.ctx.pagefault_disabled <= 0:
            raise KernelFault(f"kunmap_atomic({addr:#x}) without a kmap_atomic: the pagefault_disable() "
                              "count would go negative")
        self._kunmap_local_indexed(addr)
        self.ctx.pagefault_enable()
        self.ctx.preempt_enable()

    def kmap_local_page(self, pfn: int) -> int:
        return self._kmap_local(pfn)

    def kunmap_local(self, addr: int) -> None:
        self._kunmap_local_indexed(addr)

    def _stack(self) -> list[tuple[int, int]]:
        pid = self.ctx.current.pid
        st = self.kmap_ctrl.get(pid)
        if st is None:
            st = self.kmap_ctrl[pid] = []
        return st

    def _kmap_local(self, pfn: int) -> int:
        """__kmap_local_page_prot -> __kmap_local_pfn_prot."""
        if not self.is_highmem_pfn(pfn):
            return self.arch.page_address(pfn)
        stack = self._stack()
        idx = len(stack) + 1                  # kmap_local_idx_push: idx += KM_INCR
        if idx >= self.arch.km_max_idx:
            self._bug(KMAP_LOCAL_PUSH_OVERFLOW)          # BUG_ON(idx >= KM_MAX_IDX)
            return 0
        vaddr = self.arch.kmap_local_addr(self.ctx.cpu, idx - 1)
        stack.append((vaddr, pfn))
        return vaddr

    def _kunmap_local_indexed(self, addr: int) -> None:
        if not self.highmem:
            return  # nothing to undo without CONFIG_HIGHMEM
        a = self.arch
        addr &= ~(PAGE_SIZE - 1)
        # __fix_to_virt(FIX_KMAP_END) .. __fix_to_virt(FIX_KMAP_BEGIN): every CPU's slots
        lowest = a.kmap_local_addr(a.nr_cpus_config - 1, a.km_max_idx - 1)
        if addr < lowest or addr > a.fix_kmap_begin_addr:
            if addr < a.page_offset:
                self._warn_once(KUNMAP_LOCAL_USER_ADDR)   # WARN_ON_ONCE(addr < PAGE_OFFSET)
            return
        stack = self._stack()
        top = a.kmap_local_addr(self.ctx.cpu, len(stack) - 1)
        if addr != top:
            self._warn_once(KUNMAP_LOCAL_NOT_TOP)         # WARN_ON_ONCE(addr != __fix_to_virt(...))
        if not stack:
            self._bug(KMAP_LOCAL_POP_UNDERFLOW)          # kmap_local_idx_pop: BUG_ON(idx < 0)
            return
        # pte_clear(&init_mm, addr, kmap_pte): the given address's pte is the one cleared
        for i, (vaddr, pfn) in enumerate(stack):
            if vaddr == addr:
                stack[i] = (vaddr, -1)
        stack.pop()

    # -- reports ----------------------------------------------------------------------------------
    def _warn_once(self, site: Site) -> None:
        if site in self._warned:
            return
        self._warned.add(site)
        self.ctx.warn(site, frames=("kunmap_local",))

    def _bug(self, site: Site) -> None:
        """BUG()/BUG_ON() at ``site``: lib/bug.c's "kernel BUG at FILE:LINE!" and the Oops
        (arch/x86/kernel/dumpstack.c: __die; the record ends the task)."""
        lines = [f"kernel BUG at {site.location}!",
                 f"Oops: invalid opcode: 0000 [#1]{self.arch.oops_flags}",
                 self.ctx.dump_stack_header(),
                 f"{self.arch.ip_line}{site.func}"]
        self.ctx.add_taint("D")
        self.log.printk("\n".join(lines), "bug")

    def pkmap_in_use(self) -> int:
        """Entries holding a mapping (count >= 1)."""
        return sum(1 for c in self.pkmap_count if c)

"""Views of address spaces in the kernel's formats: /proc/PID/maps, smaps, smaps_rollup,
the memory block of /proc/PID/status (fs/proc/task_mmu.c: show_map_vma, show_smap,
__show_smap, show_smaps_rollup, task_mem), a page-table walk (``show pagetable``) and the
virtual address-space layout of the architecture (``show layout``).

Decisions
---------
- maps lines are ``start-end perms offset dev inode`` padded to 72 characters (48 on i386)
  and a space before the name (show_vma_header_prefix's seq_setwidth(25 + 6 * sizeof(void *)
  - 1), then seq_pad); a line without a name ends after the inode and its space, as the
  kernel's does.  Files live on
  one simulated filesystem, device 08:01, whose inodes are numbered from 12 in the order
  files were opened (ext4 hands out inodes above EXT4_GOOD_OLD_FIRST_INO 11).  A shared
  anonymous mapping shows its shmem file as ``/dev/zero (deleted)``.
- smaps accounts every present pte as smaps_pte_entry/smaps_account do: the zero page is
  not a normal page (not counted); a page whose _refcount is 1 is private; otherwise its
  mapcount decides (shared when >= 2) and Pss divides the page by it; swap entries count
  in Swap and SwapPss (divided by the slot's share count).  ``Referenced`` is the page's
  young bit.  THPeligible is 0 (THP in madvise mode and no MADV_HUGEPAGE); no
  ProtectionKey line (a CPU without pku).  VmFlags uses the kernel's mnemonics.
- The layout is built from the Arch: user space [0, TASK_SIZE), the hole up to the kernel
  half, the direct map, vmalloc and vmemmap ranges every Arch has, plus the arch's own
  ``layout_regions`` (modules, fixmap, ...).
"""

from __future__ import annotations

from typing import Any

from .arch import Arch
from .arch.paging import _PAGE_PRESENT, flag_names
from .mm_types import PAGE_SHIFT, PAGE_SIZE
from .address_spaces import AddressSpaces
from .pagecache import File
from .pgtable import MM
from .vma import (VM_ACCOUNT, VM_DONTEXPAND, VM_EXEC, VM_GROWSDOWN, VM_IO, VM_LOCKED, VM_MAYEXEC, VM_MAYREAD,
                  VM_MAYSHARE, VM_MAYWRITE, VM_MIXEDMAP, VM_NORESERVE, VM_PFNMAP, VM_READ, VM_SHARED, VM_SOFTDIRTY,
                  VM_WRITE, AnonVma, Vma)

FS_DEV = (8, 1)          # the simulated filesystem's s_dev (MAJOR:MINOR)
FIRST_INO = 12
PSS_SHIFT = 12

# show_smap_vma_flags: the mnemonics of the flags the model uses, in bit order
_MNEMONICS = ((VM_READ, "rd"), (VM_WRITE, "wr"), (VM_EXEC, "ex"), (VM_SHARED, "sh"), (VM_MAYREAD, "mr"),
              (VM_MAYWRITE, "mw"), (VM_MAYEXEC, "me"), (VM_MAYSHARE, "ms"), (VM_GROWSDOWN, "gd"),
              (VM_PFNMAP, "pf"), (VM_LOCKED, "lo"), (VM_IO, "io"), (VM_DONTEXPAND, "de"), (VM_ACCOUNT, "ac"),
              (VM_NORESERVE, "nr"), (VM_SOFTDIRTY, "sd"), (VM_MIXEDMAP, "mm"))


def _ino(spaces: AddressSpaces, f: File) -> int:
    """The inode number of a file: its position in open order, from FIRST_INO."""
    for i, g in enumerate(spaces.pagecache.files.values()):
        if g is f:
            return FIRST_INO + i
    return 0


def _maps_width(arch: Arch) -> int:
    """show_vma_header_prefix: seq_setwidth(m, 25 + sizeof(void *) * 6 - 1); seq_pad pads the
    header to it, then writes a space and the name (72 columns on x86_64, 48 on i386)."""
    return 25 + 6 * arch.pointer_size - 1


def vma_name(mm: MM, vma: Vma) -> str:
    """get_vma_name: the file's path, [heap] (vma_is_initial_heap), [stack], or nothing."""
    f = vma.vm_file
    if f is not None:
        return "/dev/zero (deleted)" if f.shmem else f.name
    if vma.vm_start <= mm.brk and vma.vm_end >= mm.start_brk and mm.brk > mm.start_brk:
        return "[heap]"
    return vma.name


def map_line(spaces: AddressSpaces, mm: MM, vma: Vma) -> str:
    """show_map_vma."""
    f = vma.vm_file
    dev, ino, pgoff = (0, 0), 0, 0
    if f is not None:
        dev = (0, 1) if f.shmem else FS_DEV
        ino = _ino(spaces, f)
        pgoff = vma.vm_pgoff << PAGE_SHIFT
    fl = vma.vm_flags
    perms = ("r" if fl & VM_READ else "-") + ("w" if fl & VM_WRITE else "-") + \
            ("x" if fl & VM_EXEC else "-") + ("s" if fl & VM_MAYSHARE else "p")
    head = f"{vma.vm_start:08x}-{vma.vm_end:08x} {perms} {pgoff:08x} {dev[0]:02x}:{dev[1]:02x} {ino} "
    name = vma_name(mm, vma)
    if not name:
        return head
    return head.ljust(_maps_width(spaces.arch)) + " " + name


def proc_maps(spaces: AddressSpaces, mm: MM) -> str:
    return "\n".join(map_line(spaces, mm, v) for v in mm.vmas)


class SmapStats:
    """struct mem_size_stats (bytes; the pss fields are << PSS_SHIFT)."""

    __slots__ = ("resident", "shared_clean", "shared_dirty", "private_clean", "private_dirty", "referenced",
                 "anonymous", "swap", "pss", "pss_anon", "pss_file", "pss_shmem", "pss_dirty", "swap_pss")

    def __init__(self) -> None:
        self.resident = self.shared_clean = self.shared_dirty = self.private_clean = self.private_dirty = 0
        self.referenced = self.anonymous = self.swap = 0
        self.pss = self.pss_anon = self.pss_file = self.pss_shmem = self.pss_dirty = self.swap_pss = 0


def _account(spaces: AddressSpaces, mss: SmapStats, pfn: int, dirty: bool) -> None:
    """smaps_account for one present order-0 page."""
    size = PAGE_SIZE
    owner = spaces.rmap.lookup(pfn)
    anon = owner is not None and isinstance(owner[0], AnonVma)
    shmem = owner is not None and isinstance(owner[0], File) and owner[0].shmem
    if anon:
        mss.anonymous += size
    mss.resident += size
    if spaces.lru.young.get(pfn):
        mss.referenced += size
    if not dirty and owner is not None and isinstance(owner[0], File):
        dirty = bool(spaces.pagecache.dirty.get(pfn))
    refcount = spaces.page_refcount(pfn)
    mapcount = spaces.page_mapcount(pfn)
    pss = size << PSS_SHIFT
    if refcount == 1:
        private = True
    else:
        private = mapcount < 2
        if mapcount >= 2:
            pss //= mapcount
    mss.pss += pss
    if anon:
        mss.pss_anon += pss
    elif shmem:
        mss.pss_shmem += pss
    else:
        mss.pss_file += pss
    if dirty:
        mss.pss_dirty += pss
        if private:
            mss.private_dirty += size
        else:
            mss.shared_dirty += size
    elif private:
        mss.private_clean += size
    else:
        mss.shared_clean += size


def gather(spaces: AddressSpaces, mm: MM, vma: Vma, mss: SmapStats) -> None:
    """smap_gather_stats: walk the VMA's ptes."""
    for _addr, pte in spaces.ptes(mm, vma.vm_start, vma.vm_end):
        if pte & _PAGE_PRESENT:
            pfn = spaces.pte_to_pfn(pte)
            if pfn == spaces.zero_pfn:
                continue  # vm_normal_page: the zero page is special
            _account(spaces, mss, pfn, bool(pte & 0x40))
        else:
            mss.swap += PAGE_SIZE
            share = max(1, spaces.swap.swap_map.get(pte >> PAGE_SHIFT, 1))
            mss.swap_pss += (PAGE_SIZE << PSS_SHIFT) // share


def _dec(label: str, nbytes: int, width: int = 8) -> str:
    return f"{label}{nbytes >> 10:>{width}} kB"


def _smap_block(mss: SmapStats, rollup: bool) -> list[str]:
    """__show_smap."""
    lines = [_dec("Rss:            ", mss.resident), _dec("Pss:            ", mss.pss >> PSS_SHIFT),
             _dec("Pss_Dirty:      ", mss.pss_dirty >> PSS_SHIFT)]
    if rollup:
        lines += [_dec("Pss_Anon:       ", mss.pss_anon >> PSS_SHIFT),
                  _dec("Pss_File:       ", mss.pss_file >> PSS_SHIFT),
                  _dec("Pss_Shmem:      ", mss.pss_shmem >> PSS_SHIFT)]
    lines += [_dec("Shared_Clean:   ", mss.shared_clean), _dec("Shared_Dirty:   ", mss.shared_dirty),
              _dec("Private_Clean:  ", mss.private_clean), _dec("Private_Dirty:  ", mss.private_dirty),
              _dec("Referenced:     ", mss.referenced), _dec("Anonymous:      ", mss.anonymous),
              _dec("KSM:            ", 0), _dec("LazyFree:       ", 0), _dec("AnonHugePages:  ", 0),
              _dec("ShmemPmdMapped: ", 0), _dec("FilePmdMapped:  ", 0), _dec("Shared_Hugetlb: ", 0),
              _dec("Private_Hugetlb: ", 0, 7), _dec("Swap:           ", mss.swap),
              _dec("SwapPss:        ", mss.swap_pss >> PSS_SHIFT), _dec("Locked:         ", 0)]
    return lines


def vm_flags_line(vma: Vma) -> str:
    return "VmFlags: " + "".join(f"{m} " for bit, m in _MNEMONICS if vma.vm_flags & bit)


def proc_smaps(spaces: AddressSpaces, mm: MM) -> str:
    """show_smap for every VMA."""
    out: list[str] = []
    for vma in mm.vmas:
        mss = SmapStats()
        gather(spaces, mm, vma, mss)
        out.append(map_line(spaces, mm, vma))
        out += [_dec("Size:           ", vma.vm_end - vma.vm_start), _dec("KernelPageSize: ", PAGE_SIZE),
                _dec("MMUPageSize:    ", PAGE_SIZE)]
        out += _smap_block(mss, False)
        out.append(f"THPeligible:    {0:8d}")
        out.append(vm_flags_line(vma))
    return "\n".join(out)


def proc_smaps_rollup(spaces: AddressSpaces, mm: MM) -> str:
    """show_smaps_rollup."""
    mss = SmapStats()
    vmas = list(mm.vmas)
    for vma in vmas:
        gather(spaces, mm, vma, mss)
    start = vmas[0].vm_start if vmas else 0
    end = vmas[-1].vm_end if vmas else 0
    head = f"{start:08x}-{end:08x} ---p {0:08x} 00:00 0 ".ljust(_maps_width(spaces.arch)) + " [rollup]"
    return "\n".join([head] + _smap_block(mss, True))


def task_mem(mm: MM) -> list[str]:
    """task_mem: the Vm*/Rss* lines of /proc/PID/status."""
    def kb(label: str, pages: int) -> str:
        return f"{label}:\t{pages << (PAGE_SHIFT - 10):8d} kB"
    rss = mm.rss
    return [kb("VmPeak", max(mm.hiwater_vm, mm.total_vm)), kb("VmSize", mm.total_vm), kb("VmLck", 0),
            kb("VmPin", 0), kb("VmHWM", max(mm.hiwater_rss, rss)), kb("VmRSS", rss), kb("RssAnon", mm.anon),
            kb("RssFile", mm.file), kb("RssShmem", mm.shmem), kb("VmData", mm.data_vm), kb("VmStk", mm.stack_vm),
            kb("VmExe", 0), kb("VmLib", mm.exec_vm), f"VmPTE:\t{mm.pgtables_bytes >> 10:8d} kB",
            kb("VmSwap", mm.swapents)]


def proc_pid_status(t: Any, oom_score: int) -> str:
    """/proc/PID/status (fs/proc/array.c: proc_pid_status): the identity lines, task_mem,
    then oom_score and oom_score_adj (their own /proc files, appended here)."""
    mm = t.mm
    state = "R (running)" if t.alive else "X (dead)"
    lines = [f"Name:\t{t.comm}", f"State:\t{state}", f"Tgid:\t{t.tgid}", f"Pid:\t{t.pid}",
             f"PPid:\t{t.ppid}", f"Uid:\t{t.uid}\t{t.uid}\t{t.uid}\t{t.uid}"]
    if mm is not None and t.alive:
        lines += task_mem(mm)
    lines += [f"oom_score:\t{oom_score}", f"oom_score_adj:\t{t.oom_score_adj}"]
    return "\n".join(lines)


def show_pagetable(spaces: AddressSpaces, mm: MM, addr: int, who: str) -> str:
    """The walk of one user address, level by level, with each entry and its flags."""
    paging = spaces.paging
    lines = [f"page table walk of {who} at {addr:#x} ({paging.name} paging)"]
    if not 0 <= addr < mm.task_size:
        lines.append(f"{addr:#x} is not a user address (TASK_SIZE {mm.task_size:#x})")
        return "\n".join(lines)
    vma = mm.vmas.lookup(addr)
    if vma is None:
        lines.append("no VMA maps this address")
    else:
        lines.append("vma " + map_line(spaces, mm, vma).rstrip())
    walk = spaces.walk_levels(mm, addr)
    folded = set(paging.folded)
    names = ["pgd", "p4d", "pud", "pmd", "pte"]
    levels = {name: (i, e, t) for name, i, e, t in walk}
    last = paging.levels[-1].name
    for name in names:
        if name in folded:
            lines.append(f"{name}  (folded into the level above)")
            continue
        if name not in levels:
            if any(lv.name == name for lv in paging.levels):
                lines.append(f"{name}  (no table: the entry above is empty)")
            continue
        i, entry, table = levels[name]
        where = f"table pfn {table:#x}" if table is not None else ""
        head = f"{name}  {where} index {i:>4}  entry {entry:#0{2 + 2 * paging.entry_size}x}"
        if not entry:
            lines.append(head + "  none")
        elif not entry & _PAGE_PRESENT:
            lines.append(head + f"  swap entry (slot {entry >> PAGE_SHIFT})")
        elif name == last:
            pfn = spaces.pte_to_pfn(entry)
            what = "the zero page" if pfn == spaces.zero_pfn else f"page pfn {pfn:#x}"
            lines.append(head + f"  -> {what}  [{flag_names(entry)}]")
        else:
            lines.append(head + f"  -> table pfn {spaces.pte_to_pfn(entry):#x}  [{flag_names(entry)}]")
    pfn = spaces.pte_pfn(mm, addr)
    if pfn >= 0 and pfn != spaces.zero_pfn:
        lines.append(f"page pfn {pfn:#x}: _mapcount {spaces.page_mapcount(pfn) - 1}, "
                     f"_refcount {spaces.page_refcount(pfn)}")
    return "\n".join(lines)


def _size(n: int) -> str:
    """A region size as Documentation/arch/x86/x86_64/mm.rst writes it (128 TB, 0.5 TB, 2 MB)."""
    for shift, unit in ((40, "TB"), (30, "GB"), (20, "MB"), (10, "kB")):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{int(v)} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def show_layout(arch: Arch, spaces: AddressSpaces, mm: Any = None) -> str:
    """The virtual address space of the architecture (Documentation/arch/x86/x86_64/mm.rst
    style): user space, the hole, and the kernel's regions, each with its size."""
    width = arch.ptr_digits
    top = arch.ulong_max
    task_size = spaces.task_size
    regions: list[tuple[int, int, str]] = []
    kernel = [(arch.page_offset, arch.direct_map_end - 1, "direct mapping of all physical memory (page_offset_base)"),
              (arch.vmalloc_start, arch.vmalloc_last, "vmalloc/ioremap space (vmalloc_base)")]
    if arch.mem_map_size:
        # FLATMEM (i386): mem_map is memblock memory inside the direct map, not a region of its own
        kernel.append((arch.vmemmap_start, arch.vmemmap_start + arch.mem_map_size - 1,
                       "  mem_map: the struct page array (FLATMEM, in lowmem)"))
    else:
        kernel.append((arch.vmemmap_start, arch.vmemmap_start + arch.max_physmem_pfn * arch.struct_page_size - 1,
                       "virtual memory map (vmemmap_base)"))
    kernel += list(arch.layout_regions)
    kernel.sort()
    first_kernel = kernel[0][0]
    hole_end = first_kernel - 1
    if arch.pointer_size == 8 and spaces.paging.va_bits < 64:
        # the lower canonical half is user space (TASK_SIZE stops one guard page short)
        canon = 1 << (spaces.paging.va_bits - 1)
        regions.append((0, canon - 1, f"user-space virtual memory, different per mm (TASK_SIZE {task_size:#x})"))
        regions.append((canon, top - canon, "non-canonical hole"))
        if top - canon + 1 < first_kernel:
            regions.append((top - canon + 1, hole_end, "unused hole"))
    else:
        regions.append((0, task_size - 1, "user-space virtual memory, different per mm"))
        if task_size < first_kernel:
            regions.append((task_size, hole_end, "unused hole"))
    regions += kernel
    lines = [f"{arch.name}, {spaces.paging.name} paging: {spaces.paging.va_bits}-bit virtual addresses",
             f"{'start':>{width}}   {'end':>{width}}  {'size':>9}  region"]
    for start, end, what in regions:
        if not what or end < start:
            continue
        lines.append(f"{start:0{width}x} - {end:0{width}x}  {_size(end - start + 1):>9}  {what}")
    base = spaces.mmap_base()
    window = "TASK_SIZE" if spaces.map_window == task_size else "DEFAULT_MAP_WINDOW"
    lines.append(f"mmap_base {base:#x} ({window} - {_size(spaces.map_window - base)} stack gap), heap (brk) "
                 f"from {arch.brk_start:#x}")
    if mm is not None:
        lines.append(f"this task: brk {mm.brk:#x}, {mm.map_count} VMAs, {mm.total_vm} pages mapped")
    return "\n".join(lines)


__all__ = ["proc_maps", "proc_smaps", "proc_smaps_rollup", "show_layout", "show_pagetable", "task_mem"]

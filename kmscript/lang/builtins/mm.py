"""Built-ins for address spaces: the memory system calls a task makes, fork/exec, page
accesses, and the /proc views of its mappings.

``a = mmap(t, 0, 1M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)``;
``touch(t, a, 1M)``; ``mprotect(t, a, 4K, PROT_READ)``; ``munmap(t, a, 1M)``;
``brk(t, t.brk + 64K)``; ``mremap(t, a, 1M, 2M, MREMAP_MAYMOVE)``; ``task c = fork(t)``;
``exec(t)``; ``follow_pfn(t, a)``; ``page_mapcount(pfn)``; views ``show maps T``,
``show smaps T``, ``show smaps_rollup T``, ``show pagetable T ADDR``, ``show layout``.
System calls return what the kernel's return: an address or 0 on success, -errno
(-ENOMEM -12, -EINVAL -22, -EEXIST -17, -EFAULT -14 ...) on failure.
"""

from __future__ import annotations

from typing import Any

from ...runtime.mm_types import MMAP_NAMES
from ..values import NULL
from .registry import BOOL, INT, PTR, SIZE, ArgError, Call, builtin, constant, handle, one_of, opt, view

for _name, _val in MMAP_NAMES.items():
    constant(_name, _val)


def _mm(t: Any) -> Any:
    if not t.alive or t.mm is None:
        raise ArgError(f"task {t.pid} ({t.comm}) is not running")
    return t.mm


def _file(f: Any) -> Any:
    """The file argument: a file handle, or NULL (the PTR conversion gave 0) for none."""
    if isinstance(f, int):
        if f:
            raise ArgError("file must be a file handle (open(...)) or NULL for an anonymous mapping", 5)
        return None
    return f


def _ulong(call: Call, addr: int) -> int:
    """An address argument as the kernel sees it: an unsigned long of the machine's arch."""
    return addr & call.machine.arch.ulong_max


def _syscall(call: Call, t: Any, site: str, fn: Any) -> int:
    """Run fn(mm) as task t (the OOM killer names it), then the deferred work it woke."""
    return int(call.machine.tasks.run_as(t, site, fn))


@builtin("mmap", t=handle("task"), addr=INT, length=SIZE, prot=INT, flags=INT, file=opt(one_of(handle("file"), PTR), 0, "NULL"),
         offset=opt(SIZE, 0), category="mm",
         doc="mmap(t, addr, length, prot, flags, file=NULL, offset=0): map memory into task t (mm/mmap.c: "
             "do_mmap); returns the address or -errno.  MAP_ANONYMOUS without a file; MAP_FIXED, "
             "MAP_FIXED_NOREPLACE (-EEXIST over a mapping), MAP_POPULATE faults every page in")
def _mmap(call: Call, t: Any, addr: int, length: int, prot: int, flags: int, file: Any, offset: int) -> int:
    f = _file(file)
    addr = _ulong(call, addr)
    spaces = call.machine.tasks.spaces
    return _syscall(call, t, "fault", lambda mm: spaces.do_mmap(mm, addr, length, prot, flags, f, offset))


@builtin("munmap", t=handle("task"), addr=INT, length=SIZE, category="mm",
         doc="munmap(t, addr, length): unmap a range (VMAs split at its edges); 0 or -EINVAL")
def _munmap(call: Call, t: Any, addr: int, length: int) -> int:
    addr = _ulong(call, addr)
    spaces = call.machine.tasks.spaces
    return _syscall(call, t, "", lambda mm: spaces.do_munmap(mm, addr, length))


@builtin("mprotect", t=handle("task"), addr=INT, length=SIZE, prot=INT, category="mm",
         doc="mprotect(t, addr, length, prot): change the protection of a range (VMAs split and merged "
             "as mm/mprotect.c does); 0, -ENOMEM over a hole, -EINVAL for a bad address or prot")
def _mprotect(call: Call, t: Any, addr: int, length: int, prot: int) -> int:
    addr = _ulong(call, addr)
    spaces = call.machine.tasks.spaces
    return _syscall(call, t, "", lambda mm: spaces.do_mprotect(mm, addr, length, prot))


@builtin("brk", t=handle("task"), addr=INT, category="mm",
         doc="brk(t, addr): move the task's program break; returns the new break, or the old one when "
             "the heap cannot move there (the system call's own convention)")
def _brk(call: Call, t: Any, addr: int) -> int:
    addr = _ulong(call, addr)
    spaces = call.machine.tasks.spaces
    return _syscall(call, t, "", lambda mm: spaces.do_brk(mm, addr))


@builtin("mremap", t=handle("task"), addr=INT, old_length=SIZE, new_length=SIZE, flags=opt(INT, 0),
         new_addr=opt(INT, 0), category="mm",
         doc="mremap(t, addr, old_length, new_length, flags=0, new_addr=0): shrink, grow in place or "
             "(MREMAP_MAYMOVE) move a mapping with its pages; the address or -errno (-ENOMEM when it "
             "cannot grow in place and may not move, -EFAULT outside a mapping)")
def _mremap(call: Call, t: Any, addr: int, old_length: int, new_length: int, flags: int, new_addr: int) -> int:
    addr, new_addr = _ulong(call, addr), _ulong(call, new_addr)
    spaces = call.machine.tasks.spaces
    return _syscall(call, t, "fault",
                    lambda mm: spaces.do_mremap(mm, addr, old_length, new_length, flags, new_addr))


@builtin("touch", t=handle("task"), addr=INT, length=opt(SIZE, 4096, "4K"), write=opt(BOOL, True, "true"),
         category="mm",
         doc="touch(t, addr, length=4K, write=true): the task reads or writes every page of the range: "
             "page faults as the kernel handles them (zero page on read, new page on write, "
             "copy-on-write, swap-in); returns the pages touched, or -EFAULT (-14) when an access is "
             "outside a mapping or against its protection: the task dies of SIGSEGV")
def _touch(call: Call, t: Any, addr: int, length: int, write: bool) -> int:
    _mm(t)
    return int(call.machine.tasks.touch(t, _ulong(call, addr), length, write))


@builtin("fork", t=handle("task"), category="mm",
         doc="fork(t): a child of t with a copy of its address space; private pages are shared "
             "copy-on-write (NULL when fork fails)")
def _fork(call: Call, t: Any) -> Any:
    _mm(t)
    child = call.machine.tasks.fork(t)
    return NULL if child is None else child


@builtin("exec", t=handle("task"), category="mm",
         doc="exec(t): the task execs: its address space is torn down and replaced by an empty one; "
             "returns true, or false when the new one cannot be allocated")
def _exec(call: Call, t: Any) -> bool:
    _mm(t)
    return bool(call.machine.tasks.exec(t))


@builtin("follow_pfn", t=handle("task"), addr=INT, category="mm",
         doc="follow_pfn(t, addr): the page frame the task's page tables map at addr, or -1")
def _follow_pfn(call: Call, t: Any, addr: int) -> int:
    return int(call.machine.tasks.spaces.pte_pfn(_mm(t), _ulong(call, addr)))


@builtin("page_mapcount", pfn=INT, category="mm",
         doc="page_mapcount(pfn): how many page-table entries map the page (_mapcount + 1)")
def _page_mapcount(call: Call, pfn: int) -> int:
    return int(call.machine.tasks.spaces.page_mapcount(pfn))


@builtin("page_refcount", pfn=INT, category="mm",
         doc="page_refcount(pfn): the page's _refcount as the mappings and the page cache hold it")
def _page_refcount(call: Call, pfn: int) -> int:
    return int(call.machine.tasks.spaces.page_refcount(pfn))


@view("maps", t=handle("task"), category="mm", doc="show maps T: /proc/PID/maps of task T")
def _show_maps(call: Call, t: Any) -> str:
    _mm(t)
    return str(call.machine.tasks.proc_maps(t))


@view("smaps", t=handle("task"), category="mm", doc="show smaps T: /proc/PID/smaps of task T")
def _show_smaps(call: Call, t: Any) -> str:
    _mm(t)
    return str(call.machine.tasks.proc_smaps(t))


@view("smaps_rollup", t=handle("task"), category="mm",
      doc="show smaps_rollup T: /proc/PID/smaps_rollup of task T (the sums over every VMA)")
def _show_rollup(call: Call, t: Any) -> str:
    _mm(t)
    return str(call.machine.tasks.proc_smaps_rollup(t))


@view("pagetable", t=handle("task"), addr=INT, category="mm",
      doc="show pagetable T ADDR: the page-table walk of a user address, level by level (PGD ... PTE), "
          "each entry with its flags, and the page it maps")
def _show_pagetable(call: Call, t: Any, addr: int) -> str:
    _mm(t)
    return str(call.machine.tasks.show_pagetable(t, _ulong(call, addr)))


@view("layout", category="mm",
      doc="show layout: the virtual address space of the machine's architecture: user space, the "
          "hole, and the kernel's regions (direct map, vmalloc, vmemmap, modules, fixmap ...)")
def _show_layout(call: Call) -> str:
    return str(call.machine.tasks.show_layout())

"""The kernel's size limits, and the work meter that bounds what one script may cost.

Size limits, each the kernel's own constant.  The architecture's two - MAX_PHYSMEM_BITS
(arch/x86/include/asm/sparsemem.h: 46 with 4-level paging; RAM ends below 64 TiB, and
e820__end_of_ram_pfn never goes beyond MAX_ARCH_PFN) and TASK_SIZE (TASK_SIZE_MAX =
2^47 - PAGE_SIZE, arch/x86/include/asm/page_64_types.h; a mapping that does not fit fails
with -ENOMEM, mm/mmap.c: __get_unmapped_area) - live in the ``Arch`` (runtime/arch/) and
are read from the machine's; the filesystem and syscall limits here do not depend on it:

- ``FS_MAXBYTES``: the simulated filesystem's ``s_maxbytes``.  Files are modelled on ext4
  with 4 KiB blocks and extents: fs/ext4/super.c: ext4_max_size gives
  (2^32 - 1) blocks, i.e. 16 TiB - 4 KiB.  A file page index therefore always fits in
  32 bits.  ``MAX_LFS_FILESIZE`` (include/linux/fs.h, LLONG_MAX on 64-bit) bounds it too;
  on a 32-bit kernel it is (loff_t)ULONG_MAX << PAGE_SHIFT, the same 16 TiB - 4 KiB, so
  s_maxbytes is one figure on every architecture.
- ``MAX_RW_COUNT`` = INT_MAX & PAGE_MASK (include/linux/fs.h): the most one read(2) or
  write(2) transfers (fs/read_write.c: vfs_read/vfs_write clamp ``count`` to it).

The work meter
--------------
Loops and calls of a script cost steps; so does the work a single runtime call does for
the script (a page faulted, read, written, mapped, populated or scanned costs
``PAGE_WORK`` steps).  The interpreter and the runtime draw from one :class:`WorkMeter`,
so ``--max-steps`` bounds both, and the meter also checks a CPU-time limit every
``CHUNK`` steps (the command line also arms a profiling timer that calls
:meth:`WorkMeter.expire`, so one expensive step after another cannot outrun it).  The runtime only charges between two pages, where every allocator
invariant holds, so a script stopped by the meter leaves a consistent machine behind.

The REPL's Ctrl-C uses the same safe points: :meth:`WorkMeter.interrupt` (from a signal
handler) makes the next charge raise KeyboardInterrupt there, between two pages or loop
iterations, never inside an allocator's bookkeeping.

Invariant: ``left`` is the part of the budget handed out in the current chunk; ``reserve``
the rest; ``used() == limit - reserve - left`` (never negative).
"""

from __future__ import annotations

import time
from typing import Callable

from .errors import WorkLimitExceeded

from .mm_types import PAGE_SHIFT, PAGE_SIZE

MAX_LFS_FILESIZE = (1 << 63) - 1
FS_MAXBYTES = min(((1 << 32) - 1) << PAGE_SHIFT, MAX_LFS_FILESIZE)

INT_MAX = (1 << 31) - 1
MAX_RW_COUNT = INT_MAX & ~(PAGE_SIZE - 1)

# errno values (include/uapi/asm-generic/errno-base.h) returned as negative numbers, as
# the system calls return them
ENOENT = 2
ENOMEM = 12
EFBIG = 27
EINVAL = 22
EOVERFLOW = 75  # include/uapi/asm-generic/errno.h
EACCES = 13
EFAULT = 14
EEXIST = 17
ERANGE = 34
MAX_ERRNO = 4095  # include/linux/err.h

# Steps one page of runtime work costs: about what 32 script loop iterations cost the host.
PAGE_WORK = 32


class WorkMeter:
    """One budget of steps shared by the interpreter and the runtime; see the module docstring."""

    CHUNK = 1 << 12

    __slots__ = ("limit", "reserve", "left", "max_time", "deadline", "stop_requested", "time_up", "tick")

    def __init__(self, limit: int, max_time: float | None = None) -> None:
        self.limit = limit
        self.max_time = max_time
        self.deadline: float | None = None
        self.stop_requested = False
        self.time_up = False
        # called at each refill (every CHUNK steps): a front end's progress line
        self.tick: Callable[[], None] | None = None
        self.reserve = limit
        self.left = 0
        self.reset()

    def reset(self) -> None:
        """A fresh budget (a new script, a new REPL entry); the CPU-time clock starts now."""
        self.reserve = self.limit
        self.left = 0
        self.stop_requested = False
        self.time_up = False
        self.deadline = None if self.max_time is None else time.process_time() + self.max_time
        self._refill()

    def used(self) -> int:
        return self.limit - self.reserve - self.left

    def _refill(self) -> None:
        if self.time_up or (self.deadline is not None and time.process_time() > self.deadline):
            self.reserve = 0
            self.left = min(self.left, 0)
            raise WorkLimitExceeded(f"time limit exceeded: the script used more than {self.max_time:g} s "
                                    "of CPU time (raise it with --max-time)")
        take = min(self.CHUNK, self.reserve)
        self.reserve -= take
        self.left += take
        if self.tick is not None:
            self.tick()

    def expire(self) -> None:
        """The CPU time is up (a profiling timer says so, from a signal handler): the next
        charge stops the script, without waiting for the end of the current chunk."""
        self.time_up = True
        self.reserve += max(self.left, 0)
        self.left = -1

    def interrupt(self) -> None:
        """Ask the script to stop at the next charge (safe to call from a signal handler or
        another thread; calling it again makes up for a store it raced with)."""
        self.stop_requested = True
        self.reserve += max(self.left, 0)
        self.left = -1

    def exhausted(self) -> None:
        """``left`` went negative: refill from the reserve (checking the time) or stop."""
        if self.stop_requested:
            self.stop_requested = False
            self.left = max(self.left, 0)
            raise KeyboardInterrupt
        if self.time_up:
            self._refill()  # raises the time limit error
        while self.left < 0 and self.reserve > 0:
            self._refill()
        if self.left < 0:
            self.left = -1
            raise WorkLimitExceeded(f"step budget exhausted: the script ran more than {self.limit} loop "
                                    "iterations, calls and pages of built-in work (raise it with --max-steps)")

    def charge(self, steps: int) -> None:
        """Account *steps* of work; raises WorkLimitExceeded when the budget is gone."""
        self.left -= steps
        if self.left < 0:
            self.exhausted()

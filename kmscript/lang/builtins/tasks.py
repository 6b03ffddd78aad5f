"""Built-ins for tasks, the page cache, reclaim, compaction and the OOM killer.

``task db = spawn("postgres", oom_score_adj=0)``; ``db.fault(64M)``; ``db.munmap(16M)``;
``db.exit()``; ``file log = open("app.log")``; ``log.read(100M)``; ``log.write(10M)``;
``sync()``; ``drop_caches()``; ``kswapd()``; ``compact_memory()``; views ``show task db``,
``show tasks``, ``show reclaim``, ``show dmesg``.
"""

from __future__ import annotations

from typing import Any

from ..values import NULL
from .registry import INT, SIZE, STR, Call, builtin, handle, method, opt, view


@builtin("spawn", comm=STR, oom_score_adj=opt(INT, 0), category="tasks",
         doc="spawn(comm, oom_score_adj=0): fork+exec a process: a pid, a kernel stack and an empty "
             "address space (NULL if the stack cannot be allocated)")
def _spawn(call: Call, comm: str, oom_score_adj: int) -> Any:
    t = call.machine.tasks.spawn(comm, oom_score_adj)
    return NULL if t is None else t


@method("task", "fault", size=SIZE,
        doc="task.fault(size): map size more bytes of anonymous memory and touch every page "
            "(GFP_HIGHUSER_MOVABLE, one page at a time); returns the bytes faulted in, or -ENOMEM (-12) "
            "when the mapping would not fit in the address space (128T)")
def _fault(call: Call, t: Any, size: int) -> int:
    return int(t.fault(size))


@method("task", "munmap", size=SIZE,
        doc="task.munmap(size): unmap the top size bytes of the task's mapping, freeing its pages, "
            "swap entries and emptied page tables")
def _munmap(call: Call, t: Any, size: int) -> int:
    return int(t.munmap(size))


@method("task", "mmap", file=handle("file"), size=SIZE,
        doc="task.mmap(file, size): map the first size bytes of a file (MAP_PRIVATE, read) and touch "
            "every page: page-cache pages counted in file_rss; returns the bytes mapped, -ENOMEM (-12) "
            "beyond the address space (128T), -EOVERFLOW (-75) beyond the maximum file size")
def _mmap(call: Call, t: Any, file: Any, size: int) -> int:
    return int(t.mmap(file, size))


@method("task", "exit", doc="task.exit(): the process exits: its memory, page tables and kernel stack are freed")
def _exit(call: Call, t: Any) -> None:
    t.exit()


@method("task", "set_oom_score_adj", adj=INT,
        doc="task.set_oom_score_adj(adj): write /proc/PID/oom_score_adj (-1000..1000; -1000 = never kill)")
def _set_adj(call: Call, t: Any, adj: int) -> None:
    t.set_oom_score_adj(adj)


@builtin("open", path=STR, category="pagecache",
         doc="open(path): open a file; its pages live in the page cache (the same path is the same inode)")
def _open(call: Call, path: str) -> Any:
    return call.machine.pagecache.open(path)


@method("file", "read", size=SIZE,
        doc="file.read(size): read size bytes at the file position into the page cache (clean pages; "
            "a page read again is activated); returns the bytes read (at most 2G - 4K per call, as "
            "read(2))")
def _read(call: Call, f: Any, size: int) -> int:
    return int(f.read(size))


@method("file", "write", size=SIZE,
        doc="file.write(size): write size bytes at the file position (dirty page-cache pages); "
            "returns the bytes written (at most 2G - 4K per call, as write(2); -EFBIG (-27) at the "
            "maximum file size)")
def _write(call: Call, f: Any, size: int) -> int:
    return int(f.write(size))


@method("file", "seek", pos=SIZE,
        doc="file.seek(pos): move the file position (lseek SEEK_SET); returns it, or -EINVAL (-22) "
            "beyond the filesystem's maximum file size (16T - 4K)")
def _seek(call: Call, f: Any, pos: int) -> int:
    return int(f.seek(pos))


@builtin("sync", category="pagecache", doc="sync(): write back every dirty page-cache page; returns pages written")
def _sync(call: Call) -> int:
    return call.machine.pagecache.sync()


@builtin("drop_caches", category="pagecache",
         doc="drop_caches(): echo 1 > /proc/sys/vm/drop_caches: free clean page-cache pages; returns pages freed")
def _drop_caches(call: Call) -> int:
    return call.machine.reclaim.drop_caches()


@builtin("kswapd", category="reclaim",
         doc="kswapd(): let kswapd run now: reclaim until the node is balanced (high watermark); "
             "returns pages reclaimed")
def _kswapd(call: Call) -> int:
    return call.machine.reclaim.kswapd()


@builtin("compact_memory", category="reclaim",
         doc="compact_memory(): echo 1 > /proc/sys/vm/compact_memory: compact every zone fully; "
             "returns pages migrated")
def _compact_memory(call: Call) -> int:
    return call.machine.compaction.compact_memory()


@builtin("vm_event", counter=STR, category="reclaim",
         doc="vm_event(\"pgsteal_kswapd\"): a /proc/vmstat counter of reclaim, compaction or the OOM killer "
             "(pgscan_*, pgsteal_*, allocstall, compact_*, oom_kill, nr_*_anon/file ...)")
def _vm_event(call: Call, counter: str) -> int:
    return call.machine.views.vm_event(counter)


@view("task", t=handle("task"), category="tasks",
      doc="show task T: the memory lines of /proc/PID/status plus oom_score and oom_score_adj")
def _show_task(call: Call, t: Any) -> str:
    return str(call.machine.views.proc_pid_status(t))


@view("status", t=handle("task"), category="tasks",
      doc="show status T: /proc/PID/status of task T (the same text as show task T)")
def _show_status(call: Call, t: Any) -> str:
    return str(call.machine.views.proc_pid_status(t))


@view("tasks", category="tasks",
      doc="show tasks: a ps-like table of live tasks with their RSS counters, page tables and "
          "/proc/PID/oom_score")
def _show_tasks(call: Call) -> str:
    return str(call.machine.views.ps())


@view("reclaim", category="reclaim",
      doc="show reclaim: LRU list sizes, kswapd state and the pgscan/pgsteal/allocstall/compact/oom_kill "
          "counters of /proc/vmstat")
def _show_reclaim(call: Call) -> str:
    return str(call.machine.reclaim.stats())




@view("timeline", category="reclaim",
      doc="show timeline: free pages per zone against min/low/high, page cache, anon, slab, vmalloc and the "
          "largest tasks' RSS as sparklines over simulated time, with kswapd / direct reclaim / compaction / "
          "allocation failure / OOM kill events (plot \"out.svg\" draws it as a chart)")
def _show_timeline(call: Call) -> str:
    timeline = call.machine.timeline
    timeline.sample()  # the view ends now
    return str(timeline.render_text())

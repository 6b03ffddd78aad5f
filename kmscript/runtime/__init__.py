"""The simulated Linux kernel memory runtime.

This package models x86_64 Linux 6.x physical-memory management: zones and the buddy
allocator, SLUB and kmalloc, vmalloc, the per-cpu allocator, kernel stacks, tasks, reclaim
and the OOM killer.  It uses only the standard library and knows nothing of the kmscript
language: the language reaches it only through :class:`kmscript.runtime.machine.Machine`.

Layering inside the runtime follows the kernel's: buddy <- slab/kmalloc <- vmalloc <-
percpu/kstack.  A lower allocator never imports a higher one; a higher one receives the
lower one by constructor injection and calls only its public methods.
"""

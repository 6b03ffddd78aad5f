"""Built-ins for SLUB and kmalloc (mm/slub.c, mm/slab_common.c, include/linux/slab.h).

``cache inode = create(size=600, align=64)``; ``p = kmem_cache_alloc(inode)``;
``x = kmalloc(50, GFP_ATOMIC)``; ``kfree(x)``; ``show slabinfo``; ``show slab kmalloc-64``;
``show slabtop``; ``show leaks``.  The call site the kernel records (``%pS`` in tracepoints,
SLUB's "Allocated in", kmemleak's backtrace) is the script line ``file.kms:12``.
The SLAB_* flag constants come from the runtime's ``SLAB_FLAGS`` (registered by ``core``).
"""

from __future__ import annotations

from typing import Any

from ...runtime.gfp import GFP_KERNEL
from ...runtime.slab_geometry import KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE
from ..values import NULL, Ptr, new_object, ptr
from .registry import (ANY, BUILTINS, ArgError, Builtin, _params, GFP, INT, NAME, PTR, SIZE, STR, Call, builtin, constant, handle,
                       method, one_of, opt, view)

CACHE = handle("cache")
GFP_K = opt(GFP, GFP_KERNEL, "GFP_KERNEL")

constant("KMALLOC_MAX_CACHE_SIZE", KMALLOC_MAX_CACHE_SIZE)
constant("KMALLOC_MAX_SIZE", KMALLOC_MAX_SIZE)


def _ctor(v: Any) -> Any:
    return v if v else None


def _cache_or_null(c: Any) -> Any:
    return NULL if c is None else c


# -- caches ------------------------------------------------------------------------------------
def _register_with_name_param(bname: str, doc: str) -> None:
    """``builtin()`` takes the built-in's name as its first argument, so a parameter called
    ``name`` (which the ``cache NAME = create(...)`` statement passes) is registered directly."""
    def impl(call: Call, name: str, size: int, align: int, flags: int, ctor: Any, usersize: int,
             freeptr_offset: int) -> Any:
        return _cache_or_null(call.machine.slab.kmem_cache_create(
            name, size, align, flags, _ctor(ctor), caller=call.caller, usersize=usersize,
            freeptr_offset=None if freeptr_offset < 0 else freeptr_offset))
    if bname in BUILTINS:
        raise RuntimeError(f"builtin {bname} registered twice")
    BUILTINS[bname] = Builtin(bname, _params({"name": STR, "size": SIZE, "align": opt(INT, 0),
                                              "flags": opt(INT, 0), "ctor": opt(ANY, False),
                                              "usersize": opt(SIZE, 0), "freeptr_offset": opt(INT, -1)}),
                              impl, doc, "slab")


_register_with_name_param(
    "create", "create(name, size, align=0, flags=0, ctor=false, usersize=0, freeptr_offset=-1): kmem_cache_create; "
              "`cache NAME = create(...)` passes the name. May alias an existing compatible cache (slab merging); "
              "usersize > 0 or a ctor makes it unmergeable; freeptr_offset keeps a SLAB_TYPESAFE_BY_RCU free "
              "pointer inside the object")
_register_with_name_param(
    "kmem_cache_create", "kmem_cache_create(name, size, align, flags, ctor): a SLUB cache of size-byte objects "
                         "(legacy 5-argument form); NULL and a message on failure, panic with SLAB_PANIC")


@builtin("find_cache", cache_name=one_of(STR, NAME), category="slab",
         doc="find_cache(name): the cache of that name (aliases resolve to the merged cache) or NULL")
def _find_cache(call: Call, cache_name: str) -> Any:
    return _cache_or_null(call.machine.slab.find_cache(cache_name))


@builtin("kmem_cache_alloc", cache=CACHE, gfp=GFP_K, category="slab",
         doc="kmem_cache_alloc(cache, gfp): one object from the cache (cpu freelist, partial slabs, new slab)")
def _kmem_cache_alloc(call: Call, cache: Any, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kmem_cache_alloc(cache, gfp, call.caller))


@builtin("kmem_cache_zalloc", cache=CACHE, gfp=GFP_K, category="slab",
         doc="kmem_cache_zalloc(cache, gfp): kmem_cache_alloc with __GFP_ZERO")
def _kmem_cache_zalloc(call: Call, cache: Any, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kmem_cache_zalloc(cache, gfp, call.caller))


@builtin("kmem_cache_free", cache=CACHE, p=PTR, category="slab",
         doc="kmem_cache_free(cache, p): return an object to its slab (LIFO reuse on this CPU)")
def _kmem_cache_free(call: Call, cache: Any, p: int) -> None:
    call.machine.kmalloc.kmem_cache_free(cache, p, call.caller)


@builtin("kmem_cache_destroy", cache=CACHE, category="slab",
         doc="kmem_cache_destroy(cache): drop a reference; with objects left the kernel reports "
             "'Objects remaining' and leaks the cache (returns false)")
def _kmem_cache_destroy(call: Call, cache: Any) -> bool:
    return call.machine.slab.kmem_cache_destroy(cache, call.caller)


@builtin("kmem_cache_shrink", cache=CACHE, category="slab",
         doc="kmem_cache_shrink(cache): flush the cpu slabs and free every empty slab; returns slabs freed")
def _kmem_cache_shrink(call: Call, cache: Any) -> int:
    return call.machine.slab.kmem_cache_shrink(cache)


@builtin("validate_slab_cache", cache=CACHE, category="slab",
         doc="validate_slab_cache(cache): SLUB's validate (sysfs 'validate'): check every object's red zones, "
             "poison and free pointers; returns the number of errors (reports and fix-ups)")
def _validate_slab_cache(call: Call, cache: Any) -> int:
    return call.machine.slab.validate_slab_cache(cache)


@builtin("kmalloc_cache", size=SIZE, gfp=GFP_K, category="slab",
         doc="kmalloc_cache(size, gfp): the kmalloc cache kmalloc(size, gfp) uses (NULL for 0 or > 8 KiB)")
def _kmalloc_cache(call: Call, size: int, gfp: int) -> Any:
    return _cache_or_null(call.machine.kmalloc.kmalloc_cache_for(size, gfp))


@builtin("virt_to_cache", p=PTR, category="slab",
         doc="virt_to_cache(p): the cache owning slab object p, or NULL if p is not in a slab")
def _virt_to_cache(call: Call, p: int) -> Any:
    sl = call.machine.slab.slab_of(p)
    return NULL if sl is None else sl.cache


@builtin("mem_dump_obj", p=PTR, category="slab",
         doc="mem_dump_obj(p): what p points into, as the kernel prints it: ' slab kmalloc-64 start ... "
             "pointer offset 8 size 64' (plus 'allocated at' with SLAB_STORE_USER), or the kind of memory")
def _mem_dump_obj(call: Call, p: int) -> str:
    return call.machine.kmalloc.mem_dump_obj(p)


# -- kmalloc -------------------------------------------------------------------------------------
@builtin("kmalloc", size=SIZE, gfp=GFP_K, category="slab",
         doc="kmalloc(size, flags): size bytes from kmalloc-<class> (8..8k, 96, 192; rcl-/dma-/cg- by flags); "
             "above 8 KiB whole pages (order get_order(size)); kmalloc(0) is ZERO_SIZE_PTR")
def _kmalloc(call: Call, size: int, gfp: int) -> Any:
    addr = call.machine.kmalloc.kmalloc(size, gfp, call.caller)
    if addr:  # ptr(), inlined: this is the hottest built-in (kmalloc's address is in range)
        p: Ptr = new_object(Ptr)
        p.addr = addr
        return p
    return NULL


@builtin("kzalloc", size=SIZE, gfp=GFP_K, category="slab", doc="kzalloc(size, flags): kmalloc with __GFP_ZERO")
def _kzalloc(call: Call, size: int, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kzalloc(size, gfp, call.caller))


@builtin("kmalloc_array", n=SIZE, size=SIZE, gfp=GFP_K, category="slab",
         doc="kmalloc_array(n, size, flags): n*size bytes; NULL if the multiplication overflows size_t")
def _kmalloc_array(call: Call, n: int, size: int, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kmalloc_array(n, size, gfp, call.caller))


@builtin("kcalloc", n=SIZE, size=SIZE, gfp=GFP_K, category="slab",
         doc="kcalloc(n, size, flags): zeroed kmalloc_array")
def _kcalloc(call: Call, n: int, size: int, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kcalloc(n, size, gfp, call.caller))


@builtin("krealloc", p=PTR, size=SIZE, gfp=GFP_K, category="slab",
         doc="krealloc(p, size, flags): same pointer while size fits the object, else a new object with the "
             "old bytes copied and p freed; size 0 frees and returns ZERO_SIZE_PTR")
def _krealloc(call: Call, p: int, size: int, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.krealloc(p, size, gfp, call.caller))


@builtin("kfree", p=PTR, category="slab",
         doc="kfree(p): free a kmalloc object (or large kmalloc pages); kfree(NULL) and kfree(ZERO_SIZE_PTR) "
             "do nothing")
def _kfree(call: Call, p: int) -> None:
    call.machine.kmalloc.kfree(p, call.caller)


@builtin("ksize", p=PTR, category="slab",
         doc="ksize(p): usable bytes of the object (the class size, or object_size with red zones/poison)")
def _ksize(call: Call, p: int) -> int:
    return call.machine.kmalloc.ksize(p, call.caller)


@builtin("kmalloc_size_roundup", size=SIZE, category="slab",
         doc="kmalloc_size_roundup(size): the size kmalloc would really allocate for size")
def _kmalloc_size_roundup(call: Call, size: int) -> int:
    return call.machine.kmalloc.kmalloc_size_roundup(size)


@builtin("kfree_rcu", p=PTR, category="slab",
         doc="kfree_rcu(p): free p after the next RCU grace period (synchronize_rcu)")
def _kfree_rcu(call: Call, p: int) -> None:
    call.machine.kmalloc.kfree_rcu(p, call.caller)


@builtin("synchronize_rcu", category="slab",
         doc="synchronize_rcu(): wait for a grace period: pending kfree_rcu objects and SLAB_TYPESAFE_BY_RCU "
             "slab pages are freed")
def _synchronize_rcu(call: Call) -> None:
    call.machine.rcu.synchronize_rcu()


@builtin("rcu_barrier", category="slab", doc="rcu_barrier(): wait until every queued RCU callback has run")
def _rcu_barrier(call: Call) -> None:
    call.machine.rcu.rcu_barrier()


# -- memory helpers (string.h in the kernel) -----------------------------------------------------
def _check_span(what: str, call: Call, n: int) -> None:
    """A byte range longer than the machine's memory cannot be valid (and would exhaust ours)."""
    total = call.machine.page_alloc.totalram_pages << 12
    if n > total:
        raise ArgError(f"{what}: {n} bytes is more than the machine's {total >> 20} MiB of memory", 2)


if "memset" not in BUILTINS:
    @builtin("memset", p=PTR, c=INT, n=SIZE, category="slab",
             doc="memset(p, c, n): fill n bytes at p with the byte c")
    def _memset(call: Call, p: int, c: int, n: int) -> Any:
        _check_span("memset", call, n)
        call.machine.mem.fill(p, c, n, call.caller)
        return ptr(p)

if "memcpy" not in BUILTINS:
    @builtin("memcpy", dst=PTR, src=PTR, n=SIZE, category="slab",
             doc="memcpy(dst, src, n): copy n bytes from src to dst")
    def _memcpy(call: Call, dst: int, src: int, n: int) -> Any:
        _check_span("memcpy", call, n)
        call.machine.mem.copy(dst, src, n, call.caller)
        return ptr(dst)


# -- cache methods -----------------------------------------------------------------------------
@method("cache", "alloc", gfp=GFP_K, doc="cache.alloc(gfp): kmem_cache_alloc(cache, gfp)")
def _m_alloc(call: Call, cache: Any, gfp: int) -> Any:
    return ptr(call.machine.kmalloc.kmem_cache_alloc(cache, gfp, call.caller))


@method("cache", "free", p=PTR, doc="cache.free(p): kmem_cache_free(cache, p)")
def _m_free(call: Call, cache: Any, p: int) -> None:
    call.machine.kmalloc.kmem_cache_free(cache, p, call.caller)


# -- views -------------------------------------------------------------------------------------
@view("slabinfo", category="slab",
      doc="show slabinfo: /proc/slabinfo 2.1 (active_objs num_objs objsize objperslab pagesperslab; "
          "newest cache first; merged caches under the first creator's name)")
def _slabinfo(call: Call) -> str:
    return call.machine.views.slabinfo()


@view("slab", cache=one_of(CACHE, STR, NAME), image=opt(STR, None, "the text view"), category="slab",
      doc="show slab CACHE [, \"slab.svg\"]: the cache's sysfs attributes, cpu slabs, cpu and node partial "
          "lists and each object's state; with a file name (.svg, .png, .pdf) a picture of its slabs and objects")
def _slab(call: Call, cache: Any, image: str | None) -> str | None:
    c = cache if not isinstance(cache, str) else call.machine.slab.find_cache(cache)
    if c is None:
        raise ArgError(f"show slab: no slab cache named '{cache}'", 0)
    if image is not None:
        from ...pictures import slab_file
        from .pages import _picture
        return _picture(call, image, lambda path: slab_file(call.machine.slab, c, path))
    return call.machine.views.slab_cache_info(c)


@view("slabtop", category="slab", doc="show slabtop: slabtop -o style summary, caches by object count")
def _slabtop(call: Call) -> str:
    return call.machine.views.slabtop()


@view("leaks", category="slab",
      doc="show leaks: objects still allocated, grouped by the line that allocated them (kmemleak-like)")
def _leaks(call: Call) -> str:
    return call.machine.views.leak_report()


"""SLUB cache geometry: alignment, object layout, slab order, tunables, merge identity.

Pure functions of the cache-creation arguments and the machine's CPU count, computed exactly
as Linux 6.18 does (linux-mm-facts.md sections 5 and 6; mm/slab_common.c:
calculate_alignment, find_mergeable, slab_unmergeable; mm/slub.c: calculate_sizes,
calculate_order, calc_slab_order, set_min_partial, set_cpu_partial, create_unique_id).
Checked against /sys/kernel/slab of all 235 real caches of a 2-CPU 6.18 machine
(tests/runtime/test_slab_geometry.py).

The flag bit values are those of include/linux/slab.h (6.18, ``enum _slab_flag_bits``) for
the reference configuration: CONFIG_DEBUG_OBJECTS=n, CONFIG_FAILSLAB=y, CONFIG_MEMCG=y,
CONFIG_KASAN_GENERIC=n, CONFIG_KFENCE=y, CONFIG_SLUB_TINY=n, CONFIG_SLAB_OBJ_EXT=y.

Layout of one object slot of ``size`` bytes (debug parts only with the debug flags)::

    [left redzone: red_left_pad][object: object_size][right redzone .. inuse]
    [free pointer if outside the object][2 x struct track][orig_size (kmalloc)]
    [padding: 8 bytes with RED_ZONE, plus alignment]

The object pointer handed out is ``slot + red_left_pad``; ``offset`` (free pointer) and all
other offsets are relative to it, as in the kernel.

The architecture's facts - cache_line_size(), ARCH_SLAB_MINALIGN, sizeof(void *) (the
free pointer and the word every object is rounded to) and sizeof(struct track) - come from
the ``Arch`` the SLUB allocator was built with (slab_common.py passes its own); the default
is the verified x86_64 machine's, for the geometry checks against its /sys/kernel/slab.

Invariants: ``size`` is a multiple of ``align``; ``objs_per_slab == (4096 << order) // size``;
``align`` is a multiple of the pointer size.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arch import X86_64, Arch
from .mm_types import MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT, PAGE_SIZE

MAX_OBJS_PER_PAGE = 32767
MIN_PARTIAL = 5
MAX_PARTIAL = 10

# include/linux/slab.h 6.18: enum _slab_flag_bits, for the configuration above.
_FLAG_BITS = (
    "SLAB_CONSISTENCY_CHECKS", "SLAB_RED_ZONE", "SLAB_POISON", "SLAB_KMALLOC",
    "SLAB_HWCACHE_ALIGN", "SLAB_CACHE_DMA", "SLAB_CACHE_DMA32", "SLAB_STORE_USER",
    "SLAB_PANIC", "SLAB_TYPESAFE_BY_RCU", "SLAB_TRACE",
    # _SLAB_DEBUG_OBJECTS only with CONFIG_DEBUG_OBJECTS
    "SLAB_NOLEAKTRACE", "SLAB_NO_MERGE", "SLAB_FAILSLAB", "SLAB_ACCOUNT",
    # _SLAB_KASAN only with CONFIG_KASAN_GENERIC
    "SLAB_NO_USER_FLAGS", "SLAB_SKIP_KFENCE", "SLAB_RECLAIM_ACCOUNT",
    "__OBJECT_POISON", "__CMPXCHG_DOUBLE", "SLAB_NO_OBJ_EXT",
)
_BIT = {name: 1 << i for i, name in enumerate(_FLAG_BITS)}

SLAB_CONSISTENCY_CHECKS = _BIT["SLAB_CONSISTENCY_CHECKS"]
SLAB_RED_ZONE = _BIT["SLAB_RED_ZONE"]
SLAB_POISON = _BIT["SLAB_POISON"]
SLAB_KMALLOC = _BIT["SLAB_KMALLOC"]
SLAB_HWCACHE_ALIGN = _BIT["SLAB_HWCACHE_ALIGN"]
SLAB_CACHE_DMA = _BIT["SLAB_CACHE_DMA"]
SLAB_CACHE_DMA32 = _BIT["SLAB_CACHE_DMA32"]
SLAB_STORE_USER = _BIT["SLAB_STORE_USER"]
SLAB_PANIC = _BIT["SLAB_PANIC"]
SLAB_TYPESAFE_BY_RCU = _BIT["SLAB_TYPESAFE_BY_RCU"]
SLAB_TRACE = _BIT["SLAB_TRACE"]
SLAB_NOLEAKTRACE = _BIT["SLAB_NOLEAKTRACE"]
SLAB_NO_MERGE = _BIT["SLAB_NO_MERGE"]
SLAB_FAILSLAB = _BIT["SLAB_FAILSLAB"]
SLAB_ACCOUNT = _BIT["SLAB_ACCOUNT"]
SLAB_NO_USER_FLAGS = _BIT["SLAB_NO_USER_FLAGS"]
SLAB_SKIP_KFENCE = _BIT["SLAB_SKIP_KFENCE"]
SLAB_RECLAIM_ACCOUNT = _BIT["SLAB_RECLAIM_ACCOUNT"]
OBJECT_POISON = _BIT["__OBJECT_POISON"]
SLAB_NO_OBJ_EXT = _BIT["SLAB_NO_OBJ_EXT"]
# _SLAB_KASAN (include/linux/slab.h, only with CONFIG_KASAN_GENERIC): kept out of the enum
# above so that the other bits keep the reference machine's values; a bit no other flag uses.
SLAB_KASAN = 1 << 40

#: Flags a script may pass to kmem_cache_create (the language vocabulary reads this).
SLAB_FLAGS: dict[str, int] = {
    name: _BIT[name] for name in (
        "SLAB_CONSISTENCY_CHECKS", "SLAB_RED_ZONE", "SLAB_POISON", "SLAB_HWCACHE_ALIGN",
        "SLAB_CACHE_DMA", "SLAB_CACHE_DMA32", "SLAB_STORE_USER", "SLAB_PANIC",
        "SLAB_TYPESAFE_BY_RCU", "SLAB_TRACE", "SLAB_NOLEAKTRACE", "SLAB_NO_MERGE",
        "SLAB_FAILSLAB", "SLAB_ACCOUNT", "SLAB_NO_USER_FLAGS", "SLAB_SKIP_KFENCE",
        "SLAB_RECLAIM_ACCOUNT",
    )
}

DEBUG_DEFAULT_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
SLAB_DEBUG_FLAGS = DEBUG_DEFAULT_FLAGS | SLAB_TRACE
# mm/slab_common.c
SLAB_NEVER_MERGE = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_TYPESAFE_BY_RCU
                    | SLAB_NOLEAKTRACE | SLAB_FAILSLAB | SLAB_NO_MERGE)
SLAB_MERGE_SAME = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT


def format_slab_flags(flags: int) -> str:
    names = [n for n, bit in SLAB_FLAGS.items() if flags & bit]
    if flags & SLAB_KMALLOC:
        names.append("SLAB_KMALLOC")
    return "|".join(names) if names else "0"


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def fls(x: int) -> int:
    return x.bit_length()


def get_order(size: int) -> int:
    """Smallest order o with 4096 << o >= size (include/asm-generic/getorder.h)."""
    if size <= PAGE_SIZE:
        return 0
    return ((size - 1) >> PAGE_SHIFT).bit_length()


def ilog2(x: int) -> int:
    return x.bit_length() - 1


def calculate_alignment(flags: int, align: int, size: int, arch: Arch = X86_64) -> int:
    """mm/slab_common.c: calculate_alignment: SLAB_HWCACHE_ALIGN halves cache_line_size()
    while the object fits twice; at least ARCH_SLAB_MINALIGN; ALIGN(align, sizeof(void *))."""
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = arch.cache_line_size
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, arch.slab_min_align)
    return align_up(align, arch.pointer_size)


def order_objects(order: int, size: int) -> int:
    return (PAGE_SIZE << order) // size


def calc_slab_order(size: int, min_order: int, max_order: int, fract_leftover: int) -> int:
    """mm/slub.c: calc_slab_order (6.18)."""
    order = min_order
    while order <= max_order:
        slab_size = PAGE_SIZE << order
        rem = slab_size % size
        if rem <= slab_size // fract_leftover:
            break
        order += 1
    return order


def min_objects_for_cpus(nr_cpus: int) -> int:
    """4 * (fls(nr_cpus) + 1): 2 CPUs -> 12, 4 -> 16, 8 -> 20."""
    return 4 * (fls(nr_cpus) + 1)


def calculate_order(size: int, nr_cpus: int, slub_min_order: int = 0,
                    slub_max_order: int = PAGE_ALLOC_COSTLY_ORDER, slub_min_objects: int = 0) -> int:
    """mm/slub.c: calculate_order (6.18): the fraction loop 16, 8, 4, 2; -1 if impossible."""
    min_objects = slub_min_objects or min_objects_for_cpus(nr_cpus)
    max_objects = max(order_objects(slub_max_order, size), 1)
    min_objects = min(min_objects, max_objects)
    min_order = max(slub_min_order, get_order(min_objects * size))
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    for fraction in (16, 8, 4, 2):
        order = calc_slab_order(size, min_order, slub_max_order, fraction)
        if order <= slub_max_order:
            return order
    order = get_order(size)
    if order <= MAX_PAGE_ORDER:
        return order
    return -1


@dataclass(frozen=True, slots=True)
class Geometry:
    """Everything /sys/kernel/slab/<cache>/ derives from the creation arguments."""

    object_size: int
    size: int  # s->size: slab_size, the stride
    align: int
    inuse: int
    offset: int  # free pointer offset from the object start
    red_left_pad: int
    order: int
    objs_per_slab: int
    min_order: int  # s->min: fallback order = get_order(size)
    min_objects: int  # objects per slab at min_order
    min_partial: int
    cpu_partial: int
    cpu_partial_slabs: int
    flags: int  # final s->flags (incl. __OBJECT_POISON)
    track_offset: int  # get_info_end(): where struct track lives (STORE_USER)
    orig_size_offset: int  # offset of the kmalloc orig_size word, -1 if none
    # struct kasan_cache (CONFIG_KASAN_GENERIC): where KASAN keeps its metadata
    kasan_alloc_meta_offset: int = 0  # 0: none
    kasan_free_meta_offset: int = (1 << 31) - 1  # KASAN_NO_FREE_META: none; 0: inside the object

    @property
    def freeptr_outside_object(self) -> bool:
        return self.offset >= self.inuse

    @property
    def slab_bytes(self) -> int:
        return PAGE_SIZE << self.order

    @property
    def pages_per_slab(self) -> int:
        return 1 << self.order


def kmem_cache_debug(flags: int) -> bool:
    return bool(flags & SLAB_DEBUG_FLAGS)


# mm/kasan/kasan.h: sizeof(struct kasan_alloc_meta) (struct kasan_track {u32 pid;
# depot_stack_handle_t stack;} + depot_stack_handle_t aux_stack[2]) and
# sizeof(struct kasan_free_meta) (struct qlist_node + struct kasan_track), without
# CONFIG_KASAN_EXTRA_INFO.
KASAN_ALLOC_META_SIZE = 16
KASAN_FREE_META_SIZE = 16
KASAN_NO_FREE_META = (1 << 31) - 1  # INT_MAX


def optimal_redzone(object_size: int) -> int:
    """mm/kasan/generic.c: optimal_redzone (the userspace ASan adaptive redzone policy)."""
    for limit, rz in ((64 - 16, 16), (128 - 32, 32), (512 - 64, 64), (4096 - 128, 128),
                      ((1 << 14) - 256, 256), ((1 << 15) - 512, 512), ((1 << 16) - 1024, 1024)):
        if object_size <= limit:
            return rz
    return 2048


def kasan_cache_create(object_size: int, size: int, flags: int, has_ctor: bool,
                       slub_debug_enabled: bool) -> tuple[int, int, int, int]:
    """mm/kasan/generic.c: kasan_cache_create for the size calculate_sizes reached before
    the red zone: returns (size, flags | SLAB_KASAN | SLAB_NO_MERGE, alloc_meta_offset,
    free_meta_offset).  Alloc meta goes after the object (in the redzone); free meta inside
    the object when it fits and the object may be overwritten once freed, else after alloc
    meta; then the size grows to object_size + optimal_redzone(object_size)."""
    flags |= SLAB_KASAN | SLAB_NO_MERGE
    ok_size = size
    alloc_meta_offset = size
    size += KASAN_ALLOC_META_SIZE
    if size > KMALLOC_MAX_SIZE:
        alloc_meta_offset = 0
        size = ok_size
    ok_size = size
    orig_alloc_meta_offset = alloc_meta_offset
    free_meta_offset = 0
    slub_debug_orig_size = bool((flags & SLAB_KMALLOC) and (flags & SLAB_STORE_USER))
    if (flags & SLAB_TYPESAFE_BY_RCU) or has_ctor or slub_debug_orig_size:
        free_meta_offset = size
        size += KASAN_FREE_META_SIZE
    elif KASAN_FREE_META_SIZE <= object_size:
        pass  # free meta inside the object (offset 0)
    elif not slub_debug_enabled:
        rem = KASAN_FREE_META_SIZE - object_size
        size += rem
        if alloc_meta_offset:
            alloc_meta_offset += rem
    else:
        free_meta_offset = size
        size += KASAN_FREE_META_SIZE
    if size > KMALLOC_MAX_SIZE:
        free_meta_offset = KASAN_NO_FREE_META
        alloc_meta_offset = orig_alloc_meta_offset
        size = ok_size
    optimal_size = min(object_size + optimal_redzone(object_size), KMALLOC_MAX_SIZE)
    return max(size, optimal_size), flags, alloc_meta_offset, free_meta_offset


def calculate_sizes(object_size: int, align: int, flags: int, nr_cpus: int, *, has_ctor: bool = False,
                    freeptr_offset: int | None = None, arch: Arch = X86_64, kasan: bool = False,
                    slub_debug_enabled: bool = False) -> Geometry:
    """mm/slub.c: calculate_sizes + kmem_cache_open tunables.

    *align* is the final alignment (``calculate_alignment`` already applied); *flags* are the
    cache's flags after boot-time slab_debug was added.  calculate_sizes rounds the object to
    sizeof(void *), places the free pointer (a void *) and the right red zone word
    (sizeof(void *)), and the two struct track of SLAB_STORE_USER: all sized by *arch*.
    """
    ptr = arch.pointer_size
    if object_size <= 0:
        raise ValueError("object size must be positive")
    if (flags & SLAB_POISON) and not (flags & SLAB_TYPESAFE_BY_RCU) and not has_ctor:
        flags |= OBJECT_POISON
    else:
        flags &= ~OBJECT_POISON
    size = align_up(object_size, ptr)
    if (flags & SLAB_RED_ZONE) and size == object_size:
        size += ptr
    inuse = size
    orig_size = bool((flags & SLAB_KMALLOC) and (flags & SLAB_STORE_USER))
    if (((flags & SLAB_TYPESAFE_BY_RCU) and freeptr_offset is None) or (flags & SLAB_POISON) or has_ctor
            or ((flags & SLAB_RED_ZONE) and (object_size < ptr or orig_size))):
        offset = size
        size += ptr
    elif (flags & SLAB_TYPESAFE_BY_RCU) and freeptr_offset is not None:
        offset = freeptr_offset
    else:
        offset = (object_size // 2) // ptr * ptr
    track_offset = size
    orig_size_offset = -1
    if flags & SLAB_STORE_USER:
        size += 2 * arch.sizeof_track
        if flags & SLAB_KMALLOC:
            orig_size_offset = size
            size += 4
    alloc_meta_offset, free_meta_offset = 0, KASAN_NO_FREE_META
    if kasan:
        # mm/slub.c calculate_sizes: kasan_cache_create(s, &size, &s->flags) comes after the
        # tracks and before the red zone words
        size, flags, alloc_meta_offset, free_meta_offset = kasan_cache_create(
            object_size, size, flags, has_ctor, slub_debug_enabled)
    red_left_pad = 0
    if flags & SLAB_RED_ZONE:
        size += ptr
        red_left_pad = align_up(ptr, align)
        size += red_left_pad
    size = align_up(size, align)
    order = calculate_order(size, nr_cpus)
    if order < 0:
        raise ValueError(f"object size {object_size} is too large for a slab")
    objs = order_objects(order, size)
    min_order = get_order(size)
    min_partial = min(MAX_PARTIAL, max(MIN_PARTIAL, ilog2(size) // 2))
    if kmem_cache_debug(flags):
        cpu_partial = 0
    elif size >= PAGE_SIZE:
        cpu_partial = 6
    elif size >= 1024:
        cpu_partial = 24
    elif size >= 256:
        cpu_partial = 52
    else:
        cpu_partial = 120
    cpu_partial_slabs = -(-(cpu_partial * 2) // objs) if cpu_partial else 0
    return Geometry(object_size, size, align, inuse, offset, red_left_pad, order, objs, min_order,
                    order_objects(min_order, size), min_partial, cpu_partial, cpu_partial_slabs, flags,
                    track_offset, orig_size_offset, alloc_meta_offset, free_meta_offset)


def create_unique_id(flags: int, size: int) -> str:
    """mm/slub.c: create_unique_id: the sysfs directory name of a mergeable cache."""
    letters = ""
    if flags & SLAB_CACHE_DMA:
        letters += "d"
    if flags & SLAB_CACHE_DMA32:
        letters += "D"
    if flags & SLAB_RECLAIM_ACCOUNT:
        letters += "a"
    if flags & SLAB_CONSISTENCY_CHECKS:
        letters += "F"
    if flags & SLAB_ACCOUNT:
        letters += "A"
    return ":" + (letters + "-" if letters else "") + f"{size:07d}"


# -- kmalloc size classes (include/linux/slab.h, mm/slab_common.c) ---------------------------
# KMALLOC_MIN_SIZE and KMALLOC_SHIFT_LOW follow ARCH_KMALLOC_MINALIGN: Arch.kmalloc_min_size
# and Arch.kmalloc_shift_low (8 and 3 on x86_64 and i386).
KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH  # 8192
KMALLOC_SHIFT_MAX = MAX_PAGE_ORDER + PAGE_SHIFT
KMALLOC_MAX_SIZE = 1 << KMALLOC_SHIFT_MAX  # 4 MiB
ZERO_SIZE_PTR = 16

# mm/slab_common.c: kmalloc_size_index[24], indexed by (size - 1) / 8 for size <= 192
_SIZE_INDEX = (3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2)


def kmalloc_size_index_table(min_size: int) -> tuple[int, ...]:
    """mm/slab_common.c: setup_kmalloc_cache_index_table: kmalloc_size_index patched for a
    KMALLOC_MIN_SIZE above 8 (sizes below it go to the smallest class; no 96-byte class
    from 64, no 192-byte class from 128).  Unchanged for the minimum of 8."""
    table = list(_SIZE_INDEX)
    shift_low = min_size.bit_length() - 1
    for i in range(8, min_size, 8):
        elem = (i - 1) // 8            # size_index_elem
        if elem >= len(table):
            break
        table[elem] = shift_low
    if min_size >= 64:
        for i in range(64 + 8, 96 + 1, 8):
            table[(i - 1) // 8] = 7
    if min_size >= 128:
        for i in range(128 + 8, 192 + 1, 8):
            table[(i - 1) // 8] = 8
    return tuple(table)


def kmalloc_index(size: int, size_index: tuple[int, ...] = _SIZE_INDEX) -> int:
    """The kmalloc cache index for 1 <= size <= 8192 (mm/slab.h: kmalloc_slab), with the
    kmalloc_size_index table of the architecture (``kmalloc_size_index_table``)."""
    if size <= 192:
        return size_index[(size - 1) // 8]
    return fls(size - 1)


def kmalloc_class_size(index: int) -> int:
    return 96 if index == 1 else 192 if index == 2 else 1 << index


def kmalloc_size_name(index: int) -> str:
    sz = kmalloc_class_size(index)
    return f"{sz >> 10}k" if sz >= 1024 else str(sz)


def kmalloc_indices(min_size: int) -> tuple[int, ...]:
    """Class indices in creation order (mm/slab_common.c: create_kmalloc_caches): 96 when
    KMALLOC_MIN_SIZE <= 32, 192 when <= 64, then KMALLOC_SHIFT_LOW .. KMALLOC_SHIFT_HIGH
    (8 .. 8k for the minimum of 8)."""
    odd = ((1,) if min_size <= 32 else ()) + ((2,) if min_size <= 64 else ())
    return odd + tuple(range(min_size.bit_length() - 1, KMALLOC_SHIFT_HIGH + 1))

KMALLOC_NORMAL = 0
KMALLOC_RECLAIM = 1
KMALLOC_DMA = 2
KMALLOC_CGROUP = 3
KMALLOC_TYPE_PREFIX = {KMALLOC_NORMAL: "kmalloc-", KMALLOC_RECLAIM: "kmalloc-rcl-",
                       KMALLOC_DMA: "dma-kmalloc-", KMALLOC_CGROUP: "kmalloc-cg-"}
KMALLOC_TYPE_FLAGS = {KMALLOC_NORMAL: SLAB_NO_MERGE, KMALLOC_RECLAIM: SLAB_RECLAIM_ACCOUNT,
                      KMALLOC_DMA: SLAB_CACHE_DMA, KMALLOC_CGROUP: SLAB_ACCOUNT}


def kmalloc_cache_name(kmalloc_type: int, index: int) -> str:
    return KMALLOC_TYPE_PREFIX[kmalloc_type] + kmalloc_size_name(index)


def kmalloc_cache_align(index: int) -> int:
    """6.18 create_boot_cache: the largest power-of-two divisor of the size (96 -> 32)."""
    sz = kmalloc_class_size(index)
    return sz & -sz


def kmalloc_size_roundup(size: int, size_index: tuple[int, ...] = _SIZE_INDEX) -> int:
    """mm/slab_common.c: kmalloc_size_roundup (the class of kmalloc_slab for *size_index*)."""
    if size == 0:
        return 0
    if size <= KMALLOC_MAX_CACHE_SIZE:
        return kmalloc_class_size(kmalloc_index(size, size_index))
    if size <= KMALLOC_MAX_SIZE:
        return PAGE_SIZE << get_order(size)
    return size

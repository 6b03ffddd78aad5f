"""GFP flags: include/linux/gfp_types.h (Linux 6.18, x86_64) and their decoding.

What it models: every ``__GFP_*`` bit and ``GFP_*`` composite with the kernel's values
(linux-mm-facts.md section 4, verified against the 6.18 ``mm_page_alloc`` tracepoint
format), ``gfp_zone()`` (include/linux/gfp.h: GFP_ZONE_TABLE), ``gfp_migratetype()``,
and ``format_gfp()`` which prints a mask as the kernel's ``%pGg`` / ``show_gfp_flags``
do (lib/vsprintf.c: format_flags; kernel/trace/trace_output.c: trace_print_flags_seq):
walk the 6.18 table of include/trace/events/mmflags.h (__def_gfpflag_names) in order,
print every entry whose bits are all set, clear them, and print any leftover bits as hex.

Config-dependent bits follow the verified machine: no KASAN_HW_TAGS (``__GFP_SKIP_ZERO``
and ``__GFP_SKIP_KASAN`` are 0), no LOCKDEP (``__GFP_NOLOCKDEP`` is 0), SLAB_OBJ_EXT on
(``__GFP_NO_OBJ_EXT`` is bit 24).  Bit 9 (0x200) is unused in 6.18 (it was __GFP_ATOMIC
in 6.1).
"""

from __future__ import annotations

___GFP_DMA = 1 << 0
___GFP_HIGHMEM = 1 << 1
___GFP_DMA32 = 1 << 2
___GFP_MOVABLE = 1 << 3
___GFP_RECLAIMABLE = 1 << 4
___GFP_HIGH = 1 << 5
___GFP_IO = 1 << 6
___GFP_FS = 1 << 7
___GFP_ZERO = 1 << 8
# bit 9 unused in 6.18
___GFP_DIRECT_RECLAIM = 1 << 10
___GFP_KSWAPD_RECLAIM = 1 << 11
___GFP_WRITE = 1 << 12
___GFP_NOWARN = 1 << 13
___GFP_RETRY_MAYFAIL = 1 << 14
___GFP_NOFAIL = 1 << 15
___GFP_NORETRY = 1 << 16
___GFP_MEMALLOC = 1 << 17
___GFP_COMP = 1 << 18
___GFP_NOMEMALLOC = 1 << 19
___GFP_HARDWALL = 1 << 20
___GFP_THISNODE = 1 << 21
___GFP_ACCOUNT = 1 << 22
___GFP_ZEROTAGS = 1 << 23
___GFP_NO_OBJ_EXT = 1 << 24

__GFP_DMA = ___GFP_DMA
__GFP_HIGHMEM = ___GFP_HIGHMEM
__GFP_DMA32 = ___GFP_DMA32
__GFP_MOVABLE = ___GFP_MOVABLE
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
__GFP_RECLAIMABLE = ___GFP_RECLAIMABLE
__GFP_WRITE = ___GFP_WRITE
__GFP_HARDWALL = ___GFP_HARDWALL
__GFP_THISNODE = ___GFP_THISNODE
__GFP_ACCOUNT = ___GFP_ACCOUNT
__GFP_NO_OBJ_EXT = ___GFP_NO_OBJ_EXT
__GFP_HIGH = ___GFP_HIGH
__GFP_MEMALLOC = ___GFP_MEMALLOC
__GFP_NOMEMALLOC = ___GFP_NOMEMALLOC
__GFP_IO = ___GFP_IO
__GFP_FS = ___GFP_FS
__GFP_DIRECT_RECLAIM = ___GFP_DIRECT_RECLAIM
__GFP_KSWAPD_RECLAIM = ___GFP_KSWAPD_RECLAIM
__GFP_RECLAIM = ___GFP_DIRECT_RECLAIM | ___GFP_KSWAPD_RECLAIM
__GFP_RETRY_MAYFAIL = ___GFP_RETRY_MAYFAIL
__GFP_NOFAIL = ___GFP_NOFAIL
__GFP_NORETRY = ___GFP_NORETRY
__GFP_NOWARN = ___GFP_NOWARN
__GFP_COMP = ___GFP_COMP
__GFP_ZERO = ___GFP_ZERO
__GFP_ZEROTAGS = ___GFP_ZEROTAGS
__GFP_SKIP_ZERO = 0
__GFP_SKIP_KASAN = 0
__GFP_NOLOCKDEP = 0
__GFP_BITS_SHIFT = 25
__GFP_BITS_MASK = (1 << __GFP_BITS_SHIFT) - 1

GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN
GFP_TRANSHUGE_LIGHT = (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM
# mm/internal.h: the flags that reclaim/compaction look at
GFP_RECLAIM_MASK = (__GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_RETRY_MAYFAIL
                    | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_NOLOCKDEP)
# mm/internal.h: "Control allocation cpuset and node placement constraints"
GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3

# include/trace/events/mmflags.h: __def_gfpflag_names as 6.18 builds it: the composites with
# most bits first, then GFP_DMA, GFP_DMA32 and __GFP_RECLAIM, then every single flag in bit
# order (TRACE_GFP_FLAGS, generated from enum ___GFP_*_BIT of include/linux/gfp_types.h),
# ending with __GFP_NO_OBJ_EXT.  The same table feeds ``__print_flags`` in the kmem trace
# events (tests/runtime/data/tracefs-kmem-6.18/*.format carry it verbatim) and ``%pGg``
# (mm/debug.c: gfpflag_names).  Entries whose bits an earlier entry already consumed
# (``__GFP_DMA`` after ``GFP_DMA``) never print, but they stay to keep the kernel's table.
_GFPFLAG_NAMES: tuple[tuple[int, str], ...] = (
    (GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (GFP_HIGHUSER, "GFP_HIGHUSER"),
    (GFP_USER, "GFP_USER"),
    (GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (GFP_KERNEL, "GFP_KERNEL"),
    (GFP_NOFS, "GFP_NOFS"),
    (GFP_ATOMIC, "GFP_ATOMIC"),
    (GFP_NOIO, "GFP_NOIO"),
    (GFP_NOWAIT, "GFP_NOWAIT"),
    (GFP_DMA, "GFP_DMA"),
    (GFP_DMA32, "GFP_DMA32"),
    (__GFP_RECLAIM, "__GFP_RECLAIM"),
    (__GFP_DMA, "__GFP_DMA"),
    (__GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (__GFP_DMA32, "__GFP_DMA32"),
    (__GFP_MOVABLE, "__GFP_MOVABLE"),
    (__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (__GFP_HIGH, "__GFP_HIGH"),
    (__GFP_IO, "__GFP_IO"),
    (__GFP_FS, "__GFP_FS"),
    (__GFP_ZERO, "__GFP_ZERO"),
    (__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (__GFP_WRITE, "__GFP_WRITE"),
    (__GFP_NOWARN, "__GFP_NOWARN"),
    (__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (__GFP_NOFAIL, "__GFP_NOFAIL"),
    (__GFP_NORETRY, "__GFP_NORETRY"),
    (__GFP_MEMALLOC, "__GFP_MEMALLOC"),
    (__GFP_COMP, "__GFP_COMP"),
    (__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (__GFP_HARDWALL, "__GFP_HARDWALL"),
    (__GFP_THISNODE, "__GFP_THISNODE"),
    (__GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (__GFP_ZEROTAGS, "__GFP_ZEROTAGS"),
    (__GFP_NO_OBJ_EXT, "__GFP_NO_OBJ_EXT"),
)

# Every flag and composite a script may name (value 0 config-disabled bits included, as the
# kernel's headers define them).
GFP_NAMES: dict[str, int] = {name: value for value, name in _GFPFLAG_NAMES}
GFP_NAMES.update({
    "__GFP_SKIP_ZERO": __GFP_SKIP_ZERO,
    "__GFP_SKIP_KASAN": __GFP_SKIP_KASAN,
    "__GFP_NOLOCKDEP": __GFP_NOLOCKDEP,
})

_format_cache: dict[int, str] = {}


def format_gfp(mask: int) -> str:
    """The mask as the kernel prints it (``%pGg``): ``GFP_KERNEL|__GFP_ZERO``; 0 -> ``none``."""
    cached = _format_cache.get(mask)
    if cached is not None:
        return cached
    if mask == 0:
        return "none"
    parts: list[str] = []
    rest = mask
    for value, name in _GFPFLAG_NAMES:
        if value and rest & value == value:
            parts.append(name)
            rest &= ~value
    if rest:
        parts.append(f"0x{rest:x}")
    text = "|".join(parts)
    if len(_format_cache) < 4096:
        _format_cache[mask] = text
    return text


def format_gfp_pGg(mask: int) -> str:
    """``%pGg`` exactly: like :func:`format_gfp` but an empty mask prints nothing (lib/vsprintf.c)."""
    return "" if mask == 0 else format_gfp(mask)


# Zone indices (include/linux/mmzone.h: enum zone_type on x86_64 with ZONE_DEVICE).
ZONE_DMA = 0
ZONE_DMA32 = 1
ZONE_NORMAL = 2
ZONE_MOVABLE = 3
ZONE_DEVICE = 4
MAX_NR_ZONES = 5
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable", "Device")


# the zone-modifier bits without leading underscores: a class body mangles ``__NAME``
_ZM_DMA, _ZM_HIGHMEM, _ZM_DMA32, _ZM_MOVABLE = ___GFP_DMA, ___GFP_HIGHMEM, ___GFP_DMA32, ___GFP_MOVABLE


class ZoneTypes:
    """``enum zone_type`` as one kernel configuration builds it (include/linux/mmzone.h),
    with the GFP_ZONE_TABLE that configuration compiles (include/linux/gfp.h).

    The enum lists only the configured zones: x86_64 has DMA, DMA32, Normal, Movable and
    Device (CONFIG_ZONE_DEVICE); i386 with CONFIG_HIGHMEM has DMA, Normal, HighMem and
    Movable, so ZONE_NORMAL is 1 there and 2 on x86_64.  An absent zone's index is -1.

    GFP_ZONE_TABLE (include/linux/gfp.h), indexed by the four zone-modifier bits::

        ZONE_NORMAL << 0 | OPT_ZONE_DMA << ___GFP_DMA | OPT_ZONE_HIGHMEM << ___GFP_HIGHMEM
        | OPT_ZONE_DMA32 << ___GFP_DMA32 | ZONE_NORMAL << ___GFP_MOVABLE
        | OPT_ZONE_DMA << (___GFP_MOVABLE | ___GFP_DMA)
        | ZONE_MOVABLE << (___GFP_MOVABLE | ___GFP_HIGHMEM)
        | OPT_ZONE_DMA32 << (___GFP_MOVABLE | ___GFP_DMA32)

    where OPT_ZONE_HIGHMEM is ZONE_NORMAL without CONFIG_HIGHMEM and OPT_ZONE_DMA32 is
    ZONE_NORMAL without CONFIG_ZONE_DMA32; GFP_ZONE_BAD lists the combinations of two of
    DMA/DMA32/HIGHMEM.
    """

    __slots__ = ("names", "DMA", "DMA32", "NORMAL", "HIGHMEM", "MOVABLE", "DEVICE", "MAX_NR_ZONES",
                 "_table", "lowmem_reserve_ratio")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        idx = {n: i for i, n in enumerate(names)}
        self.DMA = idx.get("DMA", -1)
        self.DMA32 = idx.get("DMA32", -1)
        self.NORMAL = idx["Normal"]
        self.HIGHMEM = idx.get("HighMem", -1)
        self.MOVABLE = idx["Movable"]
        self.DEVICE = idx.get("Device", -1)
        self.MAX_NR_ZONES = len(names)
        opt_dma = self.DMA if self.DMA >= 0 else self.NORMAL
        opt_dma32 = self.DMA32 if self.DMA32 >= 0 else self.NORMAL
        opt_highmem = self.HIGHMEM if self.HIGHMEM >= 0 else self.NORMAL
        table: list[int | None] = [None] * 16
        table[0] = self.NORMAL
        table[_ZM_DMA] = opt_dma
        table[_ZM_HIGHMEM] = opt_highmem
        table[_ZM_DMA32] = opt_dma32
        table[_ZM_MOVABLE] = self.NORMAL
        table[_ZM_MOVABLE | _ZM_DMA] = opt_dma
        table[_ZM_MOVABLE | _ZM_HIGHMEM] = self.MOVABLE
        table[_ZM_MOVABLE | _ZM_DMA32] = opt_dma32
        self._table: tuple[int | None, ...] = tuple(table)
        # mm/page_alloc.c: sysctl_lowmem_reserve_ratio[MAX_NR_ZONES] = {[ZONE_DMA] = 256,
        # [ZONE_DMA32] = 256, [ZONE_NORMAL] = 32, [ZONE_HIGHMEM] = 0, [ZONE_MOVABLE] = 0}
        ratio = {"DMA": 256, "DMA32": 256, "Normal": 32, "HighMem": 0, "Movable": 0}
        self.lowmem_reserve_ratio = tuple(ratio.get(n, 0) for n in names)

    def gfp_zone(self, mask: int) -> int:
        """Highest zone index the mask allows (include/linux/gfp.h: gfp_zone).

        A GFP_ZONE_BAD combination (two of DMA/DMA32/HIGHMEM) is a VM_BUG_ON in the kernel;
        the caller decides how to report it (``gfp_zone_bad``); here it maps to the lowest
        named zone."""
        z = self._table[mask & GFP_ZONEMASK]
        if z is None:
            return self.DMA if mask & _ZM_DMA else (self.DMA32 if self.DMA32 >= 0 else self.NORMAL)
        return z

    def gfp_zone_bad(self, mask: int) -> bool:
        return self._table[mask & GFP_ZONEMASK] is None

    def is_highmem_idx(self, idx: int) -> bool:
        """include/linux/mmzone.h: is_highmem_idx - ZONE_HIGHMEM, or ZONE_MOVABLE when it
        takes its pages from highmem (zone_movable_is_highmem: i386 kernelcore= puts
        ZONE_MOVABLE above max_low_pfn)."""
        return self.HIGHMEM >= 0 and idx in (self.HIGHMEM, self.MOVABLE)


X86_64_ZONES = ZoneTypes(ZONE_NAMES)
_GFP_ZONE_TABLE = X86_64_ZONES._table


def gfp_zone(mask: int) -> int:
    """gfp_zone() of x86_64 (see ``ZoneTypes.gfp_zone``; other arches use their Arch's)."""
    z = _GFP_ZONE_TABLE[mask & GFP_ZONEMASK]
    if z is None:
        return ZONE_DMA if mask & __GFP_DMA else ZONE_DMA32
    return z


def gfp_zone_bad(mask: int) -> bool:
    return _GFP_ZONE_TABLE[mask & GFP_ZONEMASK] is None


# include/linux/mmzone.h: enum migratetype
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_HIGHATOMIC = 3
MIGRATE_ISOLATE = 4
MIGRATE_TYPES = 5
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")


def gfp_migratetype(mask: int) -> int:
    """include/linux/gfp.h: gfp_migratetype — MOVABLE, RECLAIMABLE or UNMOVABLE."""
    return (mask & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT if (mask & GFP_MOVABLE_MASK) != GFP_MOVABLE_MASK \
        else MIGRATE_UNMOVABLE


def gfp_compaction_allowed(mask: int) -> bool:
    """include/linux/gfp.h: compaction needs __GFP_IO."""
    return bool(mask & __GFP_IO)

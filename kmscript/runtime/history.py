"""Names the textbook era used that Linux 6.18 no longer has: what each became, and when.

What it models: the renames and removals a reader of Linux Kernel Development (written
against 2.6.34) and notes taken from it meets when typing those names into a 6.18 kernel.
Each entry names today's equivalent - an expression over 6.18 names - or says that nothing
equivalent exists, the kernel version whose merge window changed it, and the commit that
did it (subject and abbreviated id of torvalds/linux), so that the claim can be checked.

Invariant: an entry with an equivalent evaluates, in 6.18 terms, to what the old name
meant for the allocator; an entry without one is rejected with its note.  No entry names
something 6.18 still has (a test checks this against the GFP and SLAB tables), and
did-you-mean consults this table before guessing by spelling, so ``__GFP_WAIT`` explains
itself instead of suggesting ``__GFP_WRITE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .gfp import GFP_KERNEL, __GFP_FS, __GFP_IO, __GFP_RECLAIM, __GFP_RETRY_MAYFAIL


@dataclass(frozen=True, slots=True)
class Historical:
    name: str
    today: str | None        # 6.18 spelling of the equivalent, None: nothing equivalent
    value: int | None        # its value (flags) when it is a constant with an equivalent
    version: str             # the kernel release whose merge window changed it
    change: str              # what happened, with the commit
    kind: str = "gfp"        # gfp | slab | function

    def note(self) -> str:
        """The one-line note: today's equivalent (or none) and the version that changed it."""
        if self.today is None:
            return f"{self.name} was removed in Linux {self.version} ({self.change}); nothing replaces it"
        if self.kind == "function":
            return (f"{self.name} was replaced by {self.today} in Linux {self.version} ({self.change}); "
                    "kmscript does not model it")
        return f"{self.name} is {self.today} since Linux {self.version} ({self.change})"


def _h(name: str, today: str | None, value: int | None, version: str, change: str, kind: str = "gfp") -> Historical:
    return Historical(name, today, value, version, change, kind)


# SLAB flag values are the 6.18 ones of include/linux/slab.h, looked up by the caller
# (the SLAB table lives with the slab allocator); only their names are recorded here.
HISTORICAL: dict[str, Historical] = {h.name: h for h in (
    # include/linux/gfp.h before 4.4: __GFP_WAIT meant "can sleep"; mm, page_alloc: "distinguish
    # between being unable to sleep, unwilling to sleep and avoiding waking kswapd" (d0164adc89f6)
    # and "rename __GFP_WAIT to __GFP_RECLAIM" (71baba4b92dc) split it into direct/kswapd reclaim.
    _h("__GFP_WAIT", "__GFP_RECLAIM", __GFP_RECLAIM, "4.4",
       "71baba4b92dc \"mm, page_alloc: rename __GFP_WAIT to __GFP_RECLAIM\"; blocking is now "
       "__GFP_DIRECT_RECLAIM"),
    _h("__GFP_NO_KSWAPD", None, None, "4.4",
       "d0164adc89f6 \"mm, page_alloc: distinguish between being unable to sleep, unwilling to sleep and "
       "avoiding waking kswapd\"; clear __GFP_KSWAPD_RECLAIM instead"),
    _h("GFP_IOFS", "__GFP_IO | __GFP_FS", __GFP_IO | __GFP_FS, "4.4",
       "\"mm, page_alloc: remove GFP_IOFS\" in the same series"),
    _h("__GFP_NOACCOUNT", None, None, "4.5",
       "a9bb7e620efd \"memcg: only account kmem allocations marked as __GFP_ACCOUNT\"; accounting is opt-in"),
    _h("__GFP_OTHER_NODE", None, None, "4.10", "41b6167e8f74 \"mm: get rid of __GFP_OTHER_NODE\""),
    _h("__GFP_REPEAT", "__GFP_RETRY_MAYFAIL", __GFP_RETRY_MAYFAIL, "4.13",
       "dcda9b04713c \"mm, tree wide: replace __GFP_REPEAT by __GFP_RETRY_MAYFAIL with more useful semantic\""),
    _h("GFP_TEMPORARY", "GFP_KERNEL", GFP_KERNEL, "4.14",
       "0ee931c4e31a \"mm: treewide: remove GFP_TEMPORARY allocation flag\"; it was GFP_KERNEL | "
       "__GFP_RECLAIMABLE"),
    _h("__GFP_COLD", None, None, "4.15",
       "453f85d43fa9 \"mm: remove __GFP_COLD\"; the pcp lists no longer keep hot and cold ends"),
    _h("__GFP_NOTRACK", None, None, "4.15",
       "4675ff05de2d \"kmemcheck: rip it out\"; KASAN/KMSAN need no per-allocation opt-out"),
    _h("__GFP_NOTRACK_FALSE_POSITIVE", None, None, "4.15", "4675ff05de2d \"kmemcheck: rip it out\""),
    _h("__GFP_ATOMIC", None, None, "6.3",
       "2973d8229b78 \"mm: discard __GFP_ATOMIC\"; an allocation is atomic when it lacks "
       "__GFP_DIRECT_RECLAIM, and GFP_ATOMIC is __GFP_HIGH | __GFP_KSWAPD_RECLAIM"),
    # include/linux/slab.h
    _h("SLAB_DESTROY_BY_RCU", "SLAB_TYPESAFE_BY_RCU", None, "4.12",
       "5f0d5a3ae7cf \"mm: Rename SLAB_DESTROY_BY_RCU to SLAB_TYPESAFE_BY_RCU\"", "slab"),
    _h("SLAB_DEBUG_FREE", "SLAB_CONSISTENCY_CHECKS", None, "4.6",
       "becfda68abca \"slub: convert SLAB_DEBUG_FREE to SLAB_CONSISTENCY_CHECKS\"", "slab"),
    _h("SLAB_NOTRACK", None, None, "4.15", "4675ff05de2d \"kmemcheck: rip it out\"", "slab"),
    # functions
    _h("alloc_bootmem", "memblock_alloc", None, "4.20",
       "355c45affca7 \"mm: remove bootmem allocator implementation\"", "function"),
)}

# include/linux/mmzone.h: enum zone_type's names, as the notes write them, and the name
# /proc/zoneinfo prints (zone_names[] in mm/page_alloc.c) that zone() takes.
ZONE_ALIASES = {"ZONE_DMA": "DMA", "ZONE_DMA32": "DMA32", "ZONE_NORMAL": "Normal", "ZONE_HIGHMEM": "HighMem",
                "ZONE_MOVABLE": "Movable", "ZONE_DEVICE": "Device", "HIGHMEM": "HighMem"}


def historical(name: str) -> Historical | None:
    return HISTORICAL.get(name)


def zone_name_of(name: str) -> str:
    """``ZONE_NORMAL`` -> ``Normal`` (the name /proc/zoneinfo prints); other names unchanged."""
    return ZONE_ALIASES.get(name, ZONE_ALIASES.get(name.upper(), name))

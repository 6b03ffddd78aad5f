"""Page-table shapes as data: the levels an architecture's MMU walks.

A ``Paging`` lists the levels that have tables of their own, top (the PGD) first, each
with the address bits it translates (``shift``: the entry at that level maps 1 << shift
bytes) and its entries per table.  Levels the configuration folds away (p4d on 4-level
x86_64, p4d/pud on i386 PAE, p4d/pud/pmd on classic i386) are named in ``folded``: the
kernel's generic walk still passes through them (include/asm-generic/pgtable-nop4d.h,
pgtable-nopud.h, pgtable-nopmd.h), but they are the entry of the level above and take
no page.

Sources: arch/x86/include/asm/pgtable_64_types.h (PGDIR_SHIFT 39 / 48, P4D_SHIFT 39,
PUD_SHIFT 30, PMD_SHIFT 21, PTRS_PER_* 512), pgtable-2level_types.h (PGDIR_SHIFT 22,
PTRS_PER_PGD/PTE 1024, 4-byte entries), pgtable-3level_types.h (PAE: PGDIR_SHIFT 30,
PTRS_PER_PGD 4, PMD_SHIFT 21, 8-byte entries), arch/x86/include/asm/pgtable_types.h
(_PAGE_PRESENT ... _PAGE_NX), arch/x86/include/asm/pgalloc.h (PGD_ALLOCATION_ORDER: 1
with CONFIG_MITIGATION_PAGE_TABLE_ISOLATION, which allocates the user PGD next to the
kernel one).

``mm_pgtables_bytes`` (include/linux/mm.h: mm_inc_nr_ptes/pmds/puds) counts PTE, PMD and
PUD tables of the levels that exist, each PTRS_PER_x * sizeof(entry) bytes; the PGD and
P4D tables are not counted.  ``counted`` says which levels are.

Invariant: the shifts descend by log2(ptrs) of the level below, ending at PAGE_SHIFT.
"""

from __future__ import annotations

from dataclasses import dataclass

# arch/x86/include/asm/pgtable_types.h: the bits the model sets and shows
_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
_PAGE_NX = 1 << 63
# _KERNPG_TABLE | _PAGE_USER: what an upper-level entry pointing at a user table holds
_PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY

PTE_FLAG_NAMES = ((_PAGE_PRESENT, "P"), (_PAGE_RW, "RW"), (_PAGE_USER, "US"), (_PAGE_ACCESSED, "A"),
                  (_PAGE_DIRTY, "D"), (_PAGE_NX, "NX"))


@dataclass(frozen=True, slots=True)
class PagingLevel:
    """One level with tables of its own."""

    name: str     # "pgd", "p4d", "pud", "pmd", "pte"
    shift: int    # an entry of this level maps 1 << shift bytes
    ptrs: int     # PTRS_PER_x: entries per table


@dataclass(frozen=True, slots=True)
class Paging:
    """The page-table shape of one paging mode (see the module docstring)."""

    name: str                          # "4-level", "5-level", "2-level", "3-level (PAE)"
    levels: tuple[PagingLevel, ...]    # top first; the last is the PTE level
    folded: tuple[str, ...]            # levels folded into the one above
    entry_size: int                    # sizeof(pte_t) == sizeof(pmd_t) ...
    pgd_order: int                     # PGD_ALLOCATION_ORDER
    nx: bool                           # entries have the NX bit (bit 63)

    @property
    def pte_shift(self) -> int:
        return self.levels[-1].shift

    @property
    def va_bits(self) -> int:
        """Virtual address bits the walk translates (48 with 4 levels, 57 with 5, 32)."""
        top = self.levels[0]
        return top.shift + (top.ptrs.bit_length() - 1)

    def counted(self, depth: int) -> bool:
        """Does a table at levels[depth] count in mm_pgtables_bytes?"""
        return depth > 0 and self.levels[depth].name != "p4d"

    def table_bytes(self, depth: int) -> int:
        level = self.levels[depth]
        return level.ptrs * self.entry_size

    def index(self, depth: int, addr: int) -> int:
        level = self.levels[depth]
        return (addr >> level.shift) & (level.ptrs - 1)


_PTE = PagingLevel("pte", 12, 512)
_PMD = PagingLevel("pmd", 21, 512)
_PUD = PagingLevel("pud", 30, 512)

X86_64_4LEVEL = Paging(
    name="4-level", levels=(PagingLevel("pgd", 39, 512), _PUD, _PMD, _PTE), folded=("p4d",),
    entry_size=8, pgd_order=1, nx=True)

X86_64_5LEVEL = Paging(
    name="5-level", levels=(PagingLevel("pgd", 48, 512), PagingLevel("p4d", 39, 512), _PUD, _PMD, _PTE),
    folded=(), entry_size=8, pgd_order=1, nx=True)

# classic i386: the PGD maps 4 MiB per entry straight to 1024-entry PTE tables
I386_2LEVEL = Paging(
    name="2-level", levels=(PagingLevel("pgd", 22, 1024), PagingLevel("pte", 12, 1024)),
    folded=("p4d", "pud", "pmd"), entry_size=4, pgd_order=0, nx=False)

# i386 PAE: a 4-entry PGD (1 GiB each), 512-entry PMD and PTE tables of 8-byte entries
I386_PAE = Paging(
    name="3-level (PAE)", levels=(PagingLevel("pgd", 30, 4), _PMD, _PTE), folded=("p4d", "pud"),
    entry_size=8, pgd_order=0, nx=True)

PAGING_MODES = {p.name: p for p in (X86_64_4LEVEL, X86_64_5LEVEL, I386_2LEVEL, I386_PAE)}


def flag_names(entry: int) -> str:
    """The flag bits of an entry as ptdump-like letters ("P RW US A D NX")."""
    return " ".join(name for bit, name in PTE_FLAG_NAMES if entry & bit)

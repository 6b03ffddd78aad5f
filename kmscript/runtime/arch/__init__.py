"""Architectures as data: ``get_arch(name)`` returns the ``Arch`` description that
``machine(arch=...)`` selects: x86_64 (the verified machine) and i386 with
CONFIG_HIGHMEM4G (the textbook's), every allocator shared.
"""

from __future__ import annotations

from ..errors import KernelFault
from .model import Arch, physmem_limit
from .i386 import I386
from .x86_64 import X86_64, X86_64_LA57

ARCHES: dict[str, Arch] = {X86_64.name: X86_64, I386.name: I386}
DEFAULT_ARCH = X86_64.name


def get_arch(name: str) -> Arch:
    """The architecture called *name*, or a KernelFault naming the known ones."""
    try:
        return ARCHES[name]
    except KeyError:
        raise KernelFault(f"arch={name!r}: unknown architecture (known: {', '.join(sorted(ARCHES))})") from None


# machine(la57=true): the 5-level paging variant of an architecture that has one
LA57_VARIANTS: dict[str, Arch] = {X86_64.name: X86_64_LA57}


def with_la57(arch: Arch) -> Arch:
    """The 5-level paging variant of *arch*, or a KernelFault when it has none."""
    try:
        return LA57_VARIANTS[arch.name]
    except KeyError:
        raise KernelFault(f"la57=true: {arch.description} has no 5-level paging") from None


__all__ = ["ARCHES", "DEFAULT_ARCH", "Arch", "I386", "X86_64", "get_arch", "physmem_limit", "with_la57"]

"""The objects whose attributes the allocation fast paths read on every page keep few
enough instance attributes for CPython (3.11) to store them inline in the object (a
class's shared-key dict holds at most 29 before it becomes an ordinary dict).  Past that,
every ``self.x`` in alloc_pages/free_pages/vmalloc falls back to a dict lookup and method
loads are no longer specialised: bench_vmalloc ran about 10% more interpreter
instructions per vmalloc+vfree pair when PageAllocator reached 32 attributes and
Vmalloc 30.  A new field belongs in a sub-object, or in place of an attribute that can
be derived."""
from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.machine import Machine, MachineConfig

INLINE_ATTRS_MAX = 29


def test_hot_objects_keep_their_attributes_inline() -> None:
    m = Machine(MachineConfig(cpus=2, mem=8 << 30))
    m.vmalloc.vfree(m.vmalloc.vmalloc_gfp(64 << 10, GFP_KERNEL, 1, "test"))   # attributes set lazily count too
    for name, obj in (("Machine", m), ("PageAllocator", m.page_alloc), ("Vmalloc", m.vmalloc)):
        n = len(vars(obj))
        assert n <= INLINE_ATTRS_MAX, f"{name} has {n} instance attributes (at most {INLINE_ATTRS_MAX} stay inline)"

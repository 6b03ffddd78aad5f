"""Live slab objects (LiveObjects: a record id per object slot, records shared): random
kmalloc/kfree sequences, with double and interior-pointer frees, keep the live set equal to
a plain dict model, and the inlined kmalloc/kfree fast paths leave exactly the state the
generic slab_alloc/slab_free paths leave."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.machine import Machine, MachineConfig

SIZES = [8, 24, 64, 96, 100, 192, 512, 1000, 4096, 8192]
Op = tuple[int, int, int, int]  # (kind, size index, pick, caller)


def run(ops: list[Op], generic: bool) -> tuple[list[int | None], list[tuple[int, tuple[str, int]]], str, str]:
    m = Machine(MachineConfig(mem=256 << 20, cpus=2))
    sa, km = m.slab, m.kmalloc
    model: dict[int, tuple[str, int]] = {a: rec for a, rec in sa.live.items()}
    got: list[int | None] = []
    ptrs: list[int] = []
    for kind, si, pick, caller_no in ops:
        caller = f"t.kms:{caller_no}"
        m.ctx.cpu = pick % 2
        size = SIZES[si]
        if kind == 0 or not ptrs:
            if generic:
                p = sa.slab_alloc(km.kmalloc_slab(size, GFP_KERNEL), GFP_KERNEL, caller, size, True)
            else:
                p = km.kmalloc(size, GFP_KERNEL, caller)
            got.append(p)
            assert p is not None
            ptrs.append(p)
            model[p] = (caller, size)
        else:
            p = ptrs[pick % len(ptrs)]
            if kind == 1:  # a good free
                ptrs.remove(p)
                del model[p]
            elif kind == 2:  # an interior pointer: reported, ignored
                p += 1
            # kind 3: a double free when p was freed before (p stays in ptrs otherwise)
            elif p in model:
                ptrs.remove(p)
                del model[p]
            if generic:
                assert sa.slab_free(p, "kfree")
            else:
                km.kfree(p, "kfree")
        assert len(sa.live) == len(model)
    items = sa.live.items()
    assert dict(items) == model
    for a, rec in list(model.items())[:50]:
        assert a in sa.live and sa.live.get(a) == rec and a + 1 not in sa.live
    return got, items, m.views.slabinfo(), m.log.dmesg()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 1, 2, 3]), st.integers(0, len(SIZES) - 1),
                          st.integers(0, 10_000), st.integers(1, 3)), min_size=1, max_size=200))
def test_fast_paths_match_generic_paths_and_a_dict_model(ops: list[Op]) -> None:
    assert run(ops, generic=False) == run(ops, generic=True)


def test_records_are_shared_per_call_site_and_size() -> None:
    m = Machine(MachineConfig(mem=256 << 20, cpus=1))
    live = m.slab.live
    before = len(live.records)
    ptrs = [m.kmalloc.kmalloc(64, GFP_KERNEL, "leak.kms:3") for _ in range(1000)]
    ptrs += [m.kmalloc.kmalloc(50, GFP_KERNEL, "leak.kms:4") for _ in range(1000)]
    assert len(live.records) == before + 2
    assert live.get(ptrs[0]) == ("leak.kms:3", 64) and live.get(ptrs[-1]) == ("leak.kms:4", 50)
    report = m.views.leak_report()
    assert "kmemleak: 2000 new suspected memory leaks" in report
    assert "leak.kms:3: 1000 objects, 64000 bytes (kmalloc-64)" in report

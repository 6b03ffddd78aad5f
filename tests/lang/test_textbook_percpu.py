"""Issue 16 item 1: the design card's line runs verbatim; DEFINE_PER_CPU(type, name).

include/linux/percpu-defs.h: DEFINE_PER_CPU(type, name) defines a zero-initialised
``__typeof__(type)`` in .data..percpu; ``percpu NAME++`` on an undeclared name is the
same as DEFINE_PER_CPU(long, NAME) followed by this_cpu_inc(NAME).
"""

from __future__ import annotations

import pytest

from kmscript.lang import ast as A
from kmscript.lang.parser import parse
from tests.conftest import run_script

DESIGN_CARD = "cache inode = create(size=600, align=64); x = kmalloc(50, GFP_ATOMIC); cpu 2 < percpu ctx++ >"


def ok(src: str) -> list[str]:
    out, err, _ = run_script(src)
    assert err is None, err.render()
    return out


def test_design_card_line_runs_verbatim() -> None:
    out, err, s = run_script(DESIGN_CARD)
    assert err is None, err.render()
    m = s.machine
    assert [m.percpu.per_cpu("ctx", c) for c in range(m.nr_cpus)] == [0, 0, 1, 0]


def test_design_card_line_means_what_it_says() -> None:
    ok(DESIGN_CARD + """
assert per_cpu(ctx, 2) == 1
assert percpu_sum(ctx) == 1
assert inode.object_size == 600
assert ksize(x) == 64
cpu 2 < percpu ctx += 5 >
cpu 1 < percpu ctx -= 3 >
assert per_cpu(ctx, 2) == 6 and per_cpu(ctx, 1) == -3
""")


def test_percpu_aug_on_undeclared_name_defines_a_long() -> None:
    ok("""
cpu 0 < percpu fresh += 4 >
DEFINE_PER_CPU(char, after)
assert per_cpu_addr(after, 0) - per_cpu_addr(fresh, 0) == 8   # sizeof(long) on x86_64
assert per_cpu(fresh, 0) == 4 and per_cpu(fresh, 1) == 0
""")


def test_define_per_cpu_statement_parses_with_multiword_and_pointer_types() -> None:
    assert parse("DEFINE_PER_CPU(int, my_counter)").body == (A.PercpuDef("my_counter", None, ctype="int"),)
    assert parse("DEFINE_PER_CPU(unsigned long, x) = 3").body == (
        A.PercpuDef("x", A.Num(3), ctype="unsigned long"),)
    assert parse("DEFINE_PER_CPU(struct page *, p)").body == (A.PercpuDef("p", None, ctype="struct page *"),)


@pytest.mark.parametrize("ctype, size", [("int", 4), ("long", 8), ("unsigned long", 8), ("u8", 1),
                                         ("short", 2), ("long long", 8), ("void *", 8)])
def test_define_per_cpu_type_sets_the_size_on_x86_64(ctype: str, size: int) -> None:
    # The copy occupies sizeof(type) bytes: a second variable follows at the next naturally
    # aligned offset, and memory access sees exactly `size` bytes of the value.
    ok(f"""
DEFINE_PER_CPU({ctype}, a) = -1
DEFINE_PER_CPU(char, b)
assert per_cpu_addr(b, 0) - per_cpu_addr(a, 0) == {size}
assert per_cpu(a, 3) == -1 and per_cpu(b, 3) == 0
""")


def test_define_per_cpu_int_memory_is_four_bytes() -> None:
    _, err, s = run_script("DEFINE_PER_CPU(int, c) = 258")
    assert err is None
    m = s.machine
    a = m.percpu.var_addr("c", 1)
    assert m.mem.read(a, 4) == (258).to_bytes(4, "little")
    m.mem.write(a, b"\xff\xff\xff\xff")
    assert m.percpu.per_cpu("c", 1) == -1


def test_define_per_cpu_rejects_aggregates_and_redefinition() -> None:
    _, err, _ = run_script("DEFINE_PER_CPU(struct foo, z)")
    assert err is not None and "scalar per-cpu types only" in err.render() and ":1:1:" in err.render()
    _, err, _ = run_script("DEFINE_PER_CPU(int, z)\nDEFINE_PER_CPU(int, z)")
    assert err is not None and "already defined" in err.render() and ":2:1:" in err.render()

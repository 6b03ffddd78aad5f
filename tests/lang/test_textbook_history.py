"""Issue 16 item 5: the textbook era's names resolve to their 6.18 equivalent with a
one-line note, or are rejected with that note (kmscript/runtime/history.py)."""

from __future__ import annotations

import re

import pytest

from kmscript.lang import vocabulary
from kmscript.runtime.history import HISTORICAL
from tests.conftest import run_script


@pytest.mark.parametrize("name", sorted(n for n, h in HISTORICAL.items() if h.kind in ("gfp", "slab")))
def test_every_historical_flag_resolves_or_explains_itself(name: str) -> None:
    h = HISTORICAL[name]
    out, err, s = run_script(f"x = {name}\nprint(x)")
    if h.today is None:
        assert err is not None
        msg = err.render()
        assert f"{name} was removed in Linux {h.version}" in msg and "nothing replaces it" in msg
        assert "t.kms:1:5:" in msg
    else:
        assert err is None, err.render()
        # the value is today's equivalent, evaluated through the language
        out2, err2, _ = run_script(f"print({h.today})")
        assert err2 is None and out == out2
        assert s.notes == [f"t.kms:1:5: note: {name} is {h.today} since Linux {h.version} ({h.change})"]


def test_no_historical_name_is_a_6_18_name_and_every_equivalent_is() -> None:
    consts = vocabulary.constants()
    names = set(consts) | set(vocabulary.builtins())
    for name, h in HISTORICAL.items():
        assert name not in names, f"{name} still exists in 6.18"
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", h.version), h.version
        if h.kind in ("gfp", "slab") and h.today is not None:
            for part in h.today.split(" | "):
                assert part in consts, f"{name}: equivalent {part} is not a 6.18 name"


def test_did_you_mean_consults_the_history_table() -> None:
    _, err, _ = run_script("x = kmalloc(10, GFP_KERNEL | __GFP_COLD)")
    assert err is not None
    msg = err.render()
    assert "__GFP_COMP" not in msg and "Linux 4.15" in msg
    _, err, _ = run_script("x = __GFP_WAITT")
    assert err is not None and "did you mean '__GFP_WAIT'" in err.render()


def test_historical_flag_allocates_like_its_equivalent_and_notes_once() -> None:
    out, err, s = run_script("""
a = kmalloc(64, GFP_KERNEL | __GFP_WAIT)
b = kmalloc(64, GFP_KERNEL | __GFP_WAIT)
assert a != NULL and b != NULL
assert (GFP_TEMPORARY & __GFP_DIRECT_RECLAIM) != 0
""")
    assert err is None, err.render()
    assert [n.split(": note: ")[1].split(" since")[0] for n in s.notes] == [
        "__GFP_WAIT is __GFP_RECLAIM", "GFP_TEMPORARY is GFP_KERNEL"]


def test_slab_flag_renames_reach_the_cache() -> None:
    _, err, s = run_script("""
c = kmem_cache_create("old", 96, 0, SLAB_DESTROY_BY_RCU)
d = kmem_cache_create("new", 96, 0, SLAB_TYPESAFE_BY_RCU)
assert c.flags == d.flags
""")
    assert err is None, err.render()
    assert "SLAB_DESTROY_BY_RCU is SLAB_TYPESAFE_BY_RCU since Linux 4.12" in s.notes[0]


def test_zone_enum_names_and_highmem_on_x86_64() -> None:
    _, err, _ = run_script("assert zone(ZONE_NORMAL).managed == zone(Normal).managed\n"
                           "assert zone(ZONE_DMA32).name == \"DMA32\"")
    assert err is None, err.render()
    _, err, _ = run_script("z = zone(ZONE_HIGHMEM)")
    assert err is not None
    msg = err.render()
    assert "no ZONE_HIGHMEM" in msg and 'arch="i386"' in msg and "t.kms:1:5" in msg

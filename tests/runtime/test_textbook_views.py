"""Issue 16 item 6: the notes' pictures as views - `show slab CACHE` as full / partial /
empty slabs with the SLUB list each is on, `show page P` as dump_page() plus struct page."""

from __future__ import annotations

from tests.conftest import run_script


def _view(src: str) -> tuple[list[str], object]:
    out, err, s = run_script(src)
    assert err is None, err.render()
    return out, s


def _groups(lines: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    cur = ""
    for ln in lines:
        if ln.startswith("  ") and ln.strip().endswith(tuple("0123456789")) and " slabs: " in ln:
            cur = ln.strip().split()[0]
            groups[cur] = []
        elif ln.startswith("    slab pfn") and cur:
            groups[cur].append(ln)
    return groups


def test_show_slab_draws_full_partial_and_empty_with_their_slub_list() -> None:
    out, _ = _view("""
machine(cpus=2, mem=512M)
cache c = create(size=1024, flags=SLAB_NO_MERGE)
objs = []
repeat 48 { append(objs, kmem_cache_alloc(c)) }   # three full slabs of 16
repeat 16 { append(objs, kmem_cache_alloc(c)) }   # a fourth: the cpu slab, full
kmem_cache_free(c, objs[5])                        # slab 0 partial -> cpu partial list
cpu 1 < x = kmem_cache_alloc(c) ; kmem_cache_free(c, x) >   # cpu 1's slab: empty
show slab c
""")
    g = _groups(out)
    assert set(g) == {"full", "partial", "empty"}
    assert len(g["full"]) == 3 and all("inuse 16/16" in ln for ln in g["full"])
    on = sorted(ln.split("  on ")[1] for ln in g["full"])
    assert on == ["cpu0 slab (c->slab, frozen)"] + ["no list (SLUB does not track full slabs)"] * 2
    assert len(g["partial"]) == 1 and "inuse 15/16  on cpu0 partial list (c->partial)" in g["partial"][0]
    assert len(g["empty"]) == 1 and "inuse 0/16  on cpu1 slab (c->slab, frozen)" in g["empty"][0]


def test_show_slab_node_partial_and_debug_full_list() -> None:
    out, _ = _view("""
machine(cpus=1, mem=512M)
cache d = create(size=256, flags=SLAB_STORE_USER | SLAB_NO_MERGE)
objs = []
repeat 40 { append(objs, kmem_cache_alloc(d)) }
show slab d
""")
    g = _groups(out)
    # a debug cache with SLAB_STORE_USER keeps full slabs on the node full list (add_full)
    assert any("on node full list (n->full, debug cache)" in ln for ln in g["full"])


def test_show_page_prints_dump_page_and_struct_page_fields() -> None:
    out, s = _view("""
p = alloc_pages(GFP_KERNEL | __GFP_COMP, 2)
show page p
x = kmalloc(64, GFP_KERNEL)
show page x
""")
    text = "\n".join(out)
    m = s.machine  # type: ignore[attr-defined]
    first = out.index("struct page:")
    assert out[0].startswith("page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x")
    assert out[1] == "head: order:2 mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0"
    assert out[2].startswith("flags: head(node=0|zone=")
    for field in ("flags", "_refcount", "_mapcount", "private", "mapping", "index", "virtual"):
        assert any(ln.startswith(f"  {field} ") for ln in out[first:first + 9]), field
    assert "page_type: f5(slab)" in text and "owner      slab (kmalloc-64)" in text
    assert m is not None


def test_show_page_of_a_free_block_and_a_file_page() -> None:
    _, s = _view('file f = open("a.log")\nf.write(8192)')
    m = s.machine  # type: ignore[attr-defined]
    f = m.pagecache.open("a.log")
    pfn = f.pages[1]
    text = m.views.show_page(pfn)
    assert "index:0x1" in text and "mapping:0000000000000000" not in text
    assert 'mapping    the page cache (struct address_space) of "a.log"' in text and "flags: lru(" in text
    # a free buddy block's head: page_type buddy, private holds the order
    p = m.page_alloc.alloc_pages(0xCC0, 3)
    m.page_alloc.free_pages(p, 3)
    m.page_alloc.drain_all_pages()
    t = m.views.show_page(p)
    order = m.page_alloc.page_state(p)[2]   # merged with its buddies: order >= 3
    assert order >= 3
    assert "page_type: f0(buddy)" in t and f"private    {order} (buddy order)" in t and "flags: buddy(" in t

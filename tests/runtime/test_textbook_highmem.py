"""Issue 16 item 3 (the x86_64 part): the kmap family of a !CONFIG_HIGHMEM kernel
(include/linux/highmem-internal.h) returns page_address() and keeps its context rules."""

from __future__ import annotations

from tests.conftest import run_script


def test_kmap_family_returns_the_direct_map_address() -> None:
    out, err, _ = run_script("""
p = alloc_pages(GFP_KERNEL, 1)
q = pfn_to_page(page_to_pfn(p) + 1)
print(kmap(q) == page_address(q), kmap_local_page(q) == page_address(q))
a = kmap_atomic(q)
print(a == page_address(q), preempt_count(), pagefault_disabled())
kunmap_atomic(a)
print(preempt_count(), pagefault_disabled())
""")
    assert err is None, err.render()
    assert out == ["true true", "true 1 1", "0 0"]


def test_unbalanced_kunmap_atomic_is_an_error_at_the_call() -> None:
    _, err, _ = run_script("p = alloc_page(GFP_KERNEL)\nkunmap_atomic(page_address(p))")
    assert err is not None
    msg = err.render()
    assert "without a kmap_atomic" in msg and "t.kms:2:1" in msg


def test_kmap_is_no_longer_a_did_you_mean_for_vmap() -> None:
    _, err, _ = run_script("x = kmap(1)")
    assert err is not None and "vmap" not in err.render()


def test_get_free_pages_clears_gfp_highmem_as_the_kernel_does() -> None:
    # mm/page_alloc.c get_free_pages_noprof(): alloc_pages(gfp_mask & ~__GFP_HIGHMEM, order)
    out, err, _ = run_script("a = __get_free_pages(GFP_HIGHUSER, 0)\np = alloc_page(GFP_HIGHUSER)", trace=True)
    assert err is None, err.render()
    allocs = [ln for ln in out if "mm_page_alloc:" in ln]
    assert allocs[0].endswith("gfp_flags=GFP_USER") and allocs[1].endswith("gfp_flags=GFP_HIGHUSER")

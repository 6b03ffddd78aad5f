"""Fault injection: the kernel's should_fail_ex semantics on FaultInjector, and the `fail` statement."""

from __future__ import annotations

import pytest

from kmscript.errors import KmsError
from kmscript.runtime.fault_inject import FaultInjector
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.session import Session

GFP_KERNEL = 0xCC0
GFP_ATOMIC = 0x820
GFP_HIGHUSER = 0x140CCA
__GFP_NOWARN = 0x2000
__GFP_NOFAIL = 0x8000


class _Log:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def __call__(self, text: str, kind: str) -> None:
        self.records.append((text, kind))


def _fi(seed: int = 0) -> tuple[FaultInjector, _Log]:
    log = _Log()
    return FaultInjector(log, seed=seed), log


def test_nothing_armed_never_fails_and_costs_no_call() -> None:
    fi, log = _fi()
    assert not fi.active
    for _ in range(100):
        assert not fi.should_failslab("kmalloc-64", GFP_ATOMIC, True)
        assert not fi.should_fail_alloc_page(GFP_ATOMIC, 3)
    assert fi.calls == 0 and log.records == []


def test_kernel_defaults() -> None:
    fi, _ = _fi()
    for a in (fi.failslab, fi.fail_page_alloc):
        assert (a.probability, a.interval, a.times, a.space, a.verbose, a.task_filter) == (0, 1, 1, 0, 2, False)
        assert a.ignore_gfp_wait
    assert fi.fail_page_alloc.ignore_gfp_highmem and fi.fail_page_alloc.min_order == 1
    assert not fi.failslab.cache_filter


def test_times_counts_down_and_minus_one_is_unlimited() -> None:
    fi, log = _fi()
    fi.failslab.probability = 100
    fi.failslab.times = 2
    fi.update_active()
    got = [fi.should_failslab("c", GFP_ATOMIC, False) for _ in range(5)]
    assert got == [True, True, False, False, False]
    assert fi.failslab.times == 0 and fi.injected == 2
    fi.failslab.times = -1
    assert all(fi.should_failslab("c", GFP_ATOMIC, False) for _ in range(50))
    assert fi.failslab.times == -1


def test_fail_dump_text_is_the_kernels() -> None:
    fi, log = _fi()
    fi.failslab.probability = 100
    fi.failslab.verbose = 1
    fi.update_active()
    assert fi.should_failslab("inode", GFP_ATOMIC, False)
    text, kind = log.records[0]
    assert kind == "fault"
    # lib/fault-inject.c fail_dump prints times before decrementing it
    assert text == ("FAULT_INJECTION: forcing a failure.\n"
                    "name failslab, interval 1, probability 100, space 0, times 1")
    fi.failslab.verbose = 2
    fi.failslab.times = 1
    assert fi.should_failslab("inode", GFP_ATOMIC, False)
    assert "Call Trace:" in log.records[1][0] and "should_failslab" in log.records[1][0]


def test_nowarn_suppresses_the_report_but_still_fails() -> None:
    fi, log = _fi()
    fi.fail_page_alloc.probability = 100
    fi.update_active()
    assert fi.should_fail_alloc_page(GFP_ATOMIC | __GFP_NOWARN, 1)
    assert log.records == []


def test_filters_before_should_fail() -> None:
    fi, _ = _fi()
    fi.failslab.probability = 100
    fi.failslab.times = -1
    fi.fail_page_alloc.probability = 100
    fi.fail_page_alloc.times = -1
    fi.update_active()
    assert not fi.should_failslab("c", GFP_KERNEL, False)  # ignore-gfp-wait=Y
    assert not fi.should_failslab("c", GFP_ATOMIC | __GFP_NOFAIL, False)
    assert not fi.should_failslab("kmem_cache", GFP_ATOMIC, False)  # bootstrap cache
    assert not fi.should_fail_alloc_page(GFP_ATOMIC, 0)  # min-order 1
    assert not fi.should_fail_alloc_page(GFP_HIGHUSER & ~0x400, 1)  # ignore-gfp-highmem
    assert not fi.should_fail_alloc_page(GFP_KERNEL, 2)
    assert fi.calls == 0
    fi.failslab.ignore_gfp_wait = False
    fi.fail_page_alloc.min_order = 0
    fi.fail_page_alloc.ignore_gfp_highmem = False
    fi.fail_page_alloc.ignore_gfp_wait = False
    assert fi.should_failslab("c", GFP_KERNEL, False)
    assert fi.should_fail_alloc_page(GFP_ATOMIC, 0)
    assert fi.should_fail_alloc_page(GFP_HIGHUSER, 1)


def test_cache_filter_and_kmalloc_only() -> None:
    fi, _ = _fi()
    a = fi.failslab
    a.probability, a.times, a.cache_filter = 100, -1, True
    a.failslab_caches.add("inode")
    fi.update_active()
    assert not fi.should_failslab("dentry", GFP_ATOMIC, False)
    assert fi.should_failslab("inode", GFP_ATOMIC, False)
    a.cache_filter = False
    a.kmalloc_only = True
    assert not fi.should_failslab("inode", GFP_ATOMIC, False)
    assert fi.should_failslab("kmalloc-64", GFP_ATOMIC, True)


def test_interval_fails_every_nth_eligible_call() -> None:
    fi, _ = _fi()
    a = fi.failslab
    a.probability, a.times, a.interval = 100, -1, 3
    fi.update_active()
    got = [fi.should_failslab("c", GFP_ATOMIC, False) for _ in range(9)]
    assert got == [False, False, True] * 3


def test_space_is_consumed_before_failures() -> None:
    fi, _ = _fi()
    a = fi.fail_page_alloc
    a.probability, a.times, a.space = 100, -1, 8  # 8 pages of space
    fi.update_active()
    assert not fi.should_fail_alloc_page(GFP_ATOMIC, 2)  # 4 pages: space 8 > 4 -> 4 left
    assert a.space == 4
    assert fi.should_fail_alloc_page(GFP_ATOMIC, 2)  # space 4 is not > 4


def test_probability_is_seeded_and_deterministic() -> None:
    def run(seed: int) -> list[bool]:
        fi, _ = _fi(seed)
        fi.failslab.probability = 30
        fi.failslab.times = -1
        fi.failslab.verbose = 0
        fi.update_active()
        return [fi.should_failslab("c", GFP_ATOMIC, False) for _ in range(400)]
    a, b, c = run(1), run(1), run(2)
    assert a == b
    assert a != c
    assert 80 < sum(a) < 160  # about 30 %


def test_per_attribute_nth() -> None:
    fi, _ = _fi()
    fi.failslab.nth = 3
    fi.update_active()
    got = [fi.should_failslab("c", GFP_ATOMIC, True) for _ in range(6)]
    assert got == [False, False, True, False, False, False]
    assert not fi.active


def test_task_fail_nth_counts_both_attributes() -> None:
    fi, _ = _fi()
    fi.set_task_fail_nth(3)
    assert not fi.should_failslab("c", GFP_ATOMIC, False)
    assert not fi.should_fail_alloc_page(GFP_ATOMIC, 1)
    assert fi.should_fail_alloc_page(GFP_ATOMIC, 1)
    assert fi.task_fail_nth == 0 and not fi.active
    assert fi.sites == ["fail_page_alloc: __alloc_pages_noprof order:1"]


def test_task_filter_uses_make_it_fail() -> None:
    m = Machine(MachineConfig(mem=1 << 30, cpus=2))
    fi = m.faults
    fi.failslab.probability, fi.failslab.times, fi.failslab.task_filter = 100, -1, True
    fi.update_active()
    assert not fi.should_failslab("c", GFP_ATOMIC, False)
    fi.make_it_fail.add(m.ctx.current.pid)
    assert fi.should_failslab("c", GFP_ATOMIC, False)
    snap = m.ctx.enter_hardirq()
    try:
        assert not fi.should_failslab("c", GFP_ATOMIC, False)  # in_task() is false in an interrupt
    finally:
        m.ctx.restore(snap)


def _run(text: str) -> tuple[list[str], KmsError | None]:
    out: list[str] = []
    s = Session(out=out.append)
    try:
        s.run_text(text, "f.kms")
    except KmsError as e:
        return out, e
    return out, None


def test_fail_statement_kmalloc_nth() -> None:
    out, err = _run("fail kmalloc nth=2 ignore_gfp_wait=false verbose=1\n"
                    "a = kmalloc(50)\nb = kmalloc(50)\nc = kmalloc(50)\n"
                    "assert a != NULL && b == NULL && c != NULL\nprint(fault_stats(), fault_stats(slab))\n")
    assert err is None, err
    assert out[-1] == "1 1"
    assert any(line.endswith("FAULT_INJECTION: forcing a failure.") for line in out)


def test_fail_statement_cache_filter_and_off() -> None:
    out, err = _run("cache inode = create(size=600, align=64)\n"
                    "fail slab caches=inode times=1 verbose=0\n"
                    "x = kmalloc(64, GFP_ATOMIC)\n"
                    "a = kmem_cache_alloc(inode, GFP_ATOMIC)\n"
                    "b = kmem_cache_alloc(inode, GFP_ATOMIC)\n"
                    "assert x != NULL && a == NULL && b != NULL\n"
                    "fail slab probability=100 times=-1 ignore_gfp_wait=false\n"
                    "fail off\n"
                    "assert kmem_cache_alloc(inode) != NULL\n")
    assert err is None, err
    assert out == []


def test_fail_statement_same_seed_same_failures() -> None:
    script = ("fail kmalloc probability=50 times=-1 verbose=0\n"
              "n = 0\nrepeat 200 { if kmalloc(32, GFP_ATOMIC) == NULL { n += 1 } }\nprint(n)\n")
    a, ea = _run(script)
    b, eb = _run(script)
    assert ea is None and eb is None
    assert a == b and 50 < int(a[0]) < 150


@pytest.mark.parametrize(("stmt", "msg"), [
    ("fail bogus", "unknown fault kind 'bogus'"),
    ("fail page_alloc probability=200", "percentage"),
    ("fail slab min_order=1", "unknown option 'min_order'"),
    ("fail page_alloc times=-2", "must be >= -1"),
    ("fail any", "give nth=N"),
])
def test_fail_statement_errors(stmt: str, msg: str) -> None:
    _out, err = _run(stmt + "\n")
    assert err is not None and msg in err.message


def test_show_faults_lists_debugfs_knobs() -> None:
    out, err = _run("fail page_alloc probability=10 interval=2 times=5 min_order=0\nshow faults\n")
    assert err is None, err
    text = "\n".join(out)
    assert "/sys/kernel/debug/fail_page_alloc/" in text
    for needle in ("probability          10", "interval             2", "times                5",
                   "min-order            0", "ignore-gfp-wait      Y"):
        assert needle in text


def test_task_filter_from_a_script() -> None:
    out, err = _run("fail slab task_filter=true times=-1 verbose=0\n"
                    "assert kmalloc(64, GFP_ATOMIC) != NULL\n"
                    "fail make_it_fail\n"
                    "assert kmalloc(64, GFP_ATOMIC) == NULL\n"
                    "fail make_it_fail on=false\n"
                    "assert kmalloc(64, GFP_ATOMIC) != NULL\n")
    assert err is None, err


def test_fail_kind_off_and_fail_off_reset() -> None:
    out, err = _run("fail page_alloc times=-1 min_order=0 verbose=0\n"
                    "assert alloc_pages(GFP_ATOMIC, 0) == NULL\n"
                    "fail page_alloc off=true\n"
                    "assert alloc_pages(GFP_ATOMIC, 0) != NULL\n"
                    "fail slab caches=inode_x times=-1\n"
                    "fail off\n"
                    "show faults\n"
                    "print(fault_stats(page_alloc))\n")
    assert err is None, err
    text = "\n".join(out)
    assert "cache-filter         N" in text and "min-order            1" in text
    assert out[-1] == "1"  # the counters survive `fail off`

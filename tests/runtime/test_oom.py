"""OOM killer: badness, /proc/PID/oom_score, victim choice, invoke rules and messages."""

from __future__ import annotations

import re

import pytest

from kmscript.runtime.errors import KernelPanic
from kmscript.runtime.gfp import (GFP_DMA32, GFP_KERNEL, GFP_NOFS, GFP_NOIO, __GFP_NORETRY,
                                  __GFP_RETRY_MAYFAIL, __GFP_THISNODE)
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.oom import OomKiller
from kmscript.runtime.task import c_div

MiB = 1 << 20


def boot(mem: int = 256 * MiB, **kw: object) -> Machine:
    return Machine(MachineConfig(mem=mem, cpus=2, **kw))  # type: ignore[arg-type]


def score(badness: int, totalpages: int) -> int:
    """proc_oom_score's arithmetic, written out independently of the runtime."""
    x = badness * 1000
    q = abs(x) // totalpages
    q = q if x >= 0 else -q
    return (1000 + q) * 2 // 3


def test_c_div_truncates_toward_zero() -> None:
    assert c_div(7, 2) == 3
    assert c_div(-7, 2) == -3
    assert c_div(7, -2) == -3
    assert c_div(-7, -2) == 3


def test_oom_score_matches_the_verified_machine() -> None:
    # facts §10.1: a 300 MB process on a machine with totalpages 6171023 scored 1342, 1008,
    # 676 and 675 with oom_score_adj 1000, 500, 1 and 0.  81000 points (76800 anon pages of
    # the 300 MB plus its libraries and page tables) reproduces all four with the formula.
    total = 6171023
    for adj, want in ((1000, 1342), (500, 1008), (1, 676), (0, 675)):
        badness = 81000 + adj * (total // 1000)
        assert score(badness, total) == want
        assert c_div((1000 + c_div(badness * 1000, total)) * 2, 3) == want


def test_badness_hand_worked() -> None:
    m = boot()
    t = m.tasks.spawn("worker", 0)
    assert t is not None
    assert t.fault(1000 * 4096) == 1000 * 4096
    # 1000 pages need 2 PTE tables, 1 PMD page and 1 PUD page: 4 pages of page tables
    assert t.pgtables == 4 * 4096
    totalpages = m.oom.totalpages()
    assert totalpages == sum(z.managed_pages for z in m.page_alloc.zones)
    assert m.oom.oom_badness(t, totalpages) == 1000 + 4
    t.set_oom_score_adj(500)
    assert m.oom.oom_badness(t, totalpages) == 1004 + 500 * (totalpages // 1000)
    t.set_oom_score_adj(-300)
    assert m.oom.oom_badness(t, totalpages) == 1004 - 300 * (totalpages // 1000)
    assert t.oom_score == score(1004 - 300 * (totalpages // 1000), totalpages)
    t.set_oom_score_adj(-1000)
    assert m.oom.oom_badness(t, totalpages) is None
    assert t.oom_score == 0


def test_init_is_unkillable() -> None:
    m = boot()
    assert m.oom.oom_badness(m.tasks.init, m.oom.totalpages()) is None


def test_victim_is_the_biggest_and_ties_go_to_the_later_task() -> None:
    m = boot()
    a = m.tasks.spawn("a", 0)
    b = m.tasks.spawn("b", 0)
    c = m.tasks.spawn("c", 0)
    assert a and b and c
    a.fault(10 * MiB)
    b.fault(10 * MiB)
    c.fault(4 * MiB)
    victim, points = m.oom.select_bad_process(m.oom.totalpages())
    assert victim is b  # a and b tie: the later one wins
    assert points == 2560 + 7  # page tables for 2560 pages: 5 PTE tables + 1 PMD + 1 PUD
    c.set_oom_score_adj(1000)
    assert m.oom.select_bad_process(m.oom.totalpages())[0] is c
    a.set_oom_score_adj(-1000)
    b.set_oom_score_adj(-1000)
    c.set_oom_score_adj(-1000)
    assert m.oom.select_bad_process(m.oom.totalpages())[0] is None


@pytest.mark.parametrize("gfp,order", [
    (GFP_KERNEL, 4),                      # costly order: the OOM killer does not help
    (GFP_KERNEL | __GFP_RETRY_MAYFAIL, 0),
    (GFP_KERNEL | __GFP_THISNODE, 0),
    (GFP_KERNEL | __GFP_NORETRY, 0),
    (GFP_KERNEL | GFP_DMA32, 0),          # lowmem OOM is skipped
])
def test_do_not_invoke(gfp: int, order: int) -> None:
    m = boot()
    t = m.tasks.spawn("victim", 0)
    assert t is not None
    t.fault(MiB)
    assert m.oom.out_of_memory(gfp, order) is False
    assert t.alive and m.vmstat.oom_kill == 0
    assert not any(r.kind == "oom" for r in m.log.records)


@pytest.mark.parametrize("gfp", [GFP_NOFS, GFP_NOIO])
def test_nofs_reports_progress_without_killing(gfp: int) -> None:
    m = boot()
    t = m.tasks.spawn("victim", 0)
    assert t is not None
    t.fault(MiB)
    assert m.oom.out_of_memory(gfp, 0) is True
    assert t.alive and m.vmstat.oom_kill == 0


def test_kill_messages_and_memory_freed() -> None:
    m = boot()
    t = m.tasks.spawn("hog", 0)
    assert t is not None
    t.fault(8 * MiB)
    free_before = sum(z.free_pages + z.pcp_count for z in m.page_alloc.zones)
    assert m.oom.out_of_memory(GFP_KERNEL, 0) is True
    assert not t.alive and t.oom_killed
    assert m.vmstat.oom_kill == 1
    text = m.log.dmesg()
    assert "kmscript invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0" in text
    assert "Mem-Info:" in text
    assert "Tasks state (memory values in pages):" in text
    assert ("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes "
            "swapents oom_score_adj name") in text
    # 2048 pages, 4 PTE tables + PMD + PUD = 6 pages = 24576 bytes of page tables
    row = f"[{t.pid:7d}]     0 {t.pid:5d}     2048     2048     2048        0         0    24576        0" \
          "             0 hog"
    assert row in text
    assert (f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
            f"task_memcg=/,task=hog,pid={t.pid},uid=0") in text
    kill = [r for r in m.log.records if r.kind == "oom"]
    assert len(kill) == 1
    assert kill[0].text == (f"Out of memory: Killed process {t.pid} (hog) total-vm:8192kB, anon-rss:8192kB, "
                            f"file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:24kB oom_score_adj:0")
    assert f"oom_reaper: reaped process {t.pid} (hog), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB" in text
    free_after = sum(z.free_pages + z.pcp_count for z in m.page_alloc.zones)
    # data pages, page tables and the PGD (order 1) are back; the stack goes to the cache
    assert free_after - free_before >= 2048 + 6 + 2


def test_no_killable_process_panics() -> None:
    m = boot()
    t = m.tasks.spawn("sshd", -1000)
    assert t is not None
    t.fault(MiB)
    with pytest.raises(KernelPanic):
        m.oom.out_of_memory(GFP_KERNEL, 0)
    kinds = [r.kind for r in m.log.records]
    assert "panic" in kinds
    text = m.log.dmesg()
    assert "Out of memory and no killable processes..." in text
    assert "Kernel panic - not syncing: System is deadlocked on memory" in text
    assert t.alive


def test_panic_on_oom() -> None:
    m = boot()
    t = m.tasks.spawn("x", 0)
    assert t is not None
    t.fault(MiB)
    m.sysctls.set("vm.panic_on_oom", 1)
    with pytest.raises(KernelPanic):
        m.oom.out_of_memory(GFP_KERNEL, 0)
    assert "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled" in m.log.dmesg()
    m2 = boot()
    m2.sysctls.set("vm.panic_on_oom", 2)
    with pytest.raises(KernelPanic):
        m2.oom.out_of_memory(GFP_KERNEL, 0)
    assert "compulsory panic_on_oom is enabled" in m2.log.dmesg()


def test_oom_kill_allocating_task() -> None:
    m = boot()
    big = m.tasks.spawn("big", 0)
    small = m.tasks.spawn("small", 0)
    assert big and small
    big.fault(16 * MiB)
    small.fault(MiB)
    m.sysctls.set("vm.oom_kill_allocating_task", 1)
    saved = m.ctx.current
    m.ctx.current = small
    try:
        assert m.oom.out_of_memory(GFP_KERNEL, 0)
    finally:
        m.ctx.current = saved
    assert not small.alive and big.alive
    assert "Out of memory (oom_kill_allocating_task): Killed process" in m.log.dmesg()


def test_fault_until_oom_kills_the_right_victim() -> None:
    m = boot(128 * MiB)
    db = m.tasks.spawn("postgres", -800)
    leak = m.tasks.spawn("leaky", 0)
    assert db and leak
    assert db.fault(48 * MiB) == 48 * MiB
    got = leak.fault(512 * MiB)
    assert got < 512 * MiB
    assert not leak.alive and leak.oom_killed
    assert db.alive
    text = m.log.dmesg()
    assert re.search(r"leaky invoked oom-killer: gfp_mask=0x140cca\(GFP_HIGHUSER_MOVABLE\|__GFP_COMP\), "
                     r"order=0, oom_score_adj=0", text)
    assert f"Killed process {leak.pid} (leaky)" in text
    # postgres was bigger; its oom_score_adj -800 made the smaller task the victim
    assert db.rss > got


def test_sysctls_registered() -> None:
    m = boot()
    for name in ("vm.panic_on_oom", "vm.oom_kill_allocating_task", "vm.oom_dump_tasks"):
        assert name in m.sysctls.names()
    assert isinstance(m.oom, OomKiller)

"""The timeline sampler (runtime/timeline.py): values against the runtime's own figures
for known scenarios, events against the vmstat counters and the kernel log, bounded
memory, and no effect on what the machine does."""

from __future__ import annotations

from types import SimpleNamespace

from kmscript.runtime.events import Clock, EventQueue
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.printk import KernelLog
from kmscript.runtime.timeline import Timeline
from kmscript.runtime.vmstat import VmStat

from tests.conftest import run_script

MiB = 1 << 20


def _zone(m: Machine, name: str) -> object:
    return next(z for z in m.page_alloc.populated if z.name == name)


def test_samples_are_the_runtime_figures_of_a_fault() -> None:
    m = Machine(MachineConfig(mem=64 * MiB, cpus=2))
    tl = m.timeline
    boot = tl.samples()
    assert len(boot) == 1 and boot[0].zones[1].free == _zone(m, "DMA32").nr_free_pages   # type: ignore[attr-defined]
    t = m.tasks.spawn("filler")
    t.mm  # spawned
    m.tasks.fault(t, 20 * MiB)
    m.events.run_due()
    last = tl.sample()
    assert tl.zone_names == ("DMA", "DMA32")
    for zs, z in zip(last.zones, m.page_alloc.populated):
        assert (zs.free, zs.min, zs.low, zs.high) == (z.nr_free_pages, z.min, z.low, z.high)
    assert last.anon == m.vmstat.nr_anon_pages == 5120
    assert dict(last.rss)[t.pid] == t.rss // 4096 == 5120
    assert last.t_ns == m.clock.ns
    assert last.vmalloc == m.vmstat.nr_vmalloc_pages
    assert last.slab_unreclaimable == m.vmstat.nr_slab_unreclaimable_b // 4096
    samples = tl.samples()
    times = [s.t_ns for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times)
    # DMA32 ran below its low watermark during the fault: the slow path sampled it there
    # (the fast path above the watermarks is never sampled: 1 us of simulated time a page)
    mid = [s for s in samples[1:-1] if s.zones[1].free < s.zones[1].low]
    assert mid, samples
    # anonymous pages only grow during a fault, one per FAULT_NS (1 us)
    for s in samples[1:]:
        assert s.anon <= (s.t_ns - samples[0].t_ns) // 1000 + 1


def test_events_add_up_to_the_vmstat_counters_and_the_log() -> None:
    out, err, s = run_script("""
machine(mem=80M, cpus=2)
task db = spawn("postgres", oom_score_adj=-800)
db.fault(24M)
file backup = open("backup.tar")
backup.read(20M)
task worker = spawn("worker")
expect oom "worker" { worker.fault(256M) }
""")
    assert err is None, err
    m = s.machine
    tl = m.timeline
    tl.sample()
    ev = tl.events()
    by = {k: [e for e in ev if e.kind == k] for k in ("kswapd", "direct_reclaim", "oom_kill")}
    vm = m.vmstat
    assert sum(e.pages for e in by["kswapd"]) == vm.pgsteal_kswapd > 0
    assert sum(e.nr for e in by["kswapd"]) == m.reclaim.kswapd_runs
    assert sum(e.pages for e in by["direct_reclaim"]) == vm.pgsteal_direct > 0
    assert sum(e.nr for e in by["direct_reclaim"]) == vm.allocstall
    (kill,) = by["oom_kill"]
    worker = next(t for t in m.tasks.tasks.values() if t.comm == "worker")
    assert kill.text == f"OOM kill {worker.pid} (worker)"
    rec = next(r for r in m.log.records if "Killed process" in r.text)
    assert kill.t_ns == rec.ns
    # the state at the kill was sampled before the reaper freed the victim's pages
    at_kill = [smp for smp in tl.samples() if smp.t_ns == rec.ns]
    assert at_kill and dict(at_kill[0].rss)[worker.pid] * 4 == int(rec.text.split("anon-rss:")[1].split("kB")[0])
    assert worker.pid not in dict(tl.samples()[-1].rss)          # gone afterwards
    assert [e.t_ns for e in ev] == sorted(e.t_ns for e in ev)


def test_sampling_does_not_change_what_the_machine_does() -> None:
    """The same scenario with the sampler stopped at boot: same log, same final state."""
    script = """
machine(mem=80M, cpus=2)
task db = spawn("postgres", oom_score_adj=-800)
db.fault(24M)
file backup = open("backup.tar")
backup.read(20M)
msleep(5)
task worker = spawn("worker")
expect oom "worker" { worker.fault(256M) }
"""
    out_on, err_on, on = run_script(script)
    off_session = None

    def stopped(text: str) -> tuple[list[str], object, object]:
        from kmscript.session import Session
        lines: list[str] = []
        sess = Session(out=lines.append)
        sess.run_text("machine(mem=80M, cpus=2)")
        sess.machine.timeline.set_enabled(False)
        sess.run_text(text.replace("machine(mem=80M, cpus=2)\n", ""))
        return lines, None, sess

    out_off, err_off, off_session = stopped(script)
    assert err_on is None and err_off is None
    assert out_on == out_off
    assert on.machine.log.dmesg() == off_session.machine.log.dmesg()  # type: ignore[attr-defined]
    assert on.machine.views.summary() == off_session.machine.views.summary()  # type: ignore[attr-defined]
    assert len(off_session.machine.timeline.samples()) == 1  # type: ignore[attr-defined]
    assert len(on.machine.timeline.samples()) > 10


def _alone(cap: int) -> tuple[Timeline, Clock, EventQueue, KernelLog, SimpleNamespace]:
    clock = Clock()
    events = EventQueue(clock)
    log = KernelLog(clock)
    zone = SimpleNamespace(name="Normal", nr_free_pages=1000, min=10, low=20, high=30)
    tasks: list[SimpleNamespace] = [SimpleNamespace(pid=1000 + i, comm=f"t{i}", rss=i * 4096) for i in range(10)]
    tl = Timeline(zones=[zone], vmstat=VmStat(), tasks=tasks, reclaim=SimpleNamespace(kswapd_runs=0),  # type: ignore[arg-type]
                  compaction=SimpleNamespace(compact_stall=0), clock=clock, events=events, log=log,
                  period_ns=1000, cap=cap)
    return tl, clock, events, log, zone


def test_memory_is_bounded_by_decimation() -> None:
    tl, clock, events, _log, zone = _alone(cap=16)
    for i in range(10_000):
        clock.ns += 700
        zone.nr_free_pages = 1000 - i % 500
        events.run_due()
    samples = tl.samples()
    assert len(samples) <= 16
    assert samples[0].t_ns == 0                        # the boot sample stays
    assert tl.period_ns == 1000 << tl.decimations and tl.decimations >= 8
    times = [s.t_ns for s in samples]
    assert times == sorted(times)
    # the kept samples are spread over the whole run, not bunched at its end
    assert times[len(times) // 2] < clock.ns * 3 // 4
    # the largest tasks only (TOP_TASKS), by resident pages
    assert [pid for pid, _ in samples[-1].rss] == list(range(1004, 1010))


def test_events_are_bounded_and_merged() -> None:
    tl, clock, _events, log, _zone = _alone(cap=8)
    for i in range(100):
        log.printk(f"kworker: page allocation failure: order:{i % 3}, mode:0x820(GFP_ATOMIC)", "alloc_fail")
    ev = tl.events()
    assert 0 < len(ev) <= 8
    assert sum(e.nr for e in ev) == 100          # merged, not lost
    assert all(e.kind == "alloc_fail" for e in ev)
    assert ev[0].text.startswith("page allocation failure: order:0")


def test_show_timeline_view() -> None:
    out, err, s = run_script("""
machine(mem=64M, cpus=1)
task t = spawn("hog")
expect oom { t.fault(128M) }
show timeline
""")
    assert err is None, err
    text = "\n".join(out)
    start = text.index("Timeline: ")
    view = text[start:].split("\n")
    assert view[1].startswith("DMA free") and view[2].startswith("  vs watermarks")
    assert any(line.startswith("DMA32 free") for line in view)
    assert any(line.startswith("rss hog") for line in view)
    events = next(line for line in view if line.startswith("events"))
    assert "O" in events.split("|")[1]
    assert any(line.endswith(f"OOM kill {s.machine.tasks.last_pid} (hog)") for line in view)
    # the DMA32 row says where the free pages stood: below min at some point (M)
    marks = view[view.index(next(line for line in view if line.startswith("DMA32 free"))) + 1]
    assert "M" in marks.split("|")[1] or "l" in marks.split("|")[1]

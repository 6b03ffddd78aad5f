"""Reads and writes that take a run of missing file pages from the pcp list at once
(pagecache.py: file_rw through alloc_pages_pcp_run) against one alloc_pages call per
page (``pagecache.alloc_runs = False``): the same scenarios must leave the same machine
(buddy free lists, pcp lists, every page's state bytes, vmstat, the page cache and dirty
bits, the LRU, reclaim counters, the kernel log, the clock), including when the work
meter runs out in the middle of a read, and the pages must be handed out in the same
order."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscript.runtime.errors import WorkLimitExceeded
from kmscript.runtime.limits import WorkMeter
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.task import Task

from machine_state import same_both_ways
from test_reclaim_free_batch import cache_under_pressure, dirty_pages, mapped_file, oom, spawn

MiB = 1 << 20
PAGE = 4096


def _select(m: Machine, on: bool) -> None:
    m.pagecache.alloc_runs = on


def machine(mem: int = 64 * MiB, swap: int = 0, cpus: int = 2, steps: int = 1 << 62) -> Callable[[], Machine]:
    def make() -> Machine:
        return Machine(MachineConfig(mem=mem, cpus=cpus, swap=swap), meter=WorkMeter(steps))
    return make


@pytest.mark.parametrize("scenario", [cache_under_pressure, dirty_pages, mapped_file, oom])
def test_reclaim_scenarios_same_as_one_call_per_page(scenario: Callable[[Machine], list[Task]]) -> None:
    same_both_ways(scenario, machine(swap=16 * MiB, cpus=4), _select)


@pytest.mark.parametrize("steps", [5000, 5000 + 31, 70_000, 300_017])
def test_the_work_meter_stops_a_read_at_the_same_page(steps: int) -> None:
    def scenario(m: Machine) -> list[Task]:
        f = m.pagecache.open("data")
        with pytest.raises(WorkLimitExceeded):
            f.read(40 * MiB)
        # the file position is the end of the last page read (the newest in the cache),
        # whichever path read it
        assert 0 < f.nr_cached < 40 * MiB // PAGE and f.pos == (max(f.pages) + 1) * PAGE
        return []
    same_both_ways(scenario, machine(steps=steps), _select)


def test_a_run_stops_at_a_page_already_cached() -> None:
    def scenario(m: Machine) -> list[Task]:
        f = m.pagecache.open("data")
        for idx in (5, 7, 30, 31, 200):   # cached pages inside the runs of missing ones
            f.seek(idx * PAGE)
            f.read(PAGE)
        f.seek(0)
        f.read(300 * PAGE)
        f.seek(2 * PAGE)
        f.write(250 * PAGE)
        assert f.nr_cached == 300 and sorted(f.pages) == list(range(300))
        return []
    same_both_ways(scenario, machine(), _select)


def test_runs_are_taken_and_hand_out_the_same_pages() -> None:
    """Not vacuous: with runs most pages come without an alloc_pages call, and the file
    holds the same pages at the same indices either way."""
    got = []
    for on in (True, False):
        m = machine(mem=256 * MiB)()
        _select(m, on)
        calls = [0]
        alloc = m.page_alloc.alloc_pages

        def counted(*a: object, **k: object) -> int | None:
            calls[0] += 1
            return alloc(*a, **k)  # type: ignore[arg-type]
        m.page_alloc.alloc_pages = counted  # type: ignore[method-assign]
        f = m.pagecache.open("data")
        f.read(8 * MiB)
        g = m.pagecache.open("log")
        g.write(4 * MiB)
        got.append((sorted(f.pages.items()), sorted(g.pages.items()), calls[0]))
    (f_on, g_on, calls_on), (f_off, g_off, calls_off) = got
    assert (f_on, g_on) == (f_off, g_off) and (len(f_on), len(g_on)) == (2048, 1024)
    assert calls_off >= 3072 and calls_on < calls_off // 4


OPS = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 6000)), max_size=14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.integers(0, 3))
def test_random_reads_and_writes_same_as_one_call_per_page(ops: list[tuple[int, int]], cpu: int) -> None:
    def scenario(m: Machine) -> list[Task]:
        files = [m.pagecache.open(n) for n in ("x", "y")]
        tasks = [spawn(m, "a")]
        for op, n in ops:
            f = files[n % 2]
            m.ctx.cpu = (cpu + n) % 4
            if op == 0:
                f.read(n * PAGE)
            elif op == 1:
                f.write(n * PAGE)
            elif op == 2:
                f.seek((n % 700) * PAGE)
            elif op == 3:
                m.reclaim.drop_caches(1 + n % 3)
            elif op == 4 and tasks[-1].alive:
                tasks[-1].fault(n * 4 * PAGE)
            elif op == 5:
                m.page_alloc.drain_all_pages()
        return tasks
    same_both_ways(scenario, machine(cpus=4), _select)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_reads_on_a_machine_with_single_zone_sections(ops: list[tuple[int, int]]) -> None:
    """Above the first 128 MiB a section lies in one zone, so a read's consecutive pfns
    are written as slices (LruVec.add_run, Rmap.set_run): the same machine as page by
    page, with reclaim from a small file limit forced by drop_caches."""
    def scenario(m: Machine) -> list[Task]:
        files = [m.pagecache.open(n) for n in ("x", "y")]
        hog = spawn(m, "hog")
        hog.fault(200 * MiB)            # the reads now get pages above the first section
        for op, n in ops:
            f = files[n % 2]
            if op in (0, 4):
                f.read(n * 8 * PAGE)
            elif op == 1:
                f.write(n * PAGE)
            elif op == 2:
                f.seek((n % 900) * PAGE)
            elif op == 3:
                m.reclaim.drop_caches(1 + n % 3)
            else:
                m.reclaim.shrink_node(n, 4, may_swap=False, is_kswapd=bool(n % 2))
        # (not vacuous: pages read lie above the first section, which two zones share)
        assert any(p >> 15 for f in files for p in f.pages.values()) or not any(f.pages for f in files)
        return [hog]
    same_both_ways(scenario, machine(mem=512 * MiB), _select)

"""mm/slub.c: list_slab_objects -> slab_bug, the Object lines, then __slab_err (the Slab line,
taint B, WARN_ON(1) with taint W); then kmem_cache_destroy's own WARN."""

from __future__ import annotations

from kmscript.session import Session


def test_shutdown_report_in_the_kernels_order() -> None:
    s = Session(out=lambda line: None, quiet=True)
    s.run_text("machine(mem=1G, cpus=2)\ncache c = create(size=200)\nx = kmem_cache_alloc(c)\n"
               "expect bug { kmem_cache_destroy(c) }\n")
    recs = [r for r in s.machine.log.records if "Objects remaining" in r.text or "still has objects" in r.text]
    lines = recs[0].text.splitlines()
    assert lines[1] == "BUG c (Not tainted): Objects remaining on __kmem_cache_shutdown()"
    obj = next(i for i, l in enumerate(lines) if l.startswith("Object 0x"))
    slab = next(i for i, l in enumerate(lines) if l.startswith("Slab 0x"))
    warn = lines.index("------------[ cut here ]------------")
    assert obj < slab < warn
    assert lines[warn + 1] == "WARNING: CPU: 0 PID: 1000 at mm/slub.c:1257 __slab_err"
    assert "Tainted: [B]=BAD_PAGE" in lines          # taint B before the WARN's dump_stack
    assert lines[-1] == "---[ end trace 0000000000000000 ]---"
    # the WARN_ON added taint W: kmem_cache_destroy's own WARN shows B and W
    assert "Tainted: [B]=BAD_PAGE, [W]=WARN" in recs[1].text.splitlines()
    assert s.machine.ctx.taint.letters() == "BW"

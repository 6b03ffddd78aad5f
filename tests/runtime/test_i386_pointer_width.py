"""Reports that print a pointer use the arch's width (issue 16): 8 hex digits on i386, where
%px and %016lx-style fields are sizeof(void *) * 2 wide, 16 on x86_64.

The segfault line is arch/x86/mm/fault.c: show_signal_msg ("ip %px sp %px"); the vm_struct
and pcpu_chunk descriptions are the simulator's own views of those structs.
"""

from __future__ import annotations

import re

from kmscript.runtime.gfp import GFP_KERNEL
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.mm_types import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ

from tests.conftest import run_script


def boot(arch: str) -> Machine:
    return Machine(MachineConfig(mem=256 << 20, cpus=1, arch=arch))


def segfault_line(arch: str) -> str:
    m = boot(arch)
    t = m.tasks.spawn("t")
    assert t is not None and t.mm is not None
    a = m.tasks.spaces.do_mmap(t.mm, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    assert m.tasks.touch(t, a, 4096, True) == -14
    return next(line for line in m.log.dmesg().splitlines() if "segfault at" in line)


def test_segfault_prints_ip_and_sp_at_the_pointer_width() -> None:
    assert " ip 00000000 sp 00000000 error 6" in segfault_line("i386")
    assert " ip 0000000000000000 sp 0000000000000000 error 6" in segfault_line("x86_64")


def test_vm_struct_and_pcpu_chunk_print_8_digit_addresses_on_i386() -> None:
    m = boot("i386")
    p = m.vmalloc.vmalloc_gfp(3 * 4096, GFP_KERNEL, 1, "test")
    vm = m.vmalloc.area_containing(p)
    assert vm is not None
    assert re.fullmatch(r"vm_struct 0x[0-9a-f]{8}-0x[0-9a-f]{8} size=16384 pages=3", str(vm)), str(vm)
    assert str(vm).startswith(f"vm_struct 0x{p:08x}-")
    for _ in range(4):                     # chunks made past the first one print alike
        assert m.percpu.alloc_percpu(16 << 10, 8) is not None
    assert len(m.percpu.chunks) > 1
    for chunk in m.percpu.chunks:
        assert re.fullmatch(r"pcpu_chunk base_addr=0x[0-9a-f]{8} pages=\d+ free=\d+", str(chunk)), str(chunk)
    x = boot("x86_64")
    q = x.vmalloc.vmalloc_gfp(4096, GFP_KERNEL, 1, "test")
    xvm = x.vmalloc.area_containing(q)
    assert xvm is not None and str(xvm).startswith(f"vm_struct 0x{q:016x}-0x{q + 8192:016x} ")


def test_a_script_prints_find_vm_area_with_8_digits_on_i386() -> None:
    out, err, _ = run_script('machine(arch="i386", mem=256M, cpus=1)\n'
                             'p = vmalloc(8192)\nprint(find_vm_area(p))')
    assert err is None, err.render()  # type: ignore[attr-defined]
    assert re.fullmatch(r"vm_struct 0x[0-9a-f]{8}-0x[0-9a-f]{8} size=12288 pages=2", out[0]), out

"""The first per-cpu chunk of machine(arch="i386"), sized as setup_per_cpu_areas sizes it for
x86_32 (issue 16), and the link-time parameters the i386 profile states instead of deriving.

arch/x86/kernel/setup_percpu.c: PERCPU_FIRST_CHUNK_RESERVE is PERCPU_MODULE_RESERVE on
x86_64 and 0 on x86_32; dyn_size = PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE -
PERCPU_FIRST_CHUNK_RESERVE; atom_size PMD_SIZE on x86_64, PAGE_SIZE on x86_32.
include/linux/percpu.h: PERCPU_DYNAMIC_RESERVE is 28 << 10 if BITS_PER_LONG > 32, else
20 << 10.  mm/percpu.c: pcpu_build_alloc_info.
"""

from __future__ import annotations

from kmscript.runtime.arch import I386, X86_64
from kmscript.runtime.arch import i386 as A
from kmscript.runtime.machine import Machine, MachineConfig
from kmscript.runtime.percpu_internal import first_chunk_sizes

PAGE = 4096


def pfn_align(x: int) -> int:
    return (x + PAGE - 1) // PAGE * PAGE


def test_reserved_and_dynamic_sizes_follow_the_word_size() -> None:
    assert first_chunk_sizes(64) == (0, 28 << 10)         # no modules: r0, d 28 KiB
    assert first_chunk_sizes(32) == (0, 20 << 10)
    # with CONFIG_MODULES (PERCPU_MODULE_RESERVE 8 KiB) x86_64 reserves it in the first
    # chunk, x86_32 adds it to the dynamic part instead
    assert first_chunk_sizes(64, 8 << 10) == (8 << 10, 28 << 10)
    assert first_chunk_sizes(32, 8 << 10) == (0, 28 << 10)


def test_the_static_section_is_an_explicit_parameter_with_its_basis() -> None:
    assert X86_64.pcpu_static_size == 185496                   # the verified machine's "s185496"
    # x86_64's section without irq_stack_backing_store (16 KiB) and exception_stacks
    # (4 x 4 KiB), with i386's doublefault_stack (4 KiB)
    assert I386.pcpu_static_size == A.PCPU_STATIC_SIZE == 185496 - 16384 - 16384 + 4096
    assert I386.kernel_reserved_pages == A.KERNEL_RESERVED_PAGES == X86_64.kernel_reserved_pages


def boot_line(arch: str, cpus: int) -> tuple[Machine, str]:
    m = Machine(MachineConfig(arch=arch, mem=1 << 30, cpus=cpus))
    return m, next(r.text for r in m.log.records if r.text.startswith("percpu: Embedded"))


def test_i386_first_chunk_is_page_atoms_with_a_20k_dynamic_reserve() -> None:
    for cpus in (1, 2, 4):
        m, line = boot_line("i386", cpus)
        ai = m.percpu.ai
        static = A.PCPU_STATIC_SIZE
        size_sum = pfn_align(static + (20 << 10))
        assert (ai.static_size, ai.reserved_size, ai.dyn_size) == (static, 0, size_sum - static)
        # atom PAGE_SIZE: one unit per allocation, the unit is size_sum itself
        assert ai.atom_size == PAGE and ai.upa == 1 and ai.unit_size == size_sum == ai.alloc_size
        assert line == f"percpu: Embedded {size_sum // PAGE} pages/cpu s{static} r0 d{size_sum - static} u{size_sum}"
    assert line == "percpu: Embedded 44 pages/cpu s156824 r0 d23400 u180224"


def test_x86_64_first_chunk_is_unchanged() -> None:
    _, line = boot_line("x86_64", 2)
    assert line == "percpu: Embedded 53 pages/cpu s185496 r0 d31592 u1048576"

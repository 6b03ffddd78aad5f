"""Issue 16 item 4: kernel stacks the notes describe - spending stack in a context, the
guard-page Oops with VMAP_STACK, the end-of-stack canary without it, and the historical
one-page stacks where an interrupt on the task's stack overflows unless IRQ stacks exist."""

from __future__ import annotations

import pytest

from kmscript.errors import KmsOops

from tests.conftest import run_script


def run(src: str) -> tuple[list[str], object, object]:
    out, err, s = run_script(src)
    return out, err, s


def test_thread_size_is_readable_and_follows_the_configuration() -> None:
    out, err, _ = run("print(THREAD_SIZE)\nmachine(thread_size=8K)\nprint(THREAD_SIZE)\n"
                      "machine(thread_size=4K)\nprint(THREAD_SIZE)")
    assert err is None and out == ["16384", "8192", "4096"]
    _, err, _ = run("machine(thread_size=12K)")
    assert err is not None and "kernel stacks are 4K" in err.render()


def test_stack_use_belongs_to_its_context() -> None:
    out, err, _ = run("""
stack_use(3000)
irq < x = stack_depth(); stack_use(2000); y = stack_depth() >
cpu 1 < z = stack_depth() >
print(stack_depth(), x, y, z)
""")
    assert err is None, err.render()  # type: ignore[attr-defined]
    # the interrupt ran on CPU 0's IRQ stack; the cpu block's frames are popped, the
    # process context's stay
    assert out == ["3000 0 2000 3000"]


def test_vmap_stack_guard_page_hit_is_the_kernels_oops() -> None:
    out, err, s = run("stack_use(16000)\nstack_use(500)")
    assert isinstance(err, KmsOops)  # the Oops killed the script's task
    log = s.machine.log.dmesg()  # type: ignore[attr-defined]
    lines = [ln.split("] ", 1)[1] for ln in log.split("\n") if "] " in ln]
    hit = next(ln for ln in lines if ln.startswith("BUG: TASK stack guard page was hit at "))
    base = s.machine.kstacks._script_base  # type: ignore[attr-defined]
    assert hit == (f"BUG: TASK stack guard page was hit at {base - 8:016x} "
                   f"(stack is {base:016x}..{base + 16384:016x})")
    assert lines[lines.index(hit) + 1] == "Oops: stack guard page: 0000 [#1] SMP NOPTI"


def test_irq_stack_overflow_in_interrupt_panics() -> None:
    _, err, s = run("irq < stack_use(20000) >")
    assert err is not None and "Fatal exception in interrupt" in err.render()  # type: ignore[union-attr]
    assert "BUG: IRQ stack guard page was hit at" in s.machine.log.dmesg()  # type: ignore[attr-defined]


def test_without_vmap_stack_the_canary_is_found_by_the_next_schedule() -> None:
    out, err, s = run("machine(vmap_stack=false)\nstack_use(17000)\nprint(\"still running\")\nschedule()")
    assert "still running" in out  # nothing notices the overwritten canary until schedule()
    assert err is not None and "corrupted stack end detected inside scheduler" in err.render()  # type: ignore[union-attr]
    assert "guard page" not in s.machine.log.dmesg()  # type: ignore[attr-defined]


@pytest.mark.parametrize("irq_stacks, overflows", [(False, True), (True, False)])
def test_four_k_stacks_need_separate_interrupt_stacks(irq_stacks: bool, overflows: bool) -> None:
    # The notes' argument for IRQ stacks: 3000 bytes of a system call plus a 2000-byte
    # interrupt handler do not fit one 4 KiB page; on its own IRQ stack the handler fits.
    src = f"""
machine(cpus=2, mem=256M, thread_size=4K, irq_stacks={'true' if irq_stacks else 'false'})
stack_use(3000)
irq < stack_use(2000) >
print("survived", stack_depth())
"""
    out, err, s = run(src)
    if overflows:
        assert err is not None and "Fatal exception in interrupt" in err.render()  # type: ignore[union-attr]
        assert "BUG: TASK stack guard page was hit" in s.machine.log.dmesg()  # type: ignore[attr-defined]
    else:
        assert err is None and out[-1] == "survived 3000"


def test_vmap_stack_on_i386_is_refused_not_ignored() -> None:
    """arch/x86/Kconfig: ``select HAVE_ARCH_VMAP_STACK if X86_64`` - a 32-bit kernel has no
    CONFIG_VMAP_STACK, so asking for it is an error; left out or false, i386 boots with
    page-allocator stacks, and x86_64 keeps VMAP_STACK by default."""
    _, err, _ = run('machine(arch="i386", vmap_stack=true)\nprint("booted")')
    assert err is not None
    text = err.render()  # type: ignore[attr-defined]
    assert "vmap_stack=true" in text and "HAVE_ARCH_VMAP_STACK only for X86_64" in text
    out, err, s = run('machine(arch="i386", vmap_stack=false)\nprint(THREAD_SIZE)')
    assert err is None and out == ["8192"]
    out, err, s = run('machine(arch="i386")\nprint(THREAD_SIZE)')
    assert err is None and out == ["8192"] and not s.machine.kstacks.vmap_stack  # type: ignore[attr-defined]
    out, err, s = run('machine(cpus=1)\nprint(THREAD_SIZE)')
    assert err is None and s.machine.kstacks.vmap_stack  # type: ignore[attr-defined]

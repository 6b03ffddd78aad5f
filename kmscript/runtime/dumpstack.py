"""The header and stack part of kernel reports: lib/dump_stack.c and arch/x86/kernel/dumpstack.c.

What it models: ``dump_stack()`` as every BUG/WARN/OOM report prints it on 6.18 x86_64:

1. dump_stack_print_info(): ``CPU: %d UID: %u PID: %d Comm: %.20s %s%s %s %.*s %s `` —
   CPU, UID, PID, comm (at most 20 characters), "Kdump: loaded " (never: no crash kernel),
   print_tainted(), the release, the version up to its first blank (``#1``) and
   preempt_model_str(), then a blank (the BUILD_ID_FMT of a kernel without
   CONFIG_STACKTRACE_BUILD_ID is ``"%s"`` of ``""``, so the line ends in that blank);
2. ``print_tainted_verbose()`` on a line of its own when the kernel is tainted
   (``Tainted: [B]=BAD_PAGE, [W]=WARN``);
3. ``Hardware name: ...`` only when dump_stack_arch_desc_str is set — the reference machine
   boots without DMI ("DMI not present or invalid." in its boot log), so it prints none;
4. show_trace_log_lvl(): ``Call Trace:``, `` <TASK>``, one line per frame, `` </TASK>``.

The values are the reference machine's (``uname -r``/``uname -v`` and its boot log: release
``6.18.44-fc-v1272``, version ``#1 SMP PREEMPT_DYNAMIC @0``, "Dynamic Preempt: none" so
preempt_model_str() is ``PREEMPT(none)``, kernel/sched/core.c).

Frames are the simulated kernel path, innermost first, with 6.18 function names.  The
kernel prints each as ``%pBb`` (``func+0x1f/0x60``); the offsets and sizes belong to one
build's machine code, which the simulator does not model, so a frame is printed as the bare
function name (a fixed, documented placeholder: no number is invented).  The outermost
frame is the script's own line (``file.kms:12``) when the caller knows it.
"""

from __future__ import annotations

from typing import Iterable

from .taint import Taint

UTS_RELEASE = "6.18.44-fc-v1272"
UTS_VERSION = "#1 SMP PREEMPT_DYNAMIC @0"
PREEMPT_MODEL = "PREEMPT(none)"
HARDWARE_NAME = ""   # dump_stack_arch_desc_str: empty without DMI


def dump_stack_print_info(cpu: int, pid: int, comm: str, taint: Taint) -> list[str]:
    """lib/dump_stack.c: dump_stack_print_info (the CPU line, the verbose taint line, the
    Hardware name line)."""
    version = UTS_VERSION.split(" ", 1)[0]   # "%.*s" with strcspn(version, " ")
    lines = [f"CPU: {cpu} UID: 0 PID: {pid} Comm: {comm[:20]} {taint.print_tainted()} {UTS_RELEASE} "
             f"{version} {PREEMPT_MODEL} "]
    if taint.mask:
        lines.append(taint.print_tainted_verbose())
    if HARDWARE_NAME:
        lines.append(f"Hardware name: {HARDWARE_NAME}")
    return lines


def show_stack(frames: Iterable[str]) -> list[str]:
    """arch/x86/kernel/dumpstack.c: show_trace_log_lvl for a task stack."""
    return ["Call Trace:", " <TASK>", *(f" {f}" for f in frames), " </TASK>"]


def dump_stack(cpu: int, pid: int, comm: str, taint: Taint, frames: Iterable[str]) -> list[str]:
    """lib/dump_stack.c: __dump_stack = dump_stack_print_info + show_stack."""
    return dump_stack_print_info(cpu, pid, comm, taint) + show_stack(frames)

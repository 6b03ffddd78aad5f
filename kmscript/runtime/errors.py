"""Exceptions the runtime raises for misuse that cannot be expressed as a kernel report.

Allocation failure is never an exception: allocators return ``None``/NULL and log the
kernel's warning.  Kernel-detected misuse (double free, bad page state, sleeping in atomic
context) is reported in the kernel log with the kernel's own text; whether such a report
stops the script is decided by the interpreter (see ``KernelLog`` record kinds).

``KernelFault`` is for requests the simulated kernel cannot even attempt (a CPU number
outside the machine, an unbalanced preempt_enable, a handle of the wrong type).  The
interpreter turns it into a kmscript runtime error with the span of the offending call.
``KernelPanic`` ends the simulated machine ("Kernel panic - not syncing: ...").
``KernelOops`` ends the current task after an Oops (arch/x86/kernel/dumpstack.c:
oops_end -> make_task_dead): the operation that oopsed does not return, and the script,
which is the current task, stops there unless it expected the Oops.  Both are
``KernelCrash``es: the interpreter lets them through to ``expect`` blocks instead of
turning them into ordinary runtime errors at the call.
``WorkLimitExceeded`` is raised by the work meter (limits.py) when a script's step budget
or CPU time is used up; it is not a KernelFault: no ``expect`` block catches it.
"""

from __future__ import annotations


class KernelFault(Exception):
    """A request the simulated kernel refuses; rendered as a kmscript runtime error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KernelCrash(KernelFault):
    """The kernel killed the current task or itself: a panic or an Oops."""


class KernelPanic(KernelCrash):
    """The simulated kernel panicked; the machine cannot continue."""


class KernelOops(KernelCrash):
    """An Oops killed the current task (the script); the machine goes on."""


class WorkLimitExceeded(Exception):
    """The script used up its step budget or its CPU time (the interpreter reports it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

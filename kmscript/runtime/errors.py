"""Exceptions the runtime raises for misuse that cannot be expressed as a kernel report.

Allocation failure is never an exception: allocators return ``None``/NULL and log the
kernel's warning.  Kernel-detected misuse (double free, bad page state, sleeping in atomic
context) is reported in the kernel log with the kernel's own text; whether such a report
stops the script is decided by the interpreter (see ``KernelLog`` record kinds).

``KernelFault`` is for requests the simulated kernel cannot even attempt (a CPU number
outside the machine, an unbalanced preempt_enable, a handle of the wrong type).  The
interpreter turns it into a kmscript runtime error with the span of the offending call.
``KernelPanic`` ends the simulated machine ("Kernel panic - not syncing: ...").
"""

from __future__ import annotations


class KernelFault(Exception):
    """A request the simulated kernel refuses; rendered as a kmscript runtime error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KernelPanic(KernelFault):
    """The simulated kernel panicked; the machine cannot continue."""

"""What the language layer needs from whoever runs it (the Session, in practice).

The compiler and the built-ins reach their host only through this protocol, so ``lang/``
never imports ``session.py`` (which imports the compiler): there is no import cycle, and
a test or another front end can host the interpreter with anything of this shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

if TYPE_CHECKING:
    from ..runtime.explain import Recording
    from ..runtime.limits import WorkMeter
    from ..runtime.machine import Machine
    from ..runtime.printk import LogRecord
    from ..source import Source
    from . import ast


class Host(Protocol):
    max_steps: int
    meter: WorkMeter  # the step budget the interpreter and the host's machines draw from
    seed: int
    # Called for every assertion with (node, passed, source text, detail); the REPL shows ✓/✗.
    assert_hook: Callable[[ast.Assert, bool, str, str], None] | None
    # Test blocks collected while a file's top level runs: (name, body, node, source).
    tests: list[tuple[str, Any, ast.TestBlock, Source]]
    # --explain: every top-level statement runs as if written `explain STATEMENT`.
    explain_all: bool

    # the current machine once one is booted, else None (read on every built-in call)
    current_machine: Machine | None

    @property
    def machine(self) -> Machine:
        """The current machine, booting the default one on first use."""
        ...

    def boot_with_options(self, options: dict[str, Any]) -> Machine:
        """Discard the current machine and boot a fresh one from ``machine(...)``'s
        keyword arguments (checked by the host; the host's seed unless one is given)."""
        ...

    def reboot_after_panic(self) -> None: ...

    def expect_reports(self, records: Iterable[LogRecord]) -> None:
        """Mark kernel reports as expected by an ``expect`` block."""
        ...

    def write(self, text: str) -> None: ...

    def note(self, line: str, key: str | None = None) -> None:
        """Report a ``file:line:col: note: ...`` line (once per key), outside the output."""
        ...

    def write_view(self, name: str, text: str) -> None: ...

    def explained(self, where: str, text: str, recording: Recording, implicit: bool = False) -> None:
        """The decision record of one explained statement (``file:line``, its source);
        *implicit* for one that ``explain_all`` explained."""
        ...

    def plot(self, path: str | None) -> str | None:
        """``plot``: write the timeline chart to *path* (None: the host's --plot file, or
        the terminal view when there is none).  A missing plotting library is a note;
        returns an error message when the file cannot be written."""
        ...

    def run_text(self, text: str, name: str = "<input>", *, nested: bool = False,
                 on_result: Callable[[ast.Stmt, Any], None] | None = None) -> None:
        """Parse, compile and run more text in the same state (``include``)."""
        ...

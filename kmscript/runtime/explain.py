"""Decision records: why each allocation and free took the path it took (issue 21).

The allocators call a ``DecisionLog`` at their decision points - the watermark test of
each zone, a pcp hit or an rmqueue_bulk refill, a buddy split, a fallback steal, each
step of the slow path, the SLUB cpu slab / partial / new slab choice, the vmalloc range
and the per-cpu chunk - and each call records one step named by the kernel function
that decided, with the numbers it decided on.  Steps nest: a step opened with
``begin`` collects the steps recorded until its ``end``, so an allocation's record is a
tree (kmalloc -> ___slab_alloc -> new_slab -> __alloc_pages -> get_page_from_freelist
-> zone_watermark_fast ...).

Invariants
----------
- A step is recorded while the code decides, from the values it decides on; nothing
  is reconstructed afterwards.  The allocators only record when ``on`` is true: with
  recording off the cost on a hot path is the one ``if log.on`` test (and the fast
  paths do not even pay that: they are gated by ``Tracer.enabled``, which recording
  turns on, so every allocation takes the generic path, where the decision points are).
- ``record(fn)`` nests: a recording inside a recording (``explain`` inside ``explain``)
  gets its own tree, which is also attached to the outer one where it happened.
- A recording keeps at most ``limit`` steps; later ones are counted in ``dropped`` so
  that explaining a long loop cannot exhaust memory.
- ``muted()`` leaves out the steps of repetitive work whose first instance was kept
  (vmalloc shows the decisions for its first page and summarises the rest); recording
  stays on, so the work still takes the same generic paths.

The log knows nothing of the language: the language asks for a recording around a
statement and renders or serialises the resulting ``Step`` trees (``render_tree``,
``steps_to_json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")

Number = int | str | bool

DEFAULT_STEP_LIMIT = 20_000


class Step:
    """One decision: the kernel function that made it, its numbers, its outcome, and
    the decisions made inside it."""

    __slots__ = ("func", "numbers", "result", "children")

    def __init__(self, func: str, numbers: dict[str, Number], result: str | None = None) -> None:
        self.func = func
        self.numbers = numbers
        self.result = result
        self.children: list[Step] = []

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"function": self.func, "numbers": dict(self.numbers)}
        if self.result is not None:
            d["result"] = self.result
        d["steps"] = [c.to_json() for c in self.children]
        return d

    def walk(self) -> list["Step"]:
        """This step and every step below it, depth first."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    def __repr__(self) -> str:
        return f"<Step {self.func} {self.numbers} -> {self.result}>"


@dataclass
class Recording:
    """The steps recorded around one piece of work."""
    steps: list[Step] = field(default_factory=list)
    dropped: int = 0  # steps past the limit, counted but not kept
    count: int = 0

    def walk(self) -> list[Step]:
        out: list[Step] = []
        for s in self.steps:
            out.extend(s.walk())
        return out

    def find(self, func: str) -> list[Step]:
        """Every step of kernel function *func*, in the order they were recorded."""
        return [s for s in self.walk() if s.func == func]


class DecisionLog:
    """The recorder the allocators report their decisions to (see the module docstring).

    ``on_toggle`` is told when recording starts and stops (the tracer uses it to send
    every allocation down the generic paths while a recording is on)."""

    def __init__(self, on_toggle: Callable[[bool], None] | None = None, limit: int = DEFAULT_STEP_LIMIT) -> None:
        self.on = False
        self.limit = limit
        self._on_toggle = on_toggle
        self._rec = Recording()
        self._stack: list[Step] = []
        self._frames: list[tuple[Recording, list[Step], int]] = []
        self._muted = 0

    # -- recording -----------------------------------------------------------------------
    def _keep(self, step: Step) -> bool:
        if self._muted:
            return False
        rec = self._rec
        if rec.count >= self.limit:
            rec.dropped += 1
            return False
        rec.count += 1
        if self._stack:
            self._stack[-1].children.append(step)
        else:
            rec.steps.append(step)
        return True

    def begin(self, func: str, **numbers: Number) -> Step:
        """Open a step; the steps recorded until ``end(step)`` become its children."""
        step = Step(func, numbers)
        if self._keep(step):
            self._stack.append(step)
        return step

    def end(self, step: Step, result: str | None = None, **numbers: Number) -> None:
        """Close *step* (and any step left open inside it), adding its outcome."""
        if result is not None:
            step.result = result
        if numbers:
            step.numbers.update(numbers)
        stack = self._stack
        if step in stack:
            while stack and stack.pop() is not step:
                pass

    def note(self, func: str, result: str | None = None, **numbers: Number) -> Step:
        """Record a step with no steps inside it."""
        step = Step(func, numbers, result)
        self._keep(step)
        return step

    def mute(self, on: bool) -> None:
        """Leave out (``True``) or keep again (``False``) the steps recorded in between."""
        self._muted += 1 if on else -1

    # -- sessions of recording -----------------------------------------------------------------
    def record(self, fn: Callable[[], T]) -> tuple[T, Recording]:
        """Run *fn* with recording on; (its result, what it decided).  If *fn* raises,
        the recording so far is attached to the exception as ``explain_recording``."""
        rec = self.start()
        try:
            value = fn()
        except BaseException as e:
            e.explain_recording = self.stop(rec)  # type: ignore[attr-defined]
            raise
        return value, self.stop(rec)

    def start(self) -> Recording:
        outer_on = self.on
        self._frames.append((self._rec, self._stack, self._muted))
        self._rec = Recording()
        self._stack = []
        self._muted = 0
        self.on = True
        if not outer_on and self._on_toggle is not None:
            self._on_toggle(True)
        return self._rec

    def stop(self, rec: Recording) -> Recording:
        """End the recording *rec* (from ``start``) and return it."""
        assert rec is self._rec, "recordings end in the reverse order they started"
        self._rec, self._stack, self._muted = self._frames.pop()
        if self._frames:
            # a nested recording is also part of the outer one, where it happened
            for s in rec.steps:
                self._keep(s)
            self._rec.count += rec.count - len(rec.steps)
            self._rec.dropped += rec.dropped
        else:
            self.on = False
            if self._on_toggle is not None:
                self._on_toggle(False)
        return rec


# -- presentation (shared by every front end) ---------------------------------------------
def _fmt(v: Number) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def step_line(step: Step) -> str:
    nums = " ".join(f"{k}={_fmt(v)}" for k, v in step.numbers.items())
    line = step.func + (f"  {nums}" if nums else "")
    if step.result is not None:
        line += f"  -> {step.result}"
    return line


def render_tree(rec: Recording, indent: str = "  ") -> str:
    """The recording as an indented tree, one step a line."""
    lines: list[str] = []

    def walk(step: Step, depth: int) -> None:
        lines.append(indent * depth + step_line(step))
        for c in step.children:
            walk(c, depth + 1)

    for s in rec.steps:
        walk(s, 0)
    if rec.dropped:
        lines.append(f"... {rec.dropped} more steps not recorded (at most {rec.count} are kept)")
    if not lines:
        lines.append("(no allocation or free)")
    return "\n".join(lines)


def recording_to_json(rec: Recording) -> dict[str, Any]:
    return {"steps": [s.to_json() for s in rec.steps], "dropped": rec.dropped}


def pfn_or_null(pfn: int | None) -> str:
    """A pfn as the decision log prints an allocation's result ("NULL" for none)."""
    return "NULL" if pfn is None else f"pfn {pfn:#x}"


def pfn_runs(pfns: Iterable[int], limit: int = 4) -> str:
    """``pfn 0x100000-0x1000ff, 0x100200``: the pfns as runs of consecutive frames."""
    runs: list[list[int]] = []
    for p in pfns:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    if not runs:
        return "none"
    parts = [f"{a:#x}" if a == b else f"{a:#x}-{b:#x}" for a, b in runs[:limit]]
    more = len(runs) - limit
    return "pfn " + ", ".join(parts) + (f" and {more} more runs" if more > 0 else "")

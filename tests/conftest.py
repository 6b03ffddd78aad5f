"""Shared pytest configuration: the --update-goldens flag and helpers to run scripts."""

from __future__ import annotations

from typing import Any

import pytest

from kmscript.errors import KmsError
from kmscript.session import Session


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden .out files from the actual output")


@pytest.fixture
def update_goldens(request: Any) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def run_script(text: str, name: str = "t.kms", **opts: Any) -> tuple[list[str], KmsError | None, Session]:
    """Run a script in a fresh session; returns (output lines, error or None, session)."""
    out: list[str] = []
    s = Session(out=out.append, **opts)
    try:
        s.run_text(text, name)
    except KmsError as e:
        return out, e, s
    return out, None, s


@pytest.fixture(autouse=True)
def _host_memory_limit_restored() -> Any:
    """cli.main() run in-process sets RLIMIT_DATA (--max-memory) for the whole test
    process; put it back so a later test in the same worker is not starved by it."""
    try:
        import resource
    except ImportError:  # not POSIX
        yield
        return
    before = resource.getrlimit(resource.RLIMIT_DATA)
    yield
    if resource.getrlimit(resource.RLIMIT_DATA) != before:
        resource.setrlimit(resource.RLIMIT_DATA, before)


# -- time bounds --------------------------------------------------------------------------
# Tests that check a script cannot exhaust the host's time bound what one step may cost.
# A fixed number of seconds fails on a machine several times slower than the one it was
# chosen on (CI once ran the suite 4x slower than here, and one step 20x), so a bound that
# is exceeded is scaled by a reference workload timed in the same process right then: what
# the test fixes is the cost relative to this machine's speed now, which still catches the
# blow-ups these tests are for (minutes or hours instead of milliseconds).

def _reference_work() -> int:
    """A fixed mix of what the interpreter does (dicts, lists, strings, ints)."""
    d: dict[int, str] = {}
    acc = 0
    for i in range(200_000):
        d[i & 4095] = str(i)
        acc += len(d[(i * 7) & 4095] if (i * 7) & 4095 in d else "") + (i % 13)
    return acc


# CPU seconds _reference_work took where the bounds were chosen (best of 3, 2026-12-07)
_REFERENCE_SECONDS_HERE = 0.060


def within_time(elapsed: float, seconds: float, clock: Any = None) -> bool:
    """Whether ``elapsed`` (measured with ``clock``, time.process_time by default) is
    within ``seconds`` as measured where the bound was chosen, at this machine's speed."""
    import time
    if elapsed < seconds:
        return True
    clock = clock or time.process_time
    runs = []
    for _ in range(3):
        t0 = clock()
        _reference_work()
        runs.append(clock() - t0)
    scale = sorted(runs)[1] / _REFERENCE_SECONDS_HERE
    return elapsed < seconds * max(1.0, scale)

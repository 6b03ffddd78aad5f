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

"""pytest plugin (entry point ``pytest11``): ``test_*.kms`` scenarios as pytest items.

pytest collects every ``test_*.kms`` file beside the Python tests: one item for the file's
top level (named ``file``; it also checks the golden ``.out`` and the file-level
``# CHECK`` lines) when the file is a case of its own, and one per ``test "name" { ... }``
block -- the same cases ``kmscript test`` runs (see the runner's ``list_cases``), so both
count the same.  A block whose file's top level failed is a pytest error (ERROR in
``kmscript test``), as a test whose fixture failed.  A failing item shows the
kmscript rendering (file:line:col, the source line and a caret, or the output diff), not a
Python traceback.  Items are independent, so pytest-xdist runs them in parallel
(``pytest -n 4``; ``--dist loadfile`` keeps a file's items on one worker, so each file
runs once).

The plugin is loaded in every pytest run of a project with kmscript installed, so it is
cheap: this module imports only pytest at import time, and it only looks at files whose
name is ``test_*.kms``.  A scenario file that cannot be read or parsed still collects (as
one failing item), so it never breaks the collection of other files.

Options: ``--kms-update`` (or ``--update-goldens`` where a conftest defines it) rewrites
goldens and CHECK lines; ``--kms-seed N``; ``--kms-timeout SECONDS``: the wall-clock
limit of a file whose ``# TIMEOUT:`` does not say otherwise (default 60).  The limit is
always finite here: a file's ``# TIMEOUT: 0`` ("no limit", fine for ``kmscript test``)
gets the plugin's limit, so a ``while true { }`` with a huge ``--max-steps`` cannot hang a
pytest run.  The ini option ``kmscript_collect_ignore`` lists glob patterns (relative to
the rootdir) of files not to collect, for directories a harness runs already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("kmscript", "kmscript scenarios (test_*.kms)")
    group.addoption("--kms-update", action="store_true", default=False,
                    help="rewrite golden .out files and CHECK lines of test_*.kms files from the actual output")
    group.addoption("--kms-seed", type=int, default=None, metavar="N", help="seed for test_*.kms runs")
    group.addoption("--kms-timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                    help="wall-clock limit per test_*.kms file (default 60; always finite: it also "
                         "replaces a file's # TIMEOUT: 0)")
    parser.addini("kmscript_collect_ignore", type="args", default=[],
                  help="glob patterns (relative to rootdir) of test_*.kms files the kmscript plugin does not "
                       "collect, e.g. a directory a harness already runs")


def _positive_seconds(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("the limit must be a positive, finite number of seconds")
    return value


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    if file_path.suffix == ".kms" and file_path.name.startswith("test_"):
        patterns = parent.config.getini("kmscript_collect_ignore")
        if patterns:
            import fnmatch
            rel = _display_path(parent.config, file_path)
            if any(fnmatch.fnmatch(rel, pat) for pat in patterns):
                return None
        return KmsFile.from_parent(parent, path=file_path)
    return None


class KmsCaseFailure(Exception):
    """A failed scenario case; carries the runner's rendering."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# One run per file per process: the file item and its block items share it.
_RESULTS: dict[tuple[str, float, bool, int | None, float | None], Any] = {}


def _file_result(config: Any, path: Path) -> Any:
    from .runner import DEFAULT_TIMEOUT, RunOptions, run_file
    # --update-goldens is this repository's own flag (tests/conftest.py); honour it too.
    update = bool(config.getoption("--kms-update", False) or config.getoption("--update-goldens", False))
    seed = config.getoption("--kms-seed", None)
    timeout = config.getoption("--kms-timeout", None)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    key = (str(path), mtime, update, seed, timeout)
    if key not in _RESULTS:
        limit = timeout if timeout is not None else DEFAULT_TIMEOUT
        opts = RunOptions(seed=seed, timeout=limit, finite_timeout=limit, update=update)
        _RESULTS[key] = run_file(str(path), opts, display=_display_path(config, path))
    return _RESULTS[key]


def _display_path(config: Any, path: Path) -> str:
    try:
        return path.relative_to(Path(config.rootpath)).as_posix()
    except ValueError:
        return str(path)


class KmsFile(pytest.File):
    def collect(self) -> Iterator["KmsItem"]:
        from .runner import list_cases
        try:
            cases = list_cases(str(self.path))
        except Exception:  # never break collection: the file item will report the problem
            cases = [(None, 1)]
        seen: dict[str, int] = {}
        for name, line in cases:
            item_name = "file" if name is None else name
            n = seen.get(item_name, 0)
            seen[item_name] = n + 1
            if n:
                item_name = f"{item_name}#{n + 1}"
            yield KmsItem.from_parent(self, name=item_name, case=name, line=line, occurrence=n)


class KmsItem(pytest.Item):
    def __init__(self, *, case: str | None, line: int, occurrence: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.line = line
        self.occurrence = occurrence

    def setup(self) -> None:
        # A block whose shared set-up (the file's top level) failed is an error, as a
        # failing fixture is in pytest; `kmscript test` counts it as an ERROR too.
        c = self._case()
        if c is not None and c.status == "ERROR":
            pytest.fail(c.message, pytrace=False)

    def _case(self) -> Any:
        result = _file_result(self.config, self.path)
        matches = [c for c in result.cases if c.name == self.case]
        return matches[self.occurrence] if self.occurrence < len(matches) else None

    def runtest(self) -> None:
        result = _file_result(self.config, self.path)
        matches = [c for c in result.cases if c.name == self.case]
        if self.occurrence >= len(matches):
            top = result.cases[0] if result.cases else None
            if top is not None and top.name is None and top.status == "SKIP":
                pytest.skip(top.message or "skipped")
            if self.case is not None and top is not None and top.status != "PASS":
                raise KmsCaseFailure(f"test \"{self.case}\" did not run: the file's top level failed")
            raise KmsCaseFailure(f"test \"{self.case}\" was not found when the file ran")
        c = matches[self.occurrence]
        if c.status == "SKIP":
            pytest.skip(c.message or "skipped")
        if c.status == "XFAIL":
            pytest.xfail(c.message.split("\n", 1)[0] if c.message else "expected failure")
        if c.status in ("FAIL", "XPASS"):
            raise KmsCaseFailure(c.message or c.status)

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, KmsCaseFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int, str]:
        what = "file" if self.case is None else f'test "{self.case}"'
        return self.path, self.line - 1, f"kmscript {what}"

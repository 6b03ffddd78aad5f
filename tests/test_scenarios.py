"""The project's golden-scenario harness: every tests/scenarios/**/*.kms through the runner.

One pytest item per scenario case (the file's top level, which also compares the golden
``NAME.out`` and file-level ``# CHECK`` lines, and each ``test "name" { }`` block); a
failure shows the runner's rendering (the assertion with file:line:col, or the output
diff).  ``pytest tests/test_scenarios.py --update-goldens`` rewrites goldens and CHECK
lines from the actual output (the runner's ``--update``), as does
``kmscript test tests/scenarios --update``.

Every ``examples/*.kms`` must run with exit status 0 through the runner too.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from kmscript.testing.runner import DEFAULT_TIMEOUT, FAILING, FileResult, RunOptions, list_cases, run_file

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios"
EXAMPLES = ROOT / "examples"


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _scenario_cases() -> list[Any]:
    params = []
    for f in sorted(SCENARIOS.rglob("*.kms")):
        for name, _line in list_cases(str(f)):
            case_id = _rel(f) if name is None else f"{_rel(f)}::{name}"
            params.append(pytest.param(_rel(f), name, id=case_id))
    return params


@lru_cache(maxsize=None)
def _run(rel: str, update: bool) -> FileResult:
    # Paths relative to the repository root, so messages and goldens match the CLI's.
    import os
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        # finite_timeout: even a file saying `# TIMEOUT: 0` cannot hang the suite
        return run_file(rel, RunOptions(update=update, finite_timeout=DEFAULT_TIMEOUT))
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(("rel", "case"), _scenario_cases())
def test_scenario(rel: str, case: str | None, update_goldens: bool) -> None:
    result = _run(rel, update_goldens)
    found = [c for c in result.cases if c.name == case]
    if not found:
        top = result.cases[0]
        if top.status == "SKIP":
            pytest.skip(top.message)
        pytest.fail(f"{rel}: test \"{case}\" did not run\n{top.message}", pytrace=False)
    c = found[0]
    if c.status == "SKIP":
        pytest.skip(c.message)
    if c.status == "XFAIL":
        pytest.xfail(c.message.split("\n", 1)[0])
    if c.status in FAILING:
        pytest.fail(f"{c.status} {c.id}\n{c.message}", pytrace=False)


@pytest.mark.parametrize("rel", [_rel(f) for f in sorted(EXAMPLES.rglob("*.kms"))])
def test_example_runs_cleanly(rel: str) -> None:
    result = _run(rel, False)
    bad = [c for c in result.cases if c.status in FAILING]
    assert result.exit_status == 0 and not bad, "\n".join(f"{c.status} {c.id}\n{c.message}" for c in bad)


def _expectations(rel: str) -> list[str]:
    """What a scenario states about its own behaviour: asserts, expect blocks, CHECK lines,
    an ``# EXIT:`` status or a ``NAME.err`` golden, or a ``# GOLDEN:`` note saying that the
    ``.out`` golden was reviewed by hand (and what to look for in it)."""
    import dataclasses

    from kmscript.lang import ast
    from kmscript.lang.parser import parse_source
    from kmscript.source import Source
    from kmscript.testing.filecheck import parse_checks
    from kmscript.testing.runner import parse_directives

    path = ROOT / rel
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    if parse_checks(text):
        found.append("CHECK")
    d = parse_directives(text.split("\n"))
    if d.exit is not None or path.with_suffix(".err").exists():
        found.append("expected error")
    if any(line.lstrip().startswith("# GOLDEN:") and line.split(":", 1)[1].strip() for line in text.split("\n")):
        found.append("GOLDEN")

    def walk(node: Any) -> None:
        if isinstance(node, ast.Assert):
            found.append("assert")
        elif isinstance(node, ast.Expect):
            found.append("expect")
        if dataclasses.is_dataclass(node):
            for f in dataclasses.fields(node):
                walk(getattr(node, f.name))
        elif isinstance(node, (list, tuple)):
            for x in node:
                walk(x)

    walk(parse_source(Source(text, rel)))
    return found


@pytest.mark.parametrize("rel", [_rel(f) for f in sorted(SCENARIOS.rglob("*.kms"))])
def test_every_scenario_states_an_expectation(rel: str) -> None:
    # A golden alone only detects change; a scenario must say what it is about.
    assert _expectations(rel), (f"{rel} has no assert, expect, CHECK line, # EXIT:/NAME.err or "
                                "`# GOLDEN: what was reviewed` note")


def test_expectation_finder_sees_none_in_a_bare_scenario(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "bare.kms").write_text("machine(cpus=1)\nshow buddyinfo\n# GOLDEN:\n")
    (tmp_path / "checked.kms").write_text("x = 1\nif x { assert x == 1 }\n")
    (tmp_path / "reviewed.kms").write_text("# GOLDEN: the order-3 split in buddyinfo\nshow buddyinfo\n")
    assert _expectations("bare.kms") == []
    assert _expectations("checked.kms") == ["assert"]
    assert _expectations("reviewed.kms") == ["GOLDEN"]

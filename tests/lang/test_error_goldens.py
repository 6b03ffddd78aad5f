"""Golden tests of rendered errors: tests/golden_errors/NAME.kms -> NAME.err.

Each .err holds exactly what ``kmscript NAME.kms`` prints on stderr plus the exit status.
Run ``pytest tests/lang/test_error_goldens.py --update-goldens`` to rewrite them, then read
the diff.  A golden is never written by the run that compares against it: a case without
its ``.err`` fails (write it with ``--update-goldens`` and review it).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from kmscript.errors import KmsError
from kmscript.session import Session

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden_errors"
CASES = sorted(GOLDEN_DIR.glob("*.kms"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_rendering(path: Path, update_goldens: bool) -> None:
    s = Session(out=lambda line: None)
    try:
        s.run_text(path.read_text(), path.name)
        actual = "exit status 0\n"
    except KmsError as e:
        actual = f"{e.render()}\nexit status {e.exit_status}\n"
    assert "Traceback" not in actual and "__ANON" not in actual and "$END" not in actual
    golden = path.with_suffix(".err")
    if update_goldens:
        golden.write_text(actual)
        return
    if not golden.exists():
        pytest.fail(f"{golden.name} is missing: write it with --update-goldens and review it; "
                    f"the error is:\n{actual}", pytrace=False)
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual"))
    assert actual == expected, diff


def test_a_missing_golden_fails_and_is_not_written(tmp_path: Path) -> None:
    case = tmp_path / "new_case.kms"
    case.write_text("x = \n")
    with pytest.raises(pytest.fail.Exception, match="new_case.err is missing"):
        test_error_rendering(case, update_goldens=False)
    assert not case.with_suffix(".err").exists()

"""Golden tests of rendered errors: tests/golden_errors/NAME.kms -> NAME.err.

Each .err holds exactly what ``kmscript NAME.kms`` prints on stderr plus the exit status.
Run ``pytest tests/lang/test_error_goldens.py --update-goldens`` to rewrite them, then read
the diff.
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
    if update_goldens or not golden.exists():
        golden.write_text(actual)
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual"))
    assert actual == expected, diff

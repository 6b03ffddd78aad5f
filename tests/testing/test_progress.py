"""The progress line of long runs (issue 21 item 5): on a terminal's stderr only.

`kmscript test` and `--fail-nth` are run as the user runs them, in a subprocess whose
stderr is a pseudo-terminal (and, for the silent case, a pipe); a long script's line is
checked in-process with a terminal-like stream, so the suite does not wait for the one
second a script runs before its line appears."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from kmscript import cli
from kmscript.progress import ProgressLine

ROOT = Path(__file__).resolve().parents[2]
ERASE = "\r\x1b[K"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "300"   # wide enough for the temporary paths in the lines
    return env


def run_on_tty(args: list[str]) -> tuple[str, str]:
    """Run ``python -m kmscript ARGS`` with stderr on a pseudo-terminal: (stdout, what the
    terminal received)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "kmscript", *args], stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL, env=_env(), cwd=ROOT)
    os.close(slave)
    got = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:   # the other end closed (Linux reports EIO)
                break
            if not data:
                break
            got.append(data)
        elif p.poll() is not None:
            break
    assert p.stdout is not None
    out = p.stdout.read().decode()
    p.wait()
    os.close(master)
    return out, b"".join(got).decode(errors="replace")


def run_piped(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmscript", *args], capture_output=True, text=True, env=_env(),
                          cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture
def three_files(tmp_path: Path) -> list[str]:
    files = []
    for i in range(3):
        p = tmp_path / f"s{i}.kms"
        p.write_text(f"x = kmalloc({8 << i}, GFP_KERNEL)\nassert x != NULL\n")
        files.append(str(p))
    return files


def test_kmscript_test_shows_progress_on_a_terminal(three_files: list[str]) -> None:
    out, tty = run_on_tty(["test", *three_files])
    assert "kmscript test: 0/3 files" in tty and "kmscript test: 3/3 files, 0 failed" in tty
    assert tty.endswith(ERASE)            # the line is erased when the run ends
    # the results on stdout are untouched by it
    assert out.splitlines() == [f"PASS {f}" for f in three_files] + ["3 passed, 0 failed"]


def test_kmscript_test_is_silent_when_piped(three_files: list[str]) -> None:
    r = run_piped(["test", *three_files])
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines() == [f"PASS {f}" for f in three_files] + ["3 passed, 0 failed"]


def test_fail_nth_sweep_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    f = tmp_path / "n.kms"
    f.write_text("a = kmalloc(100, GFP_ATOMIC)\nb = kmalloc(200, GFP_ATOMIC)\n")
    out, tty = run_on_tty(["test", "--fail-nth", str(f)])
    assert f"fail-nth {f}: baseline run" in tty and f"fail-nth {f}: nth=1 (of at most 1000)" in tty
    assert tty.endswith(ERASE) and "\x1b" not in out
    piped = run_piped(["test", "--fail-nth", str(f)])
    assert piped.stderr == "" and piped.stdout == out


def test_a_long_script_shows_where_it_is(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(cli, "SCRIPT_PROGRESS_DELAY", 0.0)
    assert cli.main(["-c", 'x = 0\nrepeat 20000 { x += 1 }\nprint("done", x)']) == 0
    text = tty.getvalue()
    assert f"{ERASE}kmscript: <string>:2  " in text and " steps  " in text
    assert text.endswith(ERASE)
    assert capsys.readouterr().out == "done 20000\n"
    # piped: nothing at all on stderr
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert cli.main(["-c", 'x = 0\nrepeat 20000 { x += 1 }']) == 0
    assert pipe.getvalue() == ""


def test_progress_line_rules() -> None:
    tty = Tty()
    p = ProgressLine(tty, interval=0.0)
    out: list[str] = []
    write = p.wrap(out.append)
    p.update("one")
    write("result")                     # erased before the line, drawn again after it
    assert out == ["result"]
    assert tty.getvalue() == f"{ERASE}one{ERASE}{ERASE}one"
    p.close()
    assert tty.getvalue().endswith(f"one{ERASE}")
    p.update("after close")
    assert "after close" not in tty.getvalue()
    # not a terminal: nothing is written, and output passes through unchanged
    pipe = io.StringIO()
    q = ProgressLine(pipe)
    assert not q.enabled and q.wrap(out.append) == out.append
    q.update("x", force=True)
    q.close()
    assert pipe.getvalue() == ""
    # within the delay nothing is drawn
    late = ProgressLine(Tty(), delay=3600)
    late.update("soon")
    assert late.stream.getvalue() == ""  # type: ignore[attr-defined]

"""Every example that the help texts and the README show runs, and does what they say.

The examples are read from the texts themselves (``kmscript --help``'s epilog, the README's
code blocks and inline commands), so an example edited there is tested as written.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kmscript.cli import EPILOG

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def kms(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env_path = str(ROOT)
    return subprocess.run([sys.executable, "-m", "kmscript", *args], input="", capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


def _epilog_examples() -> list[list[str]]:
    block = EPILOG[EPILOG.index("examples:"):].split("\n\n")[0]
    commands = []
    for line in block.splitlines()[1:]:
        command = re.split(r"\s{2,}", line.strip())[0]   # drop the description column
        argv = shlex.split(command)
        assert argv[0] == "kmscript", line
        commands.append(argv[1:])
    return commands


def test_the_epilog_lists_examples() -> None:
    examples = _epilog_examples()
    assert len(examples) >= 5
    assert ["--trace", "-c", "p = alloc_pages(GFP_KERNEL, 3); __free_pages(p, 3)"] in examples


@pytest.mark.parametrize("args", _epilog_examples(), ids=lambda a: " ".join(a) or "(repl)")
def test_help_epilog_example_runs(args: list[str]) -> None:
    r = kms(args)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    if "--trace" in args:
        assert "mm_page_alloc: " in r.stdout and "mm_page_free: " in r.stdout
    if "--json" in args:
        assert r.stdout.lstrip().startswith("{")


def _readme_shell_commands() -> list[list[str]]:
    """``kmscript ...`` commands of the README's sh blocks and inline code (not the synopsis)."""
    found: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for part in block.replace("&&", "\n").splitlines():
            argv = shlex.split(part.strip())
            if argv and argv[0] == "kmscript":
                found.append(argv[1:])
    for code in re.findall(r"`(kmscript [^`]*)`", README):
        argv = shlex.split(code)
        if not any(a.isupper() or a.startswith("[") or a.endswith("...") for a in argv):
            found.append(argv[1:])
    return found


# options whose value is a file the command writes: redirected into a temporary directory,
# so that running the README's commands never writes into the work tree
OUTPUT_OPTIONS = {"--plot"}


def test_readme_kmscript_commands_run(tmp_path: Path) -> None:
    commands = _readme_shell_commands()
    assert ["examples/oom.kms"] in commands
    assert ["--plot", "oom.svg", "examples/oom.kms"] in commands
    plotting = importlib.util.find_spec("matplotlib") is not None   # without it: a note, no file
    for args in commands:
        args = list(args)
        written = []
        for i, a in enumerate(args[:-1]):
            if a in OUTPUT_OPTIONS:
                written.append((ROOT / args[i + 1], tmp_path / Path(args[i + 1]).name))
                args[i + 1] = str(written[-1][1])
        r = kms(args)
        assert r.returncode == 0, (args, r.stderr)
        for as_shown, out in written:
            assert not as_shown.exists(), f"{as_shown} is in the work tree"
            assert out.is_file() or not plotting, (args, r.stdout)


def test_readme_error_example_is_what_the_interpreter_prints(tmp_path: Path) -> None:
    block = README[README.index("Errors are reported like a compiler's"):]
    shown = block[block.index("```\n") + 4:]
    shown = shown[:shown.index("```\n")]
    first, source_line, _caret = shown.splitlines()
    name = first.split(":")[0]
    (tmp_path / name).write_text("counter = 0\n" + source_line.strip() + "\n")
    r = kms([name], cwd=tmp_path)
    assert r.returncode == 3   # an unknown name is found when the line runs
    assert r.stderr.splitlines() == shown.splitlines(), r.stderr


def test_readme_fault_injection_knobs_run() -> None:
    knobs = [k for k in re.findall(r"`(fail [^`]+)`", README) if "KIND" not in k]   # not the synopsis
    assert len(knobs) == 3
    script = "cache inode = create(size=600, align=64)\n" + "\n".join(knobs) + "\n"
    r = kms(["-c", script])
    assert r.returncode == 0, r.stderr


def test_readme_repl_result_line_shape() -> None:
    """The REPL's description of ``x = kmalloc(50, GFP_ATOMIC)`` as the README quotes it."""
    quoted = re.search(r"\(`x = (0x[0-9a-f]+)  (kmalloc-64  slab pfn 0x[0-9a-f]+  obj 0/64)  GFP_ATOMIC`\)", README)
    assert quoted is not None
    from kmscript.session import Session
    s = Session(out=lambda line: None)
    s.run_text("x = kmalloc(50, GFP_ATOMIC)")
    addr = int(s.interp.globals["x"].addr)
    assert f"{addr:#x}" == quoted.group(1)
    assert s.machine.views.describe_address(addr) == quoted.group(2)

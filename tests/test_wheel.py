"""The wheel ships everything: build it, install it into a fresh venv, run a script with it.

An editable install reads grammar/kmscript.lark from the source tree and can hide a file
missing from the wheel; this test runs the installed console script from outside the tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(dist), str(ROOT)], check=True, timeout=300)
    (wheel,) = dist.glob("kmscript-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kmscript/grammar/kmscript.lark" in names
    assert "kmscript/py.typed" in names
    env_dir = tmp_path / "venv"
    # The venv must see only the wheel: a PYTHONPATH pointing at a source tree (as when
    # testing a git worktree) would shadow it.
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True, timeout=600, env=clean_env)
    script = tmp_path / "hello.kms"
    script.write_text("fn sq(x) { return x * x }\nassert sq(12) == 144\nprint(sq(4K))\n")
    r = subprocess.run([str(env_dir / "bin" / "kmscript"), str(script)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120, env=clean_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{4096 * 4096}\n"
    # The installed package is the wheel's, not the source tree's.
    r = subprocess.run([str(py), "-c", "import kmscript, sys; print(kmscript.__file__)"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=60, env=clean_env)
    assert str(env_dir) in r.stdout

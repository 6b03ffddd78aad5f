"""Every built-in, view and method, called with wrong or odd arguments, fails with a
kmscript error (or works) — never with a Python exception."""

from __future__ import annotations

import random

import pytest

from kmscript.errors import KmsError
from kmscript.lang.builtins import load_all
from kmscript.lang.builtins.registry import BUILTINS, METHODS, VIEWS
from kmscript.session import Session

load_all()
VALUES = ["0", "1", "-1", "4096", "1 << 40", "GFP_KERNEL", "GFP_ATOMIC", '"x"', "NULL", "[1]", "true", "p", "pg",
          "c", "t", "11", "0x10"]
SETUP = ('machine(mem=256M, cpus=2)\np = kmalloc(64, GFP_KERNEL)\npg = alloc_pages(GFP_KERNEL, 0)\n'
         'cache c = create(size=100)\ntask t = spawn("x")\nfile fl = open("a")\npercpu v = 1\n')
SKIP = {"machine", "msleep"}


def _run(line: str) -> None:
    s = Session(out=lambda text: None, max_steps=100_000)
    try:
        s.run_text(SETUP + line + "\n", "fuzz.kms")
    except KmsError:
        pass


def _calls() -> list[str]:
    rng = random.Random(7)
    out = []
    for name, b in sorted(BUILTINS.items()):
        if name in SKIP:
            continue
        n = len([p for p in b.params if p.kind == "normal"])
        seen: set[tuple[str, ...]] = set()
        for k in range(min(n, 3) + 1):
            for _ in range(3):
                seen.add(tuple(rng.choice(VALUES) for _ in range(k)))
        out += [f"x = {name}({', '.join(args)})" for args in sorted(seen)]
    return out


@pytest.mark.parametrize("chunk", range(4))
def test_builtins_with_odd_arguments(chunk: int) -> None:
    calls = _calls()
    for line in calls[chunk::4]:
        _run(line)


def test_views_and_methods_with_odd_arguments() -> None:
    for name in sorted(VIEWS):
        for args in ["", "p", "c", "t", '"x"', "1", "Normal"]:
            _run(f"show {name} {args}")
    objects = {"task": "t", "cache": "c", "page": "pg", "file": "fl"}
    for (kind, method) in sorted(METHODS):
        if kind in objects:
            for args in ["", "1", '"x"', "-1", "1M", "NULL", "1, 2"]:
                _run(f"x = {objects[kind]}.{method}({args})")

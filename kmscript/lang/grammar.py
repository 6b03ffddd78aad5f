"""Finding the grammar file.

The one grammar lives at ``grammar/kmscript.lark`` in the source tree and is shipped
inside the wheel as ``kmscript/grammar/kmscript.lark``.  An installed wheel reads the
packaged copy; a source checkout (editable install, tests) reads the top-level file.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def grammar_path() -> Path:
    packaged = _HERE.parent / "grammar" / "kmscript.lark"
    if packaged.is_file():
        return packaged
    in_tree = _HERE.parent.parent / "grammar" / "kmscript.lark"
    if in_tree.is_file():
        return in_tree
    raise FileNotFoundError("kmscript grammar not found (expected kmscript/grammar/kmscript.lark "
                            "in the installed package or grammar/kmscript.lark in the source tree)")


def grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")

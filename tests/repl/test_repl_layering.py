"""Import rules for the REPL area: prompt_toolkit only inside kmscript/repl/; the lexer
imports only pygments and the language vocabulary."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "kmscript"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
    return names


def test_prompt_toolkit_only_inside_repl() -> None:
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if "repl" not in p.relative_to(PKG).parts
                 and any(n.split(".")[0] == "prompt_toolkit" for n in _imports(p))]
    assert offenders == []


def test_highlight_imports_only_pygments_and_the_vocabulary() -> None:
    allowed_third_party = {"pygments"}
    for name in _imports(PKG / "highlight.py"):
        if name.startswith("."):
            assert name in (".lang",), name  # from .lang import vocabulary
        else:
            top = name.split(".")[0]
            assert top in allowed_third_party or top in ("__future__", "functools", "typing"), name

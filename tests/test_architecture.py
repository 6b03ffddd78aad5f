"""The import rules of the design, enforced on the source text.

- runtime/ imports only the standard library and runtime/ itself;
- inside runtime/, a lower allocator never imports a higher one;
- Lark is imported only by lang/parser.py, prompt_toolkit only inside repl/;
- lang/ reaches the runtime only through the Machine facade (plus the runtime's
  exception and flag-table modules).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "kmscript"
STDLIB = set(sys.stdlib_module_names)

# Lower layers first; a module may import only modules of its own or a lower rank.
RANK = {
    "errors": 0, "printk": 0, "trace": 0, "vmstat": 0, "fault_inject": 0, "context": 1,
    "gfp": 1, "history": 1, "physmem": 1, "zone": 2, "buddy": 2, "page_alloc": 3, "procfs": 9,
    "slab": 4, "slab_geometry": 4, "slub_debug": 4, "kmalloc": 5,
    "vmalloc": 6, "percpu": 7, "kstack": 7,
    "task": 8, "pagecache": 8, "reclaim": 8, "compaction": 8, "oom": 8, "machine": 10,
}


def imports(path: Path, runtime_only: bool = False) -> list[str]:
    """Modules a file imports; with runtime_only, imports under ``if TYPE_CHECKING:`` are skipped."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-node.level])
                mod = f"{base}.{node.module}" if node.module else base
                if node.module is None:
                    found += [f"{base}.{a.name}" for a in node.names]
                    continue
                found.append(mod)
            elif node.module:
                found.append(node.module)
    return found


def test_runtime_uses_only_stdlib_and_itself() -> None:
    for path in sorted((PKG / "runtime").glob("*.py")):
        for mod in imports(path):
            top = mod.split(".")[0]
            if top == "kmscript":
                assert mod.startswith("kmscript.runtime"), f"{path.name} imports {mod}"
            else:
                assert top in STDLIB or top == "__future__", f"{path.name} imports third-party {mod}"


def test_runtime_layering() -> None:
    for path in sorted((PKG / "runtime").glob("*.py")):
        me = path.stem
        if me == "__init__" or me not in RANK:
            continue
        for mod in imports(path, runtime_only=True):
            if not mod.startswith("kmscript.runtime."):
                continue
            other = mod.split(".")[2]
            if other in RANK and other != me:
                assert RANK[other] <= RANK[me] or me == "machine", \
                    f"runtime/{me}.py (layer {RANK[me]}) imports higher layer {other} ({RANK[other]})"


def test_lark_only_in_parser_and_prompt_toolkit_only_in_repl() -> None:
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        for mod in imports(path):
            top = mod.split(".")[0]
            if top == "lark":
                assert rel == "lang/parser.py", f"{rel} imports lark"
            if top == "prompt_toolkit":
                assert rel.startswith("repl/"), f"{rel} imports prompt_toolkit"


def test_lang_reaches_runtime_through_the_facade() -> None:
    # The facade, its exceptions, and the runtime's constant tables and handle types that
    # the vocabulary and the built-ins' signatures need (GFP/SLAB flags, kmalloc limits,
    # fault-injection knob names, the table of historical names).
    allowed = {"kmscript.runtime.machine", "kmscript.runtime.errors", "kmscript.runtime.gfp",
               "kmscript.runtime.slab", "kmscript.runtime.slab_geometry", "kmscript.runtime.printk",
               "kmscript.runtime.reports", "kmscript.runtime.history",
               "kmscript.runtime.trace", "kmscript.runtime.fault_inject"}
    for path in sorted((PKG / "lang").rglob("*.py")):
        for mod in imports(path):
            if mod.startswith("kmscript.runtime"):
                assert mod in allowed, f"lang/{path.relative_to(PKG / 'lang')} imports {mod}"

"""The import rules of the design, enforced on the source text.

Every import counts, ``if TYPE_CHECKING:`` ones and imports inside functions included:

- runtime/ imports only the standard library and runtime/ itself;
- inside runtime/, every module has a layer (RANK) and imports only modules of its own or
  a lower layer; a module without a layer fails the test (a new module must be placed);
- no runtime module but the facade imports the Machine;
- no import cycles anywhere in the package (runtime, lang, session, repl, testing),
  except the named, known ones in KNOWN_CYCLES (being removed by other work);
- Lark is imported only by lang/parser.py, prompt_toolkit only inside repl/;
- lang/ reaches the runtime only through the Machine facade (plus the runtime's
  exception and flag-table modules).
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "kmscript"
STDLIB = set(sys.stdlib_module_names)

# The kernel's layering, lowest first: clock/log -> context -> zones/buddy/pcp -> SLUB/kmalloc
# -> vmalloc -> percpu/kstacks -> tasks/page cache/reclaim/compaction/OOM -> views -> facade.
# A module may import only modules of its own or a lower rank.  The page allocator and SLUB
# are stacks of files (mm_init -> page_state -> show_mem -> page_free -> migrate ->
# rmqueue -> page_alloc; slab_types -> slab_common -> slub_debug -> slab): their ranks keep that order.
RANK: dict[str, float] = {
    # leaves: facts and plumbing that depend on no allocator
    "errors": 0, "events": 0, "gfp": 0, "mm_types": 0, "config": 0, "sysctl": 0, "trace": 0, "explain": 0,
    "vmstat": 0, "taint": 0, "arch": 0, "direct_map": 0, "bug_sites": 0, "limits": 0.5, "history": 0.5,
    "dumpstack": 0.5,
    "printk": 0.6, "ratelimit": 0.65, "reports": 0.7, "physmem": 0.7, "fault_inject": 0.7,
    "context": 1,
    # zones, buddy lists, pcp
    "zone": 2, "buddy": 2, "internal": 2.1,
    "mm_init": 3.0, "page_state": 3.1, "show_mem": 3.2, "page_free": 3.3, "migrate": 3.4, "rmqueue": 3.45,
    "page_alloc": 3.5,
    # SLUB and kmalloc
    "slab_geometry": 4.0, "slab_types": 4.1, "slab_common": 4.2, "slub_debug": 4.3, "slab": 4.4,
    "kasan": 4.5,  # generic KASAN: hooks into SLUB (slab_types.KasanSlabHooks); vmalloc installed later
    "kmalloc": 5,
    # vmalloc
    "vmap_area": 6.0, "vmalloc": 6.1,
    # percpu and kernel stacks
    "percpu_internal": 7.0, "percpu_vm": 7.1, "percpu": 7.2, "kstack": 7.2, "highmem": 7.2, "maccess": 7.3,
    # tasks, page cache, reclaim, compaction, OOM
    "pagecache": 8.0, "zone_access": 8.0, "vma": 8.0, "swapfile": 8.05, "pgtable": 8.05, "memory": 8.05, "gup": 8.05, "rmap": 8.05,
    "mmap": 8.05, "mprotect": 8.05, "mremap": 8.05, "fork": 8.05, "address_spaces": 8.05, "task_mmu": 8.06, "task": 8.1, "compaction": 8.2, "oom": 8.2, "reclaim": 8.3,
    # the sampler over all of them (show timeline, plot)
    "timeline": 8.5,
    # views over everything, then the facade that wires the subsystems
    "procfs": 9, "views": 9, "frames": 9.1, "machine": 10,
}

# Import cycles that exist today and are being removed by other work (named, so that a
# new cycle fails and these stop being allowed as soon as they are gone).
KNOWN_CYCLES: set[frozenset[str]] = set()   # compiler<->session and repl app<->commands are gone


@functools.lru_cache(maxsize=None)
def imports(path: Path) -> list[str]:
    """Every module a file imports (TYPE_CHECKING blocks and function bodies included)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = path.relative_to(PKG.parent).with_suffix("").parts
                if path.name == "__init__.py":
                    parts = parts[:-1] + ("__init__",)
                base = ".".join(parts[:-node.level])
                if node.module is None:
                    found += [f"{base}.{a.name}" for a in node.names]
                    continue
                found.append(f"{base}.{node.module}")
            elif node.module:
                found.append(node.module)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@functools.lru_cache(maxsize=None)
def package_graph() -> dict[str, set[str]]:
    """kmscript module -> the kmscript modules it imports (a package import counts as its
    __init__; ``from pkg import mod`` counts as the submodule when it is one)."""
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for mod in imports(path):
            while mod and mod not in files:
                mod = mod.rpartition(".")[0]
            if mod and mod != name and mod.startswith("kmscript"):
                deps.add(mod)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_runtime_uses_only_stdlib_and_itself() -> None:
    for path in sorted((PKG / "runtime").rglob("*.py")):
        for mod in imports(path):
            top = mod.split(".")[0]
            if top == "kmscript":
                assert mod.startswith("kmscript.runtime"), f"{path.name} imports {mod}"
            else:
                assert top in STDLIB or top == "__future__", f"{path.name} imports third-party {mod}"


def _runtime_layer(mod: str) -> str:
    """runtime module name -> its layer key (a subpackage counts as its top name)."""
    return mod.split(".")[2]


def test_every_runtime_module_has_a_layer() -> None:
    for path in sorted((PKG / "runtime").glob("*.py")):
        if path.stem != "__init__":
            assert path.stem in RANK, f"runtime/{path.name} has no layer in RANK: place it"
    for path in sorted((PKG / "runtime").iterdir()):
        if path.is_dir() and (path / "__init__.py").exists():
            assert path.name in RANK, f"runtime/{path.name}/ has no layer in RANK: place it"


def test_runtime_layering() -> None:
    bad = []
    for path in sorted((PKG / "runtime").rglob("*.py")):
        rel = path.relative_to(PKG / "runtime").parts
        me = rel[0] if len(rel) > 1 else path.stem
        if me == "__init__":
            continue
        for mod in imports(path):
            if not mod.startswith("kmscript.runtime."):
                continue
            other = _runtime_layer(mod)
            if other != me and RANK[other] > RANK[me]:
                bad.append(f"runtime/{'/'.join(rel)} (layer {RANK[me]}) imports higher layer {other} ({RANK[other]})")
    assert not bad, "\n".join(bad)


def test_no_runtime_module_imports_the_machine() -> None:
    for path in sorted((PKG / "runtime").rglob("*.py")):
        if path.stem == "machine":
            continue
        for mod in imports(path):
            assert mod != "kmscript.runtime.machine", f"runtime/{path.name} imports the Machine facade"


def test_no_import_cycles() -> None:
    found = [c for c in cycles(package_graph()) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("cycle", sorted(sorted(c) for c in KNOWN_CYCLES))
def test_known_cycles_are_still_there(cycle: list[str]) -> None:
    """A known cycle that is gone is reported (xfail, not strict: the work removing it may
    land at any time) so that it leaves KNOWN_CYCLES instead of staying allowed."""
    if frozenset(cycle) not in {frozenset(c) for c in cycles(package_graph())}:
        pytest.xfail(f"{' <-> '.join(cycle)} is gone: remove it from KNOWN_CYCLES")


def test_cycle_detection_has_teeth() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


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
    # page size, fault-injection knob names, the table of historical names, the struct page
    # handle __free_pages tells from an address), and the type
    # of the work meter the host shares with its machines (lang/host.py), and the type of
    # the decision records `explain` hands to the host (runtime/explain.py).
    allowed = {"kmscript.runtime.explain", "kmscript.runtime.machine", "kmscript.runtime.errors", "kmscript.runtime.gfp",
               "kmscript.runtime.slab", "kmscript.runtime.slab_geometry", "kmscript.runtime.printk",
               "kmscript.runtime.reports", "kmscript.runtime.history", "kmscript.runtime.mm_types",
               "kmscript.runtime.trace", "kmscript.runtime.fault_inject", "kmscript.runtime.limits",
               "kmscript.runtime.page_state"}
    for path in sorted((PKG / "lang").rglob("*.py")):
        for mod in imports(path):
            if mod.startswith("kmscript.runtime"):
                assert mod in allowed, f"lang/{path.relative_to(PKG / 'lang')} imports {mod}"


def _module_graph() -> dict[str, set[str]]:
    """kmscript module -> the kmscript modules it imports (any import, TYPE_CHECKING too)."""
    names = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for mod, path in names.items():
        deps = set()
        for imported in imports(path):
            # `from . import ast` is reported as the package plus the name: keep the longest module.
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != mod and not mod.startswith(imported + "."):
                deps.add(imported)
        graph[mod] = deps
    return graph


def _in_language_stack(mod: str) -> bool:
    return mod.startswith("kmscript.lang") or mod in ("kmscript.session", "kmscript.errors", "kmscript.source")


def test_no_import_cycles_in_the_language_stack() -> None:
    # lang/ and the session that hosts it (lang/host.py is the session's protocol, so
    # the compiler never imports the session that imports it).
    graph = {m: {d for d in deps if _in_language_stack(d)}
             for m, deps in _module_graph().items() if _in_language_stack(m)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(mod: str) -> None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if dep.startswith(mod + ".") or (dep.count(".") < mod.count(".") and mod.startswith(dep + ".")):
                continue  # a package and its own submodules
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)


def test_lang_does_not_import_the_session() -> None:
    for path in sorted((PKG / "lang").rglob("*.py")):
        for mod in imports(path):
            assert mod != "kmscript.session", f"lang/{path.relative_to(PKG / 'lang')} imports the session"


def test_optional_extras_are_imported_in_one_module_each() -> None:
    """matplotlib (the plot extra) only in kmscript/plot.py; IPython and the Jupyter
    machinery (the jupyter extra) only in kmscript/jupyter.py."""
    owners = {"matplotlib": "plot.py", "IPython": "jupyter.py", "ipykernel": "jupyter.py",
              "nbclient": "jupyter.py", "nbformat": "jupyter.py"}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        for mod in imports(path):
            top = mod.split(".")[0]
            if top in owners:
                assert rel == owners[top], f"{rel} imports {mod}"

"""kmscript: a scripting language and simulator for Linux kernel physical-memory scenarios.

Layers (see README and the module docstrings):

- ``kmscript.runtime``: the simulated kernel (stdlib only; knows nothing of the language).
- ``kmscript.lang``: grammar, parser, AST, compiler and built-ins (the only Lark user).
- ``kmscript.session``: one machine plus interpreter, shared by CLI, REPL and test runner.
- ``kmscript.repl``: the interactive REPL (the only prompt_toolkit user).
- ``kmscript.testing``: the scenario runner and the pytest plugin.
- ``kmscript.jupyter``: ``%load_ext kmscript`` (the only IPython user; the jupyter extra).
"""

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kmscript``: the %%kmscript cell magic (kmscript/jupyter.py)."""
    from .jupyter import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .jupyter import unload_ipython_extension as unload
    unload(ipython)

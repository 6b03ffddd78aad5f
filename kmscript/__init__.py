"""kmscript: a scripting language and simulator for Linux kernel physical-memory scenarios.

Layers (see README and the module docstrings):

- ``kmscript.runtime``: the simulated kernel (stdlib only; knows nothing of the language).
- ``kmscript.lang``: grammar, parser, AST, compiler and built-ins (the only Lark user).
- ``kmscript.session``: one machine plus interpreter, shared by CLI, REPL and test runner.
- ``kmscript.repl``: the interactive REPL (the only prompt_toolkit user).
- ``kmscript.testing``: the scenario runner and the pytest plugin.
"""

__version__ = "0.1.0"

"""The kmscript REPL (the only package that imports prompt_toolkit).

``run_repl(session=None, session_options={}, vi_mode=False) -> int`` is what the CLI
calls for ``kmscript`` on a terminal, ``kmscript --repl`` and ``kmscript -i FILE``.
"""

from __future__ import annotations

from .app import Repl, run_repl

__all__ = ["Repl", "run_repl"]

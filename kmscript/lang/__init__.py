"""The kmscript language: grammar loading, parser, AST, compiler and built-ins.

This is the only package that imports Lark (in ``parser``).  It reaches the simulated
kernel only through :class:`kmscript.runtime.machine.Machine`.
"""

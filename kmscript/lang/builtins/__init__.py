"""Built-in functions, methods, views and values, one module per kernel area.

Importing this package imports every module in it, so that each registers its built-ins
(see ``registry``).  A module per area keeps each built-in next to the runtime call it
wraps: ``core`` (language helpers), ``pages`` (page allocator), ``slab`` (SLUB/kmalloc),
``vmalloc``, ``percpu``, ``context``, ``tasks`` ...
"""

from __future__ import annotations

import importlib
import pkgutil

from . import registry

_loaded = False


def load_all() -> None:
    """Import every built-in module once."""
    global _loaded
    if _loaded:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name != "registry":
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


__all__ = ["registry", "load_all"]

"""PEP 562 lazy exports shared by the package roots: import a name's module on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    namespace: dict[str, Any], exports: Mapping[str, str], extra_of: Mapping[str, str] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving `exports` (name -> module) and caching into `namespace`.

    With `extra_of` (module -> extra), an ImportError names the ``pip install 'realtime-nb[extra]'``
    that fixes it instead of surfacing as a bare import trace.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module_name), name)
        except ImportError as exc:
            if extra_of is None:
                raise
            extra = extra_of.get(module_name, "all")
            raise ImportError(
                f"{package}.{name} needs the '{extra}' extra: pip install 'realtime-nb[{extra}]' ({exc})"
            ) from exc
        namespace[name] = value  # later lookups skip __getattr__
        return value

    return __getattr__

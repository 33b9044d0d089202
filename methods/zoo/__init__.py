"""One module per method; each registers its class with methods.registry.register. Look a method up here: the zoo
imports its modules on first use, so the registry never imports the zoo."""
from __future__ import annotations

import importlib
import pkgutil

from methods.method import Method
from methods.registry import registered


def _import_modules() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def method_keys() -> list[str]:
    _import_modules()
    return sorted(registered())


def get_method_class(key: str) -> type[Method]:
    _import_modules()
    classes = registered()
    if key not in classes:
        raise KeyError(f"unknown method {key!r}; registered methods: {', '.join(sorted(classes))} "
                       f"(add one as a module under methods/zoo/)")
    return classes[key]

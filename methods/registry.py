"""The method registry: a method is one module under methods/zoo/ that registers one class by key.

Adding a method = one new file with a `@register("key")` class plus its entry in config/methods.yaml.
"""
from __future__ import annotations

import importlib
import pkgutil

from methods.method import Method

_REGISTRY: dict[str, type[Method]] = {}


def register(key: str):
    def add(cls: type[Method]) -> type[Method]:
        if key in _REGISTRY:
            raise ValueError(f"method key {key!r} registered twice ({_REGISTRY[key].__name__}, {cls.__name__})")
        cls.key = key
        _REGISTRY[key] = cls
        return cls
    return add


def _import_zoo() -> None:
    import methods.zoo as zoo
    for info in pkgutil.iter_modules(zoo.__path__):
        importlib.import_module(f"methods.zoo.{info.name}")


def method_keys() -> list[str]:
    _import_zoo()
    return sorted(_REGISTRY)


def get_method_class(key: str) -> type[Method]:
    _import_zoo()
    if key not in _REGISTRY:
        raise KeyError(f"unknown method {key!r}; registered methods: {', '.join(sorted(_REGISTRY))} "
                       f"(add one as a module under methods/zoo/)")
    return _REGISTRY[key]

"""The method registry: a method is one module under methods/zoo/ that registers one class by key (look a class up
with methods.zoo.get_method_class, which imports the zoo first).

Adding a method = one new file with a `@register("key")` class plus its entry in config/methods.yaml.
"""
from __future__ import annotations

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


def registered() -> dict[str, type[Method]]:
    """The classes registered so far, by key (methods.zoo imports every method module first)."""
    return dict(_REGISTRY)

"""Methods as config/methods.yaml declares them: whether a method needs a reference network, and its options with
their types and defaults. The one declaration of a method's options: the run-name check, the protocol and the
method's own Options class (methods.registry attaches options_class(key)) all read it."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from methods.plan import config
from methods.plan.method_classes import check_class

_NO_VALUE = object()
SCALAR_TYPES = (bool, int, float, str)   # bool first: a bool is also an int


@dataclass(frozen=True)
class Option:
    name: str
    type: type                          # bool, int, float, str, or tuple (items: str)
    default: Any
    choices: tuple | None = None        # allowed values (of each item, for a tuple)
    absent: Any = _NO_VALUE             # what a protocol without this option means (an option added later)
    minimum: float | None = None        # a number's range: min <= value <= max, value > above
    maximum: float | None = None
    above: float | None = None

    @property
    def added_later(self) -> bool:
        return self.absent is not _NO_VALUE

    def convert(self, value: Any) -> Any:
        """`value` (a YAML value or a run-name string) as this option's type, or ValueError naming what it takes."""
        if self.type is tuple:   # a run name writes a tuple as a+b+c
            items = tuple(str(item) for item in (value.split("+") if isinstance(value, str) else value) if item)
            if self.choices is not None and not set(items) <= set(self.choices):
                raise ValueError(f"option {self.name}={value!r}: {sorted(set(items) - set(self.choices))} not among "
                                 f"{self.choices}")
            return items
        converted = _scalar(self.name, value, self.type)
        if self.choices is not None and converted not in self.choices:
            raise ValueError(f"option {self.name}={value!r} not one of {self.choices}")
        self._check_range(value, converted)
        return converted

    def _check_range(self, written: Any, value: Any) -> None:
        bounds = [("at least", self.minimum, value < self.minimum if self.minimum is not None else False),
                  ("at most", self.maximum, value > self.maximum if self.maximum is not None else False),
                  ("above", self.above, value <= self.above if self.above is not None else False)]
        for words, bound, outside in bounds:
            if outside:
                raise ValueError(f"option {self.name}={written!r} is out of range: it must be {words} {bound:g} "
                                 "(config/methods.yaml)")

    def text(self, value: Any) -> str:
        """How a run name writes a value: one spelling per value, so one set of values names one directory."""
        if self.type is tuple:
            return "+".join(value)
        if self.type is bool:
            return "true" if value else "false"
        return repr(value) if self.type is float else str(value)


_EXAMPLE = {int: "2", float: "0.5", str: "text"}


def _a(kind: type) -> str:
    return {int: "an int", float: "a float", str: "a string"}[kind]


def _scalar(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"option {name}={value!r} is not a boolean (true/false)")
    if kind is str:
        return str(value)
    wrong = ValueError(f"option {name}={value!r} is not {_a(kind)} (its type in config/methods.yaml): write "
                       f"{name}=<{kind.__name__}>, e.g. {name}={_EXAMPLE[kind]}")
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise wrong
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise wrong from None
    if kind is float and not math.isfinite(converted):
        raise ValueError(f"option {name}={value!r} is not a finite number")
    return converted


@dataclass(frozen=True)
class MethodDeclaration:
    key: str
    needs_reference: bool
    options: tuple[Option, ...]

    @property
    def option_names(self) -> list[str]:
        return [option.name for option in self.options]

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def resolve(self, overrides: dict[str, str] | None = None) -> dict[str, Any]:
        """Every option's value: its default, or the override (a run name's string), converted to its type."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.option_names))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} of {self.key!r}; valid: {sorted(self.option_names)}")
        return {option.name: option.convert(overrides.get(option.name, option.default)) for option in self.options}

    def recorded(self, values: dict[str, Any]) -> dict[str, Any]:
        """Option values as a protocol records them: tuples as lists, an option added later left out at the value
        that reproduces the behaviour from before it existed (so runs published before it keep their hash)."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()
                if not (self.option(name).added_later and value == self.option(name).absent)}

    def from_recorded(self, recorded: dict[str, Any]) -> dict[str, Any]:
        """The option values a recorded protocol (or a saved model's options) stands for, converted."""
        unknown = sorted(set(recorded) - set(self.option_names))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} of {self.key!r}; valid: {sorted(self.option_names)}")
        values = {}
        for option in self.options:
            if option.name in recorded:
                values[option.name] = option.convert(recorded[option.name])
            elif option.added_later:
                values[option.name] = option.convert(option.absent)
            else:
                raise ValueError(f"option {option.name} of {self.key!r} has no value")
        return values


def declared_keys() -> list[str]:
    return [key for key in config.load("methods") if not key.startswith("_")]


@lru_cache(maxsize=None)
def _declared(path: str, key: str) -> MethodDeclaration:
    table = config.load("methods")
    if key not in table or key.startswith("_"):
        raise config.ConfigError(f"unknown method {key!r}; methods ({path}): {', '.join(declared_keys())}")
    entry = table[key] or {}
    config.validate(entry, config.methods_entry_schema(), f"{path}: entry {key!r}")
    try:
        check_class(key, entry.get("class"), f"{path}: entry {key!r}")
    except ValueError as error:
        raise config.ConfigError(str(error)) from None
    try:
        options = tuple(_option(name, spec) for name, spec in (entry.get("options") or {}).items())
    except ValueError as error:
        raise config.ConfigError(f"{path}: entry {key!r}: {error}") from None
    return MethodDeclaration(key, bool(entry.get("reference", False)), options)


def declared(key: str) -> MethodDeclaration:
    """The method `key` as config/methods.yaml declares it (checked against its schema), or ConfigError."""
    return _declared(_methods_yaml(), key)


def _methods_yaml() -> str:
    """Where the declarations are read from: the caches are keyed by it, so another config dir is read afresh."""
    return str(Path(config.config_dir()) / "methods.yaml")


TYPES = {"bool": bool, "int": int, "float": float, "str": str, "list": tuple}   # config/methods.yaml `type:`


def _option(name: str, spec: Any) -> Option:
    """An option as declared: its `type` says what values it takes (never the default's literal: `beta: 1` would
    make a float weight an int), its default is converted to that type and must be a valid value."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"option {name!r} declares no type: write {name}: {{type: float, default: "
                         f"{spec if not isinstance(spec, dict) else spec.get('default')!r}}} "
                         f"(types: {', '.join(TYPES)})")
    if spec["type"] not in TYPES:
        raise ValueError(f"option {name!r}: type {spec['type']!r} is not one of {', '.join(TYPES)}")
    choices = tuple(spec["choices"]) if "choices" in spec else None
    option = Option(name, TYPES[spec["type"]], None, choices, spec.get("absent", _NO_VALUE), spec.get("min"),
                    spec.get("max"), spec.get("above"))
    option = dataclasses.replace(option, default=option.convert(spec["default"]))
    if option.added_later:
        option.convert(option.absent)
    return option


@lru_cache(maxsize=None)
def _options_class(path: str, key: str) -> type:
    declaration = _declared(path, key)
    fields = [(option.name, option.type if option.type is not tuple else tuple[str, ...])
              for option in declaration.options]
    name = "".join(part.capitalize() for part in key.split("_")) + "Options"
    options = dataclasses.make_dataclass(name, fields, frozen=True)
    options.__module__ = __name__
    return options


def options_class(key: str) -> type:
    """A frozen dataclass with one field per declared option of `key` (a method's `Options`)."""
    return _options_class(_methods_yaml(), key)


def options_of(key: str, values: dict[str, Any]) -> Any:
    """The Options instance of `key` holding `values` (converted option values, e.g. a protocol's)."""
    return options_class(key)(**values)

"""A method's option types read from its source with `ast`, without importing it (torch): what `snakemake -n`
checks run-name option values against, before any job starts. The types are the Options dataclass annotations
themselves (tests/test_spec_grid.py holds them equal to typing.get_type_hints of the imported class), so there is
no second copy to keep in step. `convert_option` is the one conversion of a config or run-name value to its type,
used here and by methods.method.parse_options."""
from __future__ import annotations

import ast
import math
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def convert_option(name: str, value: Any, hint: Any) -> Any:
    """`value` (a YAML value or a run-name string) as `hint`, or ValueError naming the option and what it takes."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"option {name}={value!r} not one of {typing.get_args(hint)}")
        return value
    if origin is tuple:   # a run name writes a tuple as a+b+c
        items = tuple(str(item) for item in (value.split("+") if isinstance(value, str) else value) if item)
        choices = typing.get_args(typing.get_args(hint)[0])
        if typing.get_origin(typing.get_args(hint)[0]) is typing.Literal and not set(items) <= set(choices):
            raise ValueError(f"option {name}={value!r}: {sorted(set(items) - set(choices))} not among {choices}")
        return items
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"option {name}={value!r} is not a boolean (true/false)")
    try:
        converted = hint(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"option {name}={value!r} is not a {hint.__name__}") from error
    if hint is float and not math.isfinite(converted):
        raise ValueError(f"option {name}={value!r} is not a finite number")
    return converted


@lru_cache(maxsize=None)
def option_hints(method_key: str) -> dict[str, Any]:
    """{option: type} of the method registered as `method_key` under methods/zoo/, read from the source."""
    for path in sorted((PACKAGE_ROOT / "methods" / "zoo").glob("*.py")):
        module = f"methods.zoo.{path.stem}"
        for node in _tree(module).body:
            if isinstance(node, ast.ClassDef) and method_key in _registered_keys(node):
                return _options_fields(*_method_options(module, node))
    raise KeyError(f"no class registered as {method_key!r} under methods/zoo/")


@lru_cache(maxsize=None)
def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE_ROOT / (module.replace(".", "/") + ".py")).read_text())


def _registered_keys(node: ast.ClassDef) -> set[str]:
    return {decorator.args[0].value for decorator in node.decorator_list
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register"
            and decorator.args and isinstance(decorator.args[0], ast.Constant)}


def _lookup(module: str, name: str) -> tuple[str, ast.AST]:
    """(module, definition) of a top-level name of `module`, following `from x import name`."""
    for node in _tree(module).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return module, node.value
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("methods"):
            if any((alias.asname or alias.name) == name for alias in node.names):
                return _lookup(node.module, next(a.name for a in node.names if (a.asname or a.name) == name))
    raise KeyError(f"{name} not found in {module}")


def _method_options(module: str, cls: ast.ClassDef) -> tuple[str, ast.ClassDef]:
    """The Options class a method class declares, or inherits from its first base that has one."""
    for node in cls.body:
        if isinstance(node, ast.ClassDef) and node.name == "Options":
            return module, node
    for base in cls.bases:
        if isinstance(base, ast.Name):
            return _method_options(*_lookup(module, base.id))
    raise KeyError(f"{cls.name} in {module} has no Options")


def _options_fields(module: str, cls: ast.ClassDef) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for base in cls.bases:
        if isinstance(base, ast.Name):
            fields.update(_options_fields(*_lookup(module, base.id)))
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if not _is_classvar(node.annotation):
                fields[node.target.id] = _hint(module, node.annotation)
    return fields


def _is_classvar(annotation: ast.AST) -> bool:
    target = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return getattr(target, "id", None) == "ClassVar"


def _hint(module: str, node: ast.AST) -> Any:
    if isinstance(node, ast.Name):
        if node.id in BUILTIN_TYPES:
            return BUILTIN_TYPES[node.id]
        return _hint(*_lookup(module, node.id))
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if node.value.id == "Literal":
            return typing.Literal[tuple(element.value for element in elements)]
        if node.value.id == "tuple":
            return tuple[_hint(module, elements[0]), ...]
    raise TypeError(f"option annotation {ast.unparse(node)} in {module}: not a type the run-name check reads "
                    "(int, float, bool, str, Literal[...], tuple[..., ...] or a name for one)")

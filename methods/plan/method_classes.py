"""Which class under methods/zoo/ each method key registers, read from the source (ast), never imported: planning
checks that a config/methods.yaml entry names a class that exists and is registered under its key, without torch."""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ZOO = Path(__file__).resolve().parent.parent / "zoo"


@lru_cache(maxsize=None)
def registered_classes(zoo: Path = ZOO) -> dict[str, str]:
    """key -> '<module>.<Class>' of every `@register("key")` class of the zoo's modules."""
    found = {}
    for path in sorted(zoo.glob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register"
                        and decorator.args and isinstance(decorator.args[0], ast.Constant)):
                    found[decorator.args[0].value] = f"{path.stem}.{node.name}"
    return found


def check_class(key: str, named: str | None, where: str) -> None:
    """ValueError naming the fix when the entry `key` names no class, or one the zoo does not register as `key`."""
    registered = registered_classes()
    hint = (f"class: {registered[key]}" if key in registered else
            f"a module under methods/zoo/ with a @register({key!r}) class, then class: <module>.<Class>")
    if not named:
        raise ValueError(f"{where} names no class: add {hint}")
    if registered.get(key) != named:
        raise ValueError(f"{where}: class {named!r} is not a class under methods/zoo/ registered as {key!r}; "
                         f"write {hint}")

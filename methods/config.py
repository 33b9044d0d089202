"""Loading and validating the project's config files (config/*.yaml) against workflow/schemas/."""
from __future__ import annotations

from functools import lru_cache

import jsonschema
import yaml

from methods import CONFIG_DIR, PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"


class ConfigError(ValueError):
    pass


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """config/<name>.yaml, validated against workflow/schemas/<name>.schema.yaml when one exists."""
    path = CONFIG_DIR / f"{name}.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    schema_path = SCHEMA_DIR / f"{name}.schema.yaml"
    if schema_path.exists():
        try:
            jsonschema.validate(data, yaml.safe_load(schema_path.read_text()))
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise ConfigError(f"{path}: {where}: {error.message}") from None
    return data


def presets() -> dict:
    return load("presets")


def preset(name: str) -> dict:
    table = presets()
    if name not in table:
        raise ConfigError(f"unknown preset {name!r}; presets in config/presets.yaml: {', '.join(table)}")
    return table[name]


def grid() -> dict:
    return load("grid")


def method_defaults(key: str) -> dict:
    table = load("methods")
    if key not in table:
        raise ConfigError(f"method {key!r} has no entry in config/methods.yaml (add its default options there)")
    return dict(table[key] or {})

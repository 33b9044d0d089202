"""Loading and validating the project's config files (config/*.yaml) against workflow/schemas/.

Every problem is one line naming the file, the entry and the field (a YAML syntax error, a duplicated key, a
value of the wrong kind). datasets.yaml and methods.yaml are checked entry by entry when an entry is used, so
one broken entry never stops targets that do not use it."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

import methods
from methods import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"
CHECKED_WHOLE = ("config", "presets", "grid")    # validated as a whole on load; the others entry by entry


class ConfigError(ValueError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key written twice in one mapping (PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *shared` merges a shared block
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} is written twice; keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path):
    """A YAML file, or one line naming the file, the line and what is wrong."""
    try:
        return yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader) or {}
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}not valid YAML ({getattr(error, 'problem', None) or error}); "
                          "fix the file") from None


def validate(data, schema: dict, where: str) -> None:
    import jsonschema   # jsonschema (~0.2 s): only a config check needs it
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        field = "/".join(str(p) for p in error.absolute_path)
        raise ConfigError(f"{where}: {'field ' + repr(field) + ': ' if field else ''}{error.message}") from None


def config_dir() -> Path:
    return methods.CONFIG_DIR


@lru_cache(maxsize=None)
def _load(path: str, name: str) -> dict:
    data = read_yaml(Path(path))
    schema_path = SCHEMA_DIR / f"{name}.schema.yaml"
    if name in CHECKED_WHOLE and schema_path.exists():
        validate(data, read_yaml(schema_path), path)
    return data


def load(name: str) -> dict:
    """config/<name>.yaml (validated against workflow/schemas/<name>.schema.yaml for config, presets, grid)."""
    return _load(str(config_dir() / f"{name}.yaml"), name)


def presets() -> dict:
    return load("presets")


def preset(name: str) -> dict:
    table = presets()
    if name not in table:
        raise ConfigError(f"unknown preset {name!r}; presets in config/presets.yaml: {', '.join(table)}")
    _check_preset_names(name, str(config_dir()))
    return table[name]


@lru_cache(maxsize=None)
def _check_preset_names(name: str, where: str) -> None:
    """The tables and datasets a preset names exist (config/grid.yaml, config/datasets.yaml): one line at planning
    instead of a silently ignored override or a KeyError in a job."""
    from methods.plan.facts import dataset_names   # facts reads this module's YAML: imported here, not above
    entry, known = presets()[name], set(dataset_names())
    unknown_tables = [table for table in entry["tables"] if table not in grid()]
    if unknown_tables:
        raise ConfigError(f"config/presets.yaml: preset {name!r} names tables {unknown_tables} that config/grid.yaml "
                          f"does not define (tables: {', '.join(grid())})")
    for field in ("dataset_overrides", "processes"):
        unknown = sorted(set(entry.get(field) or {}) - known - {"*"})
        if unknown:
            raise ConfigError(f"config/presets.yaml: preset {name!r}: {field} names datasets {unknown} that "
                              f"config/datasets.yaml does not define (datasets: {', '.join(sorted(known))})")


def grid() -> dict:
    return load("grid")


@lru_cache(maxsize=None)
def methods_entry_schema() -> dict:
    """The schema of one entry of config/methods.yaml (methods.plan.options reads the entries)."""
    return read_yaml(SCHEMA_DIR / "methods.schema.yaml")["additionalProperties"]

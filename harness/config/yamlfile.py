"""YAML loading that remembers line numbers, so a bad field is reported as file:line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A configuration file is malformed; the message names the file, line and field."""


class LineDict(dict):
    """A mapping from YAML that knows the line of each key (1-based) and its own line."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ConfigError(f"{node.start_mark.name}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        loader = _Loader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {e.problem or e}") from None


def line_of(mapping: Any, key: str | None = None) -> int:
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 0


class FieldReader:
    """Reads typed fields from one YAML mapping and reports errors as file:line: field."""

    def __init__(self, path: Path, mapping: Any, where: str, line: int = 0):
        self.path, self.where, self.line = path, where, line
        if not isinstance(mapping, dict):
            raise ConfigError(f"{path}:{line_of(mapping)}: {where}: expected a mapping, got {type(mapping).__name__}")
        self.m = mapping

    def fail(self, key: str | None, message: str) -> ConfigError:
        field = f" field '{key}':" if key else ""
        line = line_of(self.m, key) if key in self.m else (self.line or line_of(self.m))
        return ConfigError(f"{self.path}:{line}: {self.where}:{field} {message}")

    def _get(self, key, required, default):
        if key not in self.m or self.m[key] is None:
            if required:
                raise self.fail(None, f"missing required field '{key}'")
            return default, False
        return self.m[key], True

    def str(self, key: str, required: bool = False, default: str = "", choices: tuple[str, ...] = ()) -> str:
        v, present = self._get(key, required, default)
        if not present:
            return v
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise self.fail(key, f"expected a string, got {type(v).__name__}")
        v = str(v)
        if choices and v not in choices:
            raise self.fail(key, f"{v!r} is not one of: {', '.join(choices)}")
        return v

    def _number(self, key: str, required: bool, default, minimum, types, what: str):
        v, present = self._get(key, required, default)
        if not present:
            return v
        if not isinstance(v, types) or isinstance(v, bool):
            raise self.fail(key, f"expected {what}, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {v}")
        return v

    def int(self, key: str, required: bool = False, default: int = 0, minimum: int | None = None) -> int:
        return self._number(key, required, default, minimum, int, "an integer")

    def float(self, key: str, required: bool = False, default: float = 0.0, minimum: float | None = None) -> float:
        v = self._number(key, required, default, minimum, (int, float), "a number")
        return float(v) if isinstance(v, (int, float)) else v

    def bool(self, key: str, default: bool = False) -> bool:
        v, present = self._get(key, False, default)
        if present and not isinstance(v, bool):
            raise self.fail(key, f"expected true or false, got {v!r}")
        return v

    def str_list(self, key: str, required: bool = False) -> list[str]:
        v, present = self._get(key, required, [])
        if not present:
            return []
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v):
            raise self.fail(key, "expected a list of strings")
        return [str(x) for x in v]

    def mapping(self, key: str) -> dict:
        v, present = self._get(key, False, {})
        if present and not isinstance(v, dict):
            raise self.fail(key, f"expected a mapping, got {type(v).__name__}")
        return v

    def unknown(self, known: set[str]) -> None:
        for k in self.m:
            if k not in known:
                raise self.fail(k, f"unknown field (known: {', '.join(sorted(known))})")

"""The config file as a tree of plain values: read as strict YAML (a key written twice is an
error), bounded in size (aliases can multiply), and with ``${VAR}`` / ``${VAR:-default}``
filled in from the environment. router/config.py validates what comes out."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from router.errors import ConfigError

#: far more values than any real config has; more means aliases expanding without end (or a billion of them)
MAX_VALUES = 100_000
#: a reference, or (group 3) a ``${`` that starts none: unterminated, or not a variable name
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}|(\$\{)")


def read_yaml(path: str) -> Any:
    """The file's YAML, or a ConfigError saying why it can't be read (not UTF-8, not YAML, nested
    beyond the parser)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        # the default path is relative: run from another directory, it is simply not there
        hint = "" if os.path.isabs(path) else (f" (looked in {os.getcwd()}; run eventrouter where {path} is, or name "
                                               "the file with --config PATH or EVENTROUTER_CONFIG)")
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}{hint}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # e.g. saved as Latin-1 by an editor
        raise ConfigError(f"{path} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply") from None


class _StrictLoader(yaml.SafeLoader):
    """safe_load, but a key written twice in one mapping is an error: YAML would keep the last one
    silently, so a second ``destinations:`` further down would drop the first list without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: keys written next to it override the merged ones, by design
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error says so
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def check_size(raw: Any) -> None:
    """Refuse a tree with more than MAX_VALUES values before walking it: a YAML alias inside itself
    (``a: &a [*a]``) is endless, and nested aliases multiply, so that a few lines would hang every command."""
    todo, count = [raw], 0
    while todo:
        node = todo.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"the configuration has more than {MAX_VALUES:,} values: "
                              "a YAML alias that contains itself, or aliases expanding too far")
        if isinstance(node, Mapping):
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def interpolate(node: Any, path: str = "", errors: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a YAML tree."""
    errors = {} if errors is None else errors
    if isinstance(node, str):

        def error(text: str) -> str:
            errors[path] = f"{errors[path]}; {text}" if path in errors else text  # every one of a value
            return ""

        def sub(m: re.Match[str]) -> str:
            if m.group(3) or (m.group(2) and "${" in m.group(2)):
                # left as text, a typo'd reference would become the secret itself; a value with a
                # literal "${" can come from an environment variable (its value is not read again)
                return error("${ without a matching ${VAR} or ${VAR:-default} (unterminated, nested, or not a "
                             "variable name); set such a value through an environment variable")
            value = os.environ.get(m.group(1))
            if value is None:
                if m.group(2) is None:
                    return error(f"environment variable {m.group(1)} is not set")
                return m.group(2)
            return value

        return _ENV_REF.sub(sub, node)
    if isinstance(node, Mapping):
        return {k: interpolate(v, f"{path}.{k}" if path else str(k), errors) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    return node

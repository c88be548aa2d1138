"""YAML loading that remembers where every value came from (file and line).

`load_located(text, path)` returns plain Python data plus a `Locator` that maps a
key path such as ("steps", 2, "load", "requests") to its 1-based line, so that
validation errors can name the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from cleanloop.loop.base.errors import ScenarioError

KeyPath = tuple[str | int, ...]


@dataclass
class Locator:
    path: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, keys: KeyPath) -> int | None:
        """Line of the deepest known prefix of `keys`."""
        for n in range(len(keys), -1, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return None

    def error(self, keys: KeyPath, message: str) -> ScenarioError:
        name = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys)
        return ScenarioError(message, path=self.path, line=self.line(keys),
                             field=name.replace(".[", "[") or None)


def _convert(node: yaml.Node, keys: KeyPath, loc: Locator) -> Any:
    loc.lines.setdefault(keys, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(
                key_node, yaml.ScalarNode) else key_node.value
            if not isinstance(key, str):
                raise ScenarioError(f"mapping keys must be strings, got {key!r}",
                                    path=loc.path, line=key_node.start_mark.line + 1)
            if key in out:
                raise ScenarioError(f"duplicate key '{key}'", path=loc.path,
                                    line=key_node.start_mark.line + 1, field=key)
            loc.lines[keys + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, keys + (key,), loc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, keys + (i,), loc) for i, item in enumerate(node.value)]
    # scalars: let the safe constructor resolve types (ints, floats, bools, null)
    return yaml.safe_load(yaml.serialize(node))


def load_located(text: str, path: str) -> tuple[Any, Locator]:
    loc = Locator(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"invalid YAML: {exc.problem or exc}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", path=path) from exc
    if node is None:
        raise ScenarioError("the file is empty", path=path, line=1)
    return _convert(node, (), loc), loc

"""ruamel's round-trip nodes as plain data, with the position of every key and value recorded in
a SourceMap. Apart from compiler/load.py so that loading specs whose parse is cached does not
import ruamel (compiler/check_cache.py, docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from compiler.errors import Position, SpecError
from compiler.load import KeyPath, SourceMap
from compiler.safe_yaml import key_value_position

__all__ = ["not_sections", "plain_data"]


def plain_data(node: Any, rel: str, smap: SourceMap) -> Any:
    """A YAML document as plain data, its positions recorded in `smap`."""
    return _plain(node, (), rel, smap)


def _plain(node: Any, path: KeyPath, rel: str, smap: SourceMap) -> Any:
    """Convert a ruamel round-trip node to plain Python data, recording positions."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            kline, kcol, vline, vcol = key_value_position(node, key)
            child = (*path, str(key))
            smap.keys[child] = Position(rel, kline + 1, kcol + 1)
            smap.values[child] = Position(rel, vline + 1, vcol + 1)
            out[str(key)] = _plain(node[key], child, rel, smap)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            line, col = node.lc.item(i)
            smap.values[(*path, i)] = Position(rel, line + 1, col + 1)
            items.append(_plain(item, (*path, i), rel, smap))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def not_sections(node: Any, rel: str) -> SpecError | None:
    """What is wrong with a spec file that is empty or not a mapping of sections; None if it is one."""
    if isinstance(node, CommentedMap) and node:
        return None
    sections = "top-level sections such as `services:`, `environments:`, `backends:`, `models:`, `policies:`"
    if node is None or (isinstance(node, CommentedMap | CommentedSeq) and not node):
        return SpecError(Position(rel, 1, 1), "spec file is empty",
                         f"a spec file holds one or more {sections}; delete the file if it has none")
    line, col = (node.lc.line + 1, node.lc.col + 1) if isinstance(node, CommentedSeq) else (1, 1)
    kind = "a list" if isinstance(node, CommentedSeq) else "a single value"
    return SpecError(Position(rel, line, col), f"a spec file must be a mapping of sections, not {kind}",
                     f"write {sections}")

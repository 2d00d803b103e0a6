"""Environment overlays: a partial document deep-merged over the base spec.

Mappings merge key by key. A list of named items (such as `models`) can be overlaid by a mapping
from item name to a partial item, so an environment changes one model without restating the list;
any other list is replaced whole.
"""

from __future__ import annotations

from typing import Any

from compiler.load import KeyPath, SourceMap


def deep_merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    if _named_items(base) and isinstance(overlay, dict):
        merged_items = list(base)
        index = {item["name"]: i for i, item in enumerate(base)}
        for name, patch in overlay.items():
            if name in index:
                merged_items[index[name]] = deep_merge(base[index[name]], patch)
            else:
                merged_items.append({"name": name, **patch} if isinstance(patch, dict) else patch)
                index[name] = len(merged_items) - 1
        return merged_items
    return overlay


def overlay_positions(base: Any, overlay: Any, overlay_map: SourceMap) -> SourceMap:
    """Re-key the overlay's positions to the merged document (item names become list indexes)."""
    renames: dict[KeyPath, KeyPath] = {}
    _collect_renames(base, overlay, (), renames)
    if not renames:
        return overlay_map

    def rekey(path: KeyPath) -> KeyPath:
        for end in range(len(path), 0, -1):
            if path[:end] in renames:
                return renames[path[:end]] + path[end:]
        return path

    return SourceMap({rekey(p): v for p, v in overlay_map.values.items()},
                     {rekey(p): v for p, v in overlay_map.keys.items()})


def _collect_renames(base: Any, overlay: Any, path: KeyPath, renames: dict[KeyPath, KeyPath]) -> None:
    if isinstance(base, dict) and isinstance(overlay, dict):
        for key, value in overlay.items():
            if key in base:
                _collect_renames(base[key], value, (*path, key), renames)
    elif _named_items(base) and isinstance(overlay, dict):
        names = [item["name"] for item in base]
        for name in overlay:
            index = names.index(name) if name in names else len(names)
            if name not in names:
                names.append(name)
            renames[(*path, name)] = (*path, index)
            if index < len(base):
                _collect_renames(base[index], overlay[name], (*path, index), renames)


def _named_items(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)

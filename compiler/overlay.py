"""Environment overlays: a partial document deep-merged over the base spec."""

from __future__ import annotations

from typing import Any


def deep_merge(base: Any, overlay: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced by the overlay."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return overlay

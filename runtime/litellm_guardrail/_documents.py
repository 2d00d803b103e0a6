"""LiteLLM's answer objects as the JSON documents clients receive, and writing a text back into the
object at the place it was read from. The policy reads the JSON form with the endpoint readers; a
redaction is written into the object LiteLLM returns (pydantic models, dicts and lists alike) and
checked there, so what the client gets is what the policy let through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, RootModel

from runtime.endpoints import Path

__all__ = ["Unparsable", "json_form", "set_text", "text_at"]


class Unparsable(ValueError):
    """A part of an answer that is not a JSON document (so no policy could read it)."""


def json_form(obj: Any) -> Any:
    """The JSON document `obj` is sent as: pydantic models as LiteLLM serialises them (aliases
    where the model says so, None left out), dicts, lists and scalars as they are."""
    if isinstance(obj, BaseModel):
        try:
            return obj.model_dump(mode="json", exclude_none=True)
        except Exception as exc:  # pydantic's serialisation errors have no common public base
            raise Unparsable(f"{type(obj).__name__} does not serialise to JSON") from exc
    if isinstance(obj, Mapping):
        if not all(isinstance(k, str) for k in obj):
            raise Unparsable("a mapping with keys that are not strings")
        return {k: json_form(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_form(v) for v in obj]
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise Unparsable(f"{type(obj).__name__} is not JSON")


def text_at(doc: Any, path: Path) -> Any:
    """The value at `path` of a JSON document."""
    for segment in path:
        doc = doc[segment]
    return doc


def set_text(obj: Any, path: Path, text: str) -> None:
    """Write `text` where `path` (a place in json_form(obj)) is in `obj` itself. Raises
    LookupError/TypeError/ValueError when the place cannot be found or written."""
    if not path:
        raise ValueError("the document itself is the text")
    node = obj
    for segment in path[:-1]:
        node = _child(_unwrap(node), segment)
    _assign(_unwrap(node), path[-1], text)


def _unwrap(node: Any) -> Any:
    # A RootModel serialises as its root: the path continues inside it.
    while isinstance(node, RootModel):
        node = node.root
    return node


def _child(node: Any, segment: str | int) -> Any:
    if isinstance(segment, int) or not isinstance(node, BaseModel):
        return node[segment]
    return getattr(node, _attribute(node, segment))


def _assign(node: Any, segment: str | int, text: str) -> None:
    if isinstance(segment, int) or not isinstance(node, BaseModel):
        node[segment] = text
    else:
        setattr(node, _attribute(node, segment), text)


def _attribute(model: BaseModel, key: str) -> str:
    """The attribute a serialised key comes from: a field by name or alias, or an extra field."""
    fields = type(model).model_fields
    if key in fields:
        return key
    for name, info in fields.items():
        if key in (info.alias, info.serialization_alias):
            return name
    if model.model_extra is not None and key in model.model_extra:
        return key
    raise KeyError(key)

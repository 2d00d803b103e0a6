"""Every string of a JSON document, as the policies need them.

A string is a text for the policy unless the endpoint's shape says it is an enum value (a role, a
content-part type) and it holds one of the enum's values, or it is content no policy can read (token
ids, image or audio bytes), which is listed apart. Whatever the shape does not know is read as
text: a field an attacker adds, an unknown part type, a role that is not a role. Keys are strings
too: a key that is not a field name of the APIs the gateway serves (metadata keys, logit_bias
tokens, anything invented) is read as text as well. So nothing a request or an answer carries
crosses the gateway unread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Path",
    "Reading",
    "Rules",
    "Shape",
    "Text",
    "Unreadable",
    "data_uri",
    "field_name",
    "index",
    "items",
    "read",
    "set_path",
    "shape",
]

Path = tuple[str | int, ...]
# place -> what the values there are; see shape()
Rules = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Text:
    path: Path
    text: str
    role: str | None = None
    is_key: bool = False  # the text is the last key of path itself, not the value there

    @property
    def field(self) -> str:
        name = field_name(self.path)
        return name + "{key}" if self.is_key else name


@dataclass(frozen=True, slots=True)
class Unreadable:
    path: Path
    kind: str  # token_ids | image | audio | file

    @property
    def field(self) -> str:
        return field_name(self.path)


@dataclass(slots=True)
class Reading:
    """What a walk found: the texts in document order, and what could not be read."""

    texts: list[Text] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    def extend(self, other: Reading) -> None:
        self.texts += other.texts
        self.unreadable += other.unreadable


class Shape:
    """What the values at one place of a document are, and the places below it: children by dict
    key ("*" for any key) and by list item ("[]")."""

    __slots__ = ("binary", "children", "enum", "role", "role_key", "skip", "tokens")

    def __init__(self) -> None:
        self.children: dict[str, Shape] = {}
        self.enum: frozenset[str] | None = None
        # (kind, predicate): a string here that the predicate accepts is content, not text
        self.binary: tuple[str, Callable[[str], bool]] | None = None
        self.tokens = False  # a list of integers here is token ids
        self.role: str | None = None  # the role of every text below
        self.role_key: str | None = None  # entering a dict here: its value under this key is the role
        self.skip = False  # nothing below is read (only where the caller owns the content)


_EMPTY = Shape()
_KEY = Shape()  # marks a key to read on the stack (a key is always a string)


def _always(_: str) -> bool:
    return True


def shape(rules: Mapping[str, Mapping[str, Any]]) -> Shape:
    """A Shape from rules keyed by place: "messages[].content[].type" (a key, "[]" any list item,
    "*" any key). A rule sets any of enum=(values), binary=kind or (kind, predicate), tokens=True,
    role="system", role_key="role", skip=True."""
    root = Shape()
    for place, rule in rules.items():
        node = root
        for segment in _segments(place):
            node = node.children.setdefault(segment, Shape())
        for key, value in rule.items():
            if key == "enum":
                node.enum = frozenset(value)
            elif key == "binary":
                node.binary = (value, _always) if isinstance(value, str) else (value[0], value[1])
            elif key in ("tokens", "role", "role_key", "skip"):
                setattr(node, key, value)
            else:
                raise ValueError(f"unknown shape rule {key!r} at {place!r}")
    return root


_SEGMENT = re.compile(r"\[\]|[^.\[\]]+")


def _segments(place: str) -> list[str]:
    return _SEGMENT.findall(place) if place else []


def read(
    doc: Any, root: Shape, *, role: str | None = None, prefix: Path = (), known_keys: frozenset[str] = frozenset()
) -> Reading:
    """The texts and unreadable parts of doc, in document order. known_keys: the field names of the
    API (from runtime/endpoints/_vocabulary.py); any other key is a text too."""
    out = Reading()
    stack: list[tuple[Any, Path, Shape, str | None]] = [(doc, prefix, root, role)]
    while stack:
        value, path, node, current = stack.pop()
        if node.skip:
            continue
        if node.role is not None:
            current = node.role
        if node is _KEY:
            out.texts.append(Text(path, value, current, is_key=True))
        elif isinstance(value, str):
            if node.enum is not None and value in node.enum:
                continue
            if node.binary is not None and node.binary[1](value):
                out.unreadable.append(Unreadable(path, node.binary[0]))
                continue
            out.texts.append(Text(path, value, current))
        elif isinstance(value, dict):
            if node.role_key is not None:
                found = value.get(node.role_key)
                current = found if isinstance(found, str) else None
            children = node.children
            wildcard = children.get("*", _EMPTY)
            items = []
            for k, v in value.items():
                if k not in known_keys:
                    items.append((k, (*path, k), _KEY, current))
                items.append((v, (*path, k), children.get(k, wildcard), current))
            stack += reversed(items)
        elif isinstance(value, list):
            if node.tokens and any(type(v) is int for v in value):
                out.unreadable.append(Unreadable(path, "token_ids"))
                value = [v for v in value if type(v) is not int]
                if not value:
                    continue
            item = node.children.get("[]", _EMPTY)
            stack += reversed([(v, (*path, i), item, current) for i, v in enumerate(value)])
    return out


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_name(path: Path) -> str:
    """("messages", 1, "content") -> "messages[1].content"; a key that is not an identifier is
    quoted (["a.b"]), so two places never share a name."""
    out = []
    for i, segment in enumerate(path):
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _IDENTIFIER.match(segment):
            out.append(f".{segment}" if i else segment)
        else:
            out.append("[" + json.dumps(segment, ensure_ascii=False) + "]")
    return "".join(out)


def set_path(doc: Any, path: Path, value: Any) -> None:
    """doc[path[0]][path[1]]… = value."""
    node = doc
    for segment in path[:-1]:
        node = node[segment]
    node[path[-1]] = value


def items(value: Any) -> list[Any]:
    """value if it is a list, else no items (stream readers take what upstreams send as it comes)."""
    return value if isinstance(value, list) else []


def index(item: Any, default: int) -> int:
    """The `index` an item of a stream event names, when it is a plain integer."""
    n = item.get("index") if isinstance(item, dict) else None
    return n if type(n) is int else default


def data_uri(value: str) -> bool:
    """An inline payload (data:image/png;base64,…), as opposed to a URL the text policy can read."""
    return value[:5].lower() == "data:"

"""Read YAML that people wrote (or an attacker did) within limits; every problem is a SpecError.

Spec files and the repository's hand-written compose files are read here. A file over the size
limit is not parsed. One budget (the nodes a document expands to, an alias counting as a copy of
its anchor; nesting depth; no tags beyond the plain ones) is checked event by event: first over
libyaml's event stream, at C speed, so a hostile file is refused in milliseconds, then inside
ruamel's composer as the exact check. The error points at the node that crosses the limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from compiler.errors import Position, SpecError
from compiler.yaml_file import MAX_YAML_BYTES, YamlProblem, read_text

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "YamlProblem", "key_value_position", "parse_yaml",
           "read_yaml"]

# Specs nest under 10 levels; ruamel composes recursively (a 50,000-deep list was a RecursionError),
# and so do later stages, so an alias counts at the depth it expands to.
MAX_YAML_DEPTH = 64
# Keys, items and scalars one file may expand to, an alias counting as a copy of its anchor: a
# billion-laughs bomb stops at the alias that crosses it. The 1,000-model spec has 12,117.
MAX_YAML_NODES = 50_000

_CORE_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_CORE_TAG}{kind}" for kind in ("str", "int", "float", "bool", "null", "map", "seq")}


def read_yaml(path: Path, rel: str) -> tuple[bytes, Any]:
    """The file's bytes and its round-trip node tree (None for an empty file)."""
    raw, text = read_text(path, rel)
    return raw, parse_yaml(text, rel)


def parse_yaml(text: str, rel: str) -> Any:
    """The round-trip node tree of a file's text (None for an empty file)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _GuardedComposer
    try:
        _precheck(text)
        return yaml.load(text)
    except _Refused as exc:
        raise YamlProblem(SpecError(Position(rel, exc.line + 1, exc.col + 1), exc.message, exc.hint)) from None
    except MarkedYAMLError as exc:
        raise YamlProblem(_syntax_error(exc, rel)) from None
    except YAMLError as exc:
        raise YamlProblem(SpecError(Position(rel, 1, 1), f"YAML: {exc}", "check the file's syntax")) from None


def key_value_position(node: CommentedMap, key: Any) -> tuple[int, int, int, int]:
    """0-based line and column of a key and its value; a key merged in with `<<: *anchor` is
    found where the anchored mapping wrote it."""
    if key in node.lc.data:
        return (*node.lc.key(key), *node.lc.value(key))
    for merged in node.merge:
        if key in merged:
            return key_value_position(merged, key)
    return node.lc.line, node.lc.col, node.lc.line, node.lc.col


class _Refused(Exception):
    """Raised at the event that crosses a limit."""

    def __init__(self, where: Any, message: str, hint: str) -> None:
        super().__init__(message)
        mark = getattr(where, "start_mark", where)  # an event, or a mark
        self.line, self.col = mark.line, mark.column
        self.message, self.hint = message, hint


class _Budget:
    """What one document expands to, checked event by event: nodes, depth, aliases, tags."""

    def __init__(self) -> None:
        self.nodes = 0  # nodes the document expands to so far, aliases counted as copies
        self.level = 0  # expanded depth of the node being read
        self.deepest = 0  # deepest level reached inside the node being read
        self.expansion: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height) of its node
        self.defined: set[str] = set()
        self.open_nodes: list[tuple[int, int, str | None]] = []  # (first node, outer deepest, anchor)

    def open(self, event: Any) -> None:
        """A scalar, sequence or mapping starts (a scalar is closed right after)."""
        _check_tag(event)
        self.level += 1
        if self.level > MAX_YAML_DEPTH:
            raise _Refused(event, f"values nest deeper than {MAX_YAML_DEPTH} levels",
                           "flatten the structure; no spec needs this depth")
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(event, f"file holds more than {MAX_YAML_NODES:,} YAML nodes",
                           "split the sections over several files in specs/")
        anchor = event.anchor
        if anchor is not None:
            self.expansion.pop(anchor, None)  # until it is closed, an alias to it is a cycle
            self.defined.add(anchor)
        self.open_nodes.append((self.nodes, self.deepest, anchor))
        self.deepest = self.level

    def close(self) -> None:
        first, outer, anchor = self.open_nodes.pop()
        if anchor is not None:
            self.expansion[anchor] = (self.nodes - first + 1, self.deepest - self.level + 1)
        self.level -= 1
        self.deepest = max(outer, self.deepest)

    def alias(self, event: Any) -> None:
        name = event.anchor
        if name not in self.defined:
            return  # ruamel reports the undefined alias
        if name not in self.expansion:
            raise _Refused(event, f"alias *{name} refers to a node that contains it (a cycle)",
                           "specs cannot be recursive; write the values out")
        nodes, height = self.expansion[name]
        if self.level + height > MAX_YAML_DEPTH:
            raise _Refused(event, f"alias *{name} nests values deeper than {MAX_YAML_DEPTH} levels",
                           "flatten the structure; no spec needs this depth")
        self.nodes += nodes
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(event, f"alias *{name} expands the file to more than {MAX_YAML_NODES:,} "
                           "YAML nodes (an alias bomb?)", "write the values out instead of nesting aliases")
        self.deepest = max(self.deepest, self.level + height)


def _precheck(text: str) -> None:
    """Run the budget over libyaml's events first: C speed, so a file over a limit is refused
    in milliseconds instead of after ruamel has parsed it up to the limit (~3 s for 50,000 nodes)."""
    if not pyyaml.__with_libyaml__:
        return  # the composer's budget still holds, only slower
    budget = _Budget()
    try:
        for event in pyyaml.parse(text, Loader=pyyaml.CSafeLoader):
            if isinstance(event, pyyaml.AliasEvent):
                budget.alias(event)
            elif isinstance(event, (pyyaml.ScalarEvent, pyyaml.CollectionStartEvent)):
                budget.open(event)
                if isinstance(event, pyyaml.ScalarEvent):
                    budget.close()
            elif isinstance(event, pyyaml.CollectionEndEvent):
                budget.close()
            elif isinstance(event, pyyaml.DocumentEndEvent):
                return  # ruamel refuses a second document
    except pyyaml.MarkedYAMLError as exc:
        # libyaml stops at 1,000 levels while looking ahead, before handing over the event that
        # crosses ours; ruamel would find it too, but slowly (~0.4 s for 50,000 open brackets).
        if "maximum nesting depth" in (exc.problem or "") and exc.problem_mark is not None:
            raise _Refused(exc.problem_mark, f"values nest deeper than {MAX_YAML_DEPTH} levels",
                           "flatten the structure; no spec needs this depth") from None
        # Any other syntax error: ruamel reports it in its words, with the same budget.
    except pyyaml.YAMLError:
        pass


class _GuardedComposer(Composer):
    """ruamel's composer with the budget: the exact check, whatever libyaml made of the file."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # YAML allows re-anchoring; the latest anchor wins
        self.budget = _Budget()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self.budget.alias(event)
            return super().compose_node(parent, index)
        self.budget.open(event)
        node = super().compose_node(parent, index)
        self.budget.close()
        return node


def _check_tag(event: Any) -> None:
    tag = event.tag  # a str for libyaml's events and ruamel's alike
    if tag is None or tag == "!" or tag in _PLAIN_TAGS:
        return
    shown = tag.replace(_CORE_TAG, "!!", 1)
    raise _Refused(event, f"YAML tag {shown} is not supported",
                   "remove the tag; specs hold strings, numbers, booleans, lists and mappings")


# What ruamel says about a construct that runs to the end of the file, said for people.
_UNCLOSED = {
    "while scanning a quoted scalar": "unclosed quoted string: it runs to the end of the file",
    "while scanning a double-quoted scalar": "unclosed quoted string: it runs to the end of the file",
    "while scanning a single-quoted scalar": "unclosed quoted string: it runs to the end of the file",
    "while parsing a flow sequence": "unclosed '[': the list runs to the end of the file",
    "while parsing a flow mapping": "unclosed '{': the mapping runs to the end of the file",
}


def _syntax_error(exc: MarkedYAMLError, rel: str) -> SpecError:
    what = exc.problem or exc.context or "invalid YAML"
    at_end = "end of stream" in what or "<stream end>" in what
    unclosed = _UNCLOSED.get(exc.context or "") if at_end else None
    # Where a quote or bracket is never closed, the problem mark is the end of the file; the
    # context mark is where it opened, which is what the author has to look at.
    mark = exc.context_mark if at_end and exc.context_mark is not None else exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    where = Position(rel, line, col)
    if unclosed:
        return SpecError(where, f"YAML syntax: {unclosed}", "close it where it should end")
    duplicate = re.search(r'duplicate key "([^"]*)"', what)
    if duplicate:
        return SpecError(where, f'duplicate key "{duplicate.group(1)}"',
                         "each key may appear once in a mapping; merge the two entries")
    return SpecError(where, f"YAML syntax: {what}", "check indentation and quoting around this line")

"""Load specs/*.yaml into plain data plus a source map (key path -> file:line:col).

Every spec file holds one or more top-level sections (services, routing, backends, …); the
sections of all files form one document. Positions come from ruamel's round-trip nodes, so every
later error can point at the exact line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from compiler.errors import Position, SpecError, SpecErrors
from compiler.safe_yaml import YamlProblem, key_value_position, read_yaml

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """A key path as people write it: models[0].litellm_params.api_key."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of the document was written."""

    values: dict[KeyPath, Position] = field(default_factory=dict)
    keys: dict[KeyPath, Position] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> Position:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.values.get(path[:end])
            if found is not None:
                return found
        return Position("specs")

    def rebased(self, prefix: KeyPath) -> SourceMap:
        """The entries under `prefix`, with `prefix` removed (for environment overlays)."""
        n = len(prefix)
        return SourceMap(
            values={p[n:]: v for p, v in self.values.items() if p[:n] == prefix},
            keys={p[n:]: v for p, v in self.keys.items() if p[:n] == prefix},
        )

    def overlaid(self, other: SourceMap) -> SourceMap:
        return SourceMap({**self.values, **other.values}, {**self.keys, **other.keys})


@dataclass
class LoadedSpecs:
    """The merged spec document as written, with positions and the raw inputs' digest material."""

    root: Path
    document: dict[str, Any]
    source_map: SourceMap
    files: dict[str, bytes]  # relative path -> raw bytes (specs and rego), for the specs digest
    rego_sources: dict[str, str]  # relative path -> text of rego/*.rego


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


def plain_data(node: Any, rel: str, smap: SourceMap) -> Any:
    """A YAML document as plain data, its positions recorded in `smap`."""
    return _plain(node, (), rel, smap)


def spec_files(spec_dir: Path) -> list[Path]:
    return sorted(p for p in spec_dir.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def _iter_rego(root: Path) -> Iterator[Path]:
    rego_dir = root / "rego"
    if rego_dir.is_dir():
        yield from sorted(rego_dir.rglob("*.rego"))


def load_specs(root: Path, spec_dir: Path | None = None) -> LoadedSpecs:
    """Read every spec file; raise SpecErrors listing all syntax and layout problems."""
    spec_dir = spec_dir or root / "specs"
    problems: list[SpecError] = []
    document: dict[str, Any] = {}
    smap = SourceMap()
    files: dict[str, bytes] = {}
    if not spec_dir.is_dir():
        raise SpecErrors([SpecError(Position(_rel(spec_dir, root)), "spec directory not found",
                                    "run gatewayctl from the project root or pass -C DIR")])
    paths = spec_files(spec_dir)
    if not paths:
        raise SpecErrors([SpecError(Position(_rel(spec_dir, root)), "no *.yaml spec files found",
                                    "add specs/gateway.yaml (see specs/ in the repository)")])
    for path in paths:
        rel = _rel(path, root)
        try:
            raw, node = read_yaml(path, rel)
        except YamlProblem as exc:
            problems.append(exc.error)
            continue
        files[rel] = raw
        if not isinstance(node, CommentedMap) or not node:
            problems.append(_not_sections(node, rel))
            continue
        file_map = SourceMap()
        # The document root (for a missing section) is the first file.
        smap.values.setdefault((), Position(rel, 1, 1))
        data = _plain(node, (), rel, file_map)
        for section, value in data.items():
            if section in document:
                first = smap.keys[(section,)]
                problems.append(SpecError(
                    file_map.keys[(section,)],
                    f'section "{section}" is already defined in {first}',
                    "keep each section in one file"))
                continue
            document[section] = value
        smap = smap.overlaid(file_map)
    rego_sources: dict[str, str] = {}
    for path in _iter_rego(root):
        rel = _rel(path, root)
        raw = path.read_bytes()
        files[rel] = raw
        rego_sources[rel] = raw.decode("utf-8")
    if problems:
        raise SpecErrors(problems)
    return LoadedSpecs(root, document, smap, files, rego_sources)


def _not_sections(node: Any, rel: str) -> SpecError:
    """An empty spec file, or one whose top level is not a mapping of sections."""
    sections = "top-level sections such as `services:`, `environments:`, `backends:`, `models:`, `policies:`"
    if node is None or (isinstance(node, CommentedMap | CommentedSeq) and not node):
        return SpecError(Position(rel, 1, 1), "spec file is empty",
                         f"a spec file holds one or more {sections}; delete the file if it has none")
    line, col = (node.lc.line + 1, node.lc.col + 1) if isinstance(node, CommentedSeq) else (1, 1)
    kind = "a list" if isinstance(node, CommentedSeq) else "a single value"
    return SpecError(Position(rel, line, col), f"a spec file must be a mapping of sections, not {kind}",
                     f"write {sections}")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()

"""Load specs/*.yaml into plain data plus a source map (key path -> file:line:col).

Every spec file holds one or more top-level sections (services, routing, backends, …); the
sections of all files form one document. Positions come from ruamel's round-trip nodes, so every
later error can point at the exact line. Parsing is most of the time of loading: the parse of spec
files that parsed without a problem is kept by the digest of their bytes (compiler/check_cache.py),
and an unchanged project is loaded from it without importing the YAML libraries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler import check_cache
from compiler.errors import Position, SpecError, SpecErrors
from compiler.yaml_file import YamlProblem, read_text

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


def spec_files(spec_dir: Path) -> list[Path]:
    return sorted(p for p in spec_dir.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def _iter_rego(root: Path) -> Iterator[Path]:
    rego_dir = root / "rego"
    if rego_dir.is_dir():
        yield from sorted(rego_dir.rglob("*.rego"))


def load_specs(root: Path, spec_dir: Path | None = None) -> LoadedSpecs:
    """Read every spec file; raise SpecErrors listing all syntax and layout problems."""
    spec_dir = spec_dir or root / "specs"
    if not spec_dir.is_dir():
        raise SpecErrors([SpecError(Position(_rel(spec_dir, root)), "spec directory not found",
                                    "run gatewayctl from the project root or pass -C DIR")])
    paths = spec_files(spec_dir)
    if not paths:
        raise SpecErrors([SpecError(Position(_rel(spec_dir, root)), "no *.yaml spec files found",
                                    "add specs/gateway.yaml (see specs/ in the repository)")])
    parsed, problems = _parse_specs(root, paths)
    document: dict[str, Any] = {}
    smap = SourceMap()
    files: dict[str, bytes] = {}
    for spec in parsed:
        files[spec.rel] = spec.raw
        # The document root (for a missing section) is the first file.
        smap.values.setdefault((), Position(spec.rel, 1, 1))
        for section, value in spec.data.items():
            if section in document:
                first = smap.keys[(section,)]
                problems.append(SpecError(
                    spec.source_map.keys[(section,)],
                    f'section "{section}" is already defined in {first}',
                    "keep each section in one file"))
                continue
            document[section] = value
        smap = smap.overlaid(spec.source_map)
    rego_sources: dict[str, str] = {}
    for path in _iter_rego(root):
        rel = _rel(path, root)
        raw = path.read_bytes()
        files[rel] = raw
        rego_sources[rel] = raw.decode("utf-8")
    if problems:
        raise SpecErrors(problems)
    return LoadedSpecs(root, document, smap, files, rego_sources)


@dataclass(frozen=True)
class ParsedSpec:
    """One spec file that is a mapping of sections, as plain data with its positions."""

    rel: str
    raw: bytes
    data: dict[str, Any]
    source_map: SourceMap


# The cache entry of _parse_specs (compiler/check_cache.py).
SPEC_PARSE = "spec-parse"


def _parse_specs(root: Path, paths: list[Path]) -> tuple[list[ParsedSpec], list[SpecError]]:
    """Every spec file that is a mapping of sections, and the problems of the others."""
    texts: dict[str, tuple[bytes, str]] = {}
    problems: list[SpecError] = []
    for path in paths:
        rel = _rel(path, root)
        try:
            texts[rel] = read_text(path, rel)
        except YamlProblem as exc:
            problems.append(exc.error)
    key = _parse_key(texts) if not problems else None
    cached = _from_cache(check_cache.passed(root, SPEC_PARSE, key), texts) if key else None
    if cached is not None:
        return cached, []
    from compiler.safe_yaml import parse_yaml
    from compiler.yaml_data import not_sections, plain_data

    parsed: list[ParsedSpec] = []
    for rel, (raw, text) in texts.items():
        try:
            node = parse_yaml(text, rel)
        except YamlProblem as exc:
            problems.append(exc.error)
            continue
        problem = not_sections(node, rel)
        if problem is not None:
            problems.append(problem)
            continue
        file_map = SourceMap()
        parsed.append(ParsedSpec(rel, raw, plain_data(node, rel, file_map), file_map))
    if key and not problems:
        # a value JSON cannot hold (a YAML timestamp) is parsed again next time
        with contextlib.suppress(TypeError, ValueError):
            check_cache.record(root, SPEC_PARSE, key, [_to_cache(spec) for spec in parsed])
    return parsed, problems


def _parse_key(texts: dict[str, tuple[bytes, str]]) -> str:
    """The files' names and bytes, the parser's version and the code that turns its nodes into data."""
    from importlib.metadata import version

    code = check_cache.code_digest("compiler.load", "compiler.safe_yaml", "compiler.yaml_data", "compiler.yaml_file")
    return check_cache.digest(version("ruamel.yaml"), code, *(f"{rel}\0{text}" for rel, (_, text) in texts.items()))


def _to_cache(spec: ParsedSpec) -> list[Any]:
    def positions(table: dict[KeyPath, Position]) -> list[Any]:
        return [[list(path), p.line, p.col] for path, p in table.items()]

    return [spec.rel, spec.data, positions(spec.source_map.values), positions(spec.source_map.keys)]


def _from_cache(entry: Any, texts: dict[str, tuple[bytes, str]]) -> list[ParsedSpec] | None:
    """The cached parse, or None when the entry is not what _to_cache wrote for these files."""
    try:
        out = []
        for rel, data, values, keys in entry:
            file_map = SourceMap({tuple(path): Position(rel, line, col) for path, line, col in values},
                                 {tuple(path): Position(rel, line, col) for path, line, col in keys})
            if not isinstance(data, dict):
                return None
            out.append(ParsedSpec(rel, texts[rel][0], data, file_map))
        return out if [spec.rel for spec in out] == list(texts) else None
    except (TypeError, ValueError, KeyError):
        return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()

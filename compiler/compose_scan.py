"""Read the hand-written compose files elsewhere in the repository (the validate-ports.sh scan).

What they bind (host ports), which URLs they hand their services (`environment`, map or list
form), and which of them cannot be read at all; compose_check.py holds these against the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from compiler.errors import Position, SpecError
from compiler.safe_yaml import YamlProblem, key_value_position, read_yaml

# generated/ holds our own output; tests/ holds deliberately broken fixtures.
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "generated", "tests", "__pycache__", ".stack"}
COMPOSE_NAMES = ("docker-compose", "compose")


@dataclass(frozen=True)
class Binding:
    service: str
    host_port: int
    where: Position


@dataclass(frozen=True)
class EnvValue:
    """One `environment` entry of a compose service."""

    service: str
    name: str
    value: str
    where: Position  # the entry's value (map form) or the `NAME=value` item (list form)


@dataclass(frozen=True)
class ComposeScan:
    bindings: tuple[Binding, ...]
    environment: tuple[EnvValue, ...]
    unreadable: tuple[SpecError, ...]  # compose files that cannot be parsed, at their line:col


def compose_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".tmp"))
        for name in sorted(filenames):
            if name.startswith(COMPOSE_NAMES) and name.endswith((".yml", ".yaml")):
                yield Path(dirpath) / name


def scan(root: Path) -> ComposeScan:
    bindings: list[Binding] = []
    environment: list[EnvValue] = []
    unreadable: list[SpecError] = []
    for path in compose_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            _, doc = read_yaml(path, rel)
        except YamlProblem as exc:
            unreadable.append(exc.error)
            continue
        if doc is None:
            continue  # empty: binds nothing
        services = doc.get("services") if isinstance(doc, CommentedMap) else None
        if not isinstance(doc, CommentedMap) or not isinstance(services, CommentedMap | None):
            line, col = doc.lc.value("services") if isinstance(doc, CommentedMap) else (0, 0)
            unreadable.append(SpecError(Position(rel, line + 1, col + 1),
                                        "not a compose file: `services:` must be a mapping of services",
                                        "docker compose cannot read it either"))
            continue
        for name, svc in (services or {}).items():
            if isinstance(svc, CommentedMap):
                bindings += _bindings(str(name), svc.get("ports"), rel)
                environment += _environment(str(name), svc.get("environment"), rel)
    return ComposeScan(tuple(bindings), tuple(environment), tuple(unreadable))


def _bindings(service: str, ports: Any, rel: str) -> Iterator[Binding]:
    if not isinstance(ports, CommentedSeq):
        return
    for i, entry in enumerate(ports):
        line, col = ports.lc.item(i)
        for port in _host_ports(entry):
            yield Binding(service, port, Position(rel, line + 1, col + 1))


def _environment(service: str, env: Any, rel: str) -> Iterator[EnvValue]:
    if isinstance(env, CommentedMap):
        for key in env:
            value = env[key]
            if isinstance(value, str):
                _, _, line, col = key_value_position(env, key)
                yield EnvValue(service, str(key), value, Position(rel, line + 1, col + 1))
    elif isinstance(env, CommentedSeq):
        for i, item in enumerate(env):
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                line, col = env.lc.item(i)
                yield EnvValue(service, name.strip(), value, Position(rel, line + 1, col + 1))


def _host_ports(entry: object) -> list[int]:
    """Host ports of one compose `ports:` entry, short or long syntax."""
    if isinstance(entry, CommentedMap):
        published = entry.get("published")
        return _port_range(str(published)) if published is not None else []
    if not isinstance(entry, str):
        return []  # a bare number publishes no fixed host port
    spec = entry.split("/", 1)[0]
    parts = spec.rsplit(":", 2)
    if len(parts) < 2:
        return []
    return _port_range(parts[-2])


def _port_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        return []  # a ${VAR} or other interpolation: nothing fixed to check
    return list(range(first, min(last, first + 1024) + 1))

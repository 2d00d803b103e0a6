"""Reading the hand-written compose files compiler/compose_scan.py found: the host ports they
bind and the `environment` entries they hand their services, at their line:col."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from compiler.compose_scan import Binding, ComposeScan, EnvValue
from compiler.errors import Position, SpecError
from compiler.safe_yaml import YamlProblem, key_value_position, read_yaml

__all__ = ["read_compose"]


def read_compose(root: Path, paths: Sequence[Path]) -> ComposeScan:
    """What the compose files bind and hand their services, and which cannot be read."""
    bindings: list[Binding] = []
    environment: list[EnvValue] = []
    unreadable: list[SpecError] = []
    for path in paths:
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

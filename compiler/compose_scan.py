"""Find host ports bound by other compose files in the repository (the validate-ports.sh scan)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from compiler.errors import Position

# generated/ holds our own output; tests/ holds deliberately broken fixtures.
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "generated", "tests", "__pycache__", ".stack"}
COMPOSE_NAMES = ("docker-compose", "compose")


@dataclass(frozen=True)
class Binding:
    service: str
    host_port: int
    where: Position


def compose_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".tmp"))
        for name in sorted(filenames):
            if name.startswith(COMPOSE_NAMES) and name.endswith((".yml", ".yaml")):
                yield Path(dirpath) / name


def bindings(root: Path) -> Iterator[Binding]:
    yaml = YAML(typ="rt")
    for path in compose_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"))
        except (YAMLError, UnicodeDecodeError):
            continue  # not ours to lint; docker-compose will say what is wrong with it
        services = doc.get("services") if isinstance(doc, CommentedMap) else None
        if not isinstance(services, CommentedMap):
            continue
        for name, svc in services.items():
            ports = svc.get("ports") if isinstance(svc, CommentedMap) else None
            if not isinstance(ports, CommentedSeq):
                continue
            for i, entry in enumerate(ports):
                line, col = ports.lc.item(i)
                for port in _host_ports(entry):
                    yield Binding(str(name), port, Position(rel, line + 1, col + 1))


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

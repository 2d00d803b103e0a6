"""Read the hand-written compose files elsewhere in the repository (the validate-ports.sh scan).

What they bind (host ports), which URLs they hand their services (`environment`, map or list
form), and which of them cannot be read at all; compose_check.py holds these against the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import Position, SpecError

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
    paths = list(compose_files(root))
    if not paths:
        return ComposeScan((), (), ())
    # Imported where there is a compose file to read: most projects have none, and validate
    # should not pay for importing the YAML libraries (docs/benchmarks.md, P1).
    from compiler.compose_read import read_compose

    return read_compose(root, paths)

"""Shared test helpers: the repository root and a scratch copy of the project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's specs, rego and docs in a temporary directory."""
    root = tmp_path / "project"
    for name in ("specs", "rego", "docs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    return root

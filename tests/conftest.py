"""Shared test helpers: the repository root and a scratch copy of the project."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def session_gatewayctl_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """validate's cache (compiler/check_cache.py) in the session's temporary directory: the tests
    neither read nor fill the user's ~/.cache/gatewayctl."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEWAYCTL_CACHE_DIR", str(tmp_path_factory.mktemp("gatewayctl-cache")))
        yield


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's specs, rego and docs in a temporary directory."""
    root = tmp_path / "project"
    for name in ("specs", "rego", "docs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    return root


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus' own rule checker: $PROMTOOL, .tools/bin/promtool (scripts/setup builds it where Go
    is installed), or one on PATH; without it the test skips and says so."""
    import os

    local = REPO / ".tools" / "bin" / "promtool"
    found = os.environ.get("PROMTOOL") or (str(local) if local.exists() else shutil.which("promtool"))
    if not found:
        pytest.skip("promtool not installed: scripts/setup builds it into .tools/bin where Go is installed")
    return found


@pytest.fixture(scope="session")
def actionlint() -> str:
    """The GitHub workflow linter: .tools/bin/actionlint (scripts/setup) or one on PATH."""
    local = REPO / ".tools" / "bin" / "actionlint"
    found = str(local) if local.exists() else shutil.which("actionlint")
    if not found:
        pytest.skip("actionlint not installed: scripts/setup builds it into .tools/bin where Go is installed")
    return found

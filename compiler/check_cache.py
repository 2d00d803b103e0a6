"""What a costly step of `validate` found when it passed, kept on disk under the digest of
everything it read, so `validate` on an unchanged project (pre-commit runs it on every commit)
does not redo it: the parse of the spec files (compiler/load.py) and the policy-code check
(compiler/policy_versions.py).

Only passes are kept: a step that fails runs again on every run and reports its errors as ever,
and any change to what the step reads (the key) runs it again. Each step keeps its last pass in
`<project>/.gatewayctl_cache/<step>.json`; the directory ignores itself for git (like
.pytest_cache), so a fresh clone has none and its first validate checks everything.
GATEWAYCTL_NO_CACHE=1 turns the cache off. A cache that cannot be read or written is no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["CACHE_DIR", "DISABLE_ENV", "code_digest", "digest", "passed", "record"]

CACHE_DIR = ".gatewayctl_cache"
DISABLE_ENV = "GATEWAYCTL_NO_CACHE"


def digest(*parts: str) -> str:
    """sha256 of the parts, each one hashed alone so that no two lists of parts collide."""
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part.encode("utf-8")).digest())
    return h.hexdigest()


def code_digest(*modules: str) -> str:
    """The source of the modules (by name, not imported) whose results are kept: editing the
    compiler runs the check again."""
    return digest(*(Path(str(_origin(name))).read_text(encoding="utf-8") for name in modules))


def _origin(module: str) -> str | None:
    spec = importlib.util.find_spec(module)
    return spec.origin if spec is not None else None


def passed(root: Path, check: str, key: str) -> Any | None:
    """What step `check` recorded when it last passed with this key, or None (then run it)."""
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        entry = json.loads((root / CACHE_DIR / f"{check}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry.get("value") if isinstance(entry, dict) and entry.get("key") == key else None


def record(root: Path, check: str, key: str, value: Any) -> None:
    """Keep a pass (atomically: a concurrent reader sees the old entry or the new one)."""
    if os.environ.get(DISABLE_ENV):
        return
    directory = root / CACHE_DIR
    path = directory / f"{check}.json"
    tmp = directory / f".{check}.json.tmp-{os.getpid()}"
    try:
        directory.mkdir(exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by gatewayctl: a local cache, never committed.\n*\n", encoding="utf-8")
        tmp.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")  # keeps the order of mappings
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

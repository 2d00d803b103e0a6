"""What a costly step of `validate` found when it passed, kept on disk under the digest of
everything it read, so `validate` on an unchanged project (pre-commit runs it on every commit)
does not redo it: the parse of the spec files (compiler/load.py) and the policy-code check
(compiler/policy_versions.py).

Only passes are kept: a step that fails runs again on every run and reports its errors as ever,
and any change to what the step reads (the key) runs it again. Each step keeps its last pass per
project in the user's cache directory (`$GATEWAYCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/gatewayctl`,
else `~/.cache/gatewayctl`), never in the repository: nothing committed can pass for a check that
did not run here, and a fresh clone on a CI machine checks everything. GATEWAYCTL_NO_CACHE=1 turns
the cache off. A cache that cannot be read or written is no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["DIR_ENV", "DISABLE_ENV", "cache_dir", "code_digest", "digest", "entry_path", "passed", "record"]

DIR_ENV = "GATEWAYCTL_CACHE_DIR"
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


def cache_dir() -> Path:
    """Where gatewayctl keeps its cache, as other tools do (XDG's cache directory)."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gatewayctl"


def entry_path(root: Path, check: str) -> Path:
    """The entry of step `check` for the project at `root` (one per project and step)."""
    project = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:16]
    return cache_dir() / project / f"{check}.json"


def passed(root: Path, check: str, key: str) -> Any | None:
    """What step `check` recorded when it last passed with this key, or None (then run it)."""
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        entry = json.loads(entry_path(root, check).read_text(encoding="utf-8"))
    except (OSError, RuntimeError, ValueError):  # RuntimeError: no home directory
        return None
    return entry.get("value") if isinstance(entry, dict) and entry.get("key") == key else None


def record(root: Path, check: str, key: str, value: Any) -> None:
    """Keep a pass (atomically: a concurrent reader sees the old entry or the new one)."""
    if os.environ.get(DISABLE_ENV):
        return
    try:
        path = entry_path(root, check)
    except RuntimeError:  # no home directory: no cache
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")  # keeps the order of mappings
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

"""Policy version discipline: the header of each policy file equals the version in the specs, and
rego/policies.lock.json records what each version was. Changing a policy's Rego or data without
raising its semantic version, or lowering a version, is an error that says which version to use.

A policy's digest covers its Rego file, the shared modules of rego/lib/ and its compiled data in
every environment, but not its modes: moving an environment from monitor to enforce is a rollout,
not a new policy.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import check_cache
from compiler.errors import Position, SpecError
from compiler.model._base import SEMVER_RE

if TYPE_CHECKING:
    from compiler.load import LoadedSpecs
    from compiler.validate import EnvSpec

__all__ = [
    "LOCK_PATH",
    "LockEntry",
    "check",
    "check_versions",
    "current_lock",
    "lock",
    "lock_entries",
    "policy_digest",
    "policy_file",
    "write_lock",
]

LOCK_PATH = "rego/policies.lock.json"
HEADER_RE = re.compile(r"^# Policy Version: (\S+)\s*$")
# `custom:` then `version: X` inside the first # METADATA block
METADATA_VERSION_RE = re.compile(r"^#\s+custom:\s*\n#\s+version:\s*(\S+)\s*$", re.M)
POLICY_NAMES = ("prompt", "output")


@dataclass(frozen=True)
class LockEntry:
    version: str
    digest: str


def policy_file(name: str) -> str:
    return f"rego/{name}_policy.rego"


def policy_digest(name: str, rego_sources: Mapping[str, str], config: Any) -> str:
    """sha256 of the policy's Rego (its file and rego/lib/) and its compiled data (config: what
    data.json holds for it, without the mode; a list when environments differ)."""
    h = hashlib.sha256()
    for path in sorted(rego_sources):
        if path == policy_file(name) or (path.startswith("rego/lib/") and not path.endswith("_test.rego")):
            h.update(f"{path}\0{hashlib.sha256(rego_sources[path].encode()).hexdigest()}\n".encode())
    h.update(json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
    return "sha256:" + h.hexdigest()


def lock_entries(versions: Mapping[str, str], rego_sources: Mapping[str, str],
                 configs: Mapping[str, list[Any]]) -> dict[str, LockEntry]:
    """What the lock should say now. configs: per policy, its compiled data in each environment."""
    out = {}
    for name, version in versions.items():
        distinct = sorted({json.dumps(c, sort_keys=True) for c in configs[name]})
        config = json.loads(distinct[0]) if len(distinct) == 1 else [json.loads(c) for c in distinct]
        out[name] = LockEntry(version, policy_digest(name, rego_sources, config))
    return out


def read_lock(root: Path) -> dict[str, LockEntry] | None:
    path = root / LOCK_PATH
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: LockEntry(str(e["version"]), str(e["digest"])) for name, e in raw.get("policies", {}).items()}


def write_lock(root: Path, entries: Mapping[str, LockEntry]) -> str:
    # not compiler.emit._json: importing compiler.emit loads every emitter, one of which imports us
    text = json.dumps({
        "comment": "Written by `gatewayctl policy lock`. A policy whose Rego or data changes needs a higher version.",
        "policies": {n: {"version": e.version, "digest": e.digest} for n, e in sorted(entries.items())},
    }, sort_keys=True, indent=2) + "\n"
    (root / LOCK_PATH).write_text(text, encoding="utf-8")
    return text


def check_versions(root: Path, rego_sources: Mapping[str, str], versions: Mapping[str, str],
                   version_at: Mapping[str, Position], current: Mapping[str, LockEntry],
                   *, with_lock: bool = True) -> Iterator[SpecError]:
    """Headers against the specs, then the specs against the lock."""
    for name, version in versions.items():
        yield from _header(name, version, rego_sources.get(policy_file(name)), version_at[name])
    if not with_lock:
        return
    try:
        lock = read_lock(root)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        yield SpecError(Position(LOCK_PATH), f"the policy lock is not readable ({type(exc).__name__})",
                        "restore it from version control, or run `gatewayctl policy lock`")
        return
    if lock is None:
        yield SpecError(Position(LOCK_PATH), "the policy lock is missing",
                        "run `gatewayctl policy lock` and commit rego/policies.lock.json")
        return
    for name, now in current.items():
        yield from _against_lock(name, now, lock.get(name), version_at[name])


def _header(name: str, version: str, text: str | None, spec_at: Position) -> Iterator[SpecError]:
    path = policy_file(name)
    if text is None:
        yield SpecError(spec_at, f'policy "{name}" has no Rego file {path}', f"create {path}")
        return
    first = text.splitlines()[0] if text else ""
    header = HEADER_RE.match(first)
    if header is None:
        yield SpecError(Position(path, 1, 1), "the first line must be `# Policy Version: X.Y.Z`",
                        f"write `# Policy Version: {version}` on line 1")
        return
    if header.group(1) != version:
        yield SpecError(Position(path, 1, 20),
                        f'policy version {header.group(1)} differs from {version} in the specs ({spec_at})',
                        "the header, the METADATA custom.version and the spec's version are one number: "
                        "make them equal")
    meta = METADATA_VERSION_RE.search(text)
    if meta is None:
        yield SpecError(Position(path, 2, 1), "the METADATA block has no custom.version",
                        f"add `# custom:` and `#   version: {version}` to the package's METADATA")
    elif meta.group(1) != version:
        line = text[: meta.start(1)].count("\n") + 1
        yield SpecError(Position(path, line, meta.start(1) - text.rfind("\n", 0, meta.start(1))),
                        f"METADATA custom.version {meta.group(1)} differs from {version} in the specs ({spec_at})",
                        "make it equal to the version in the specs")


def _against_lock(name: str, now: LockEntry, locked: LockEntry | None, spec_at: Position,
                  *, writing: bool = False) -> Iterator[SpecError]:
    """writing: `gatewayctl policy lock` is about to record `now`; only a missing bump stops it."""
    if locked is None:
        if writing:
            return
        yield SpecError(Position(LOCK_PATH), f'the policy lock has no entry for "{name}"',
                        "run `gatewayctl policy lock`")
        return
    order = _semver_order(now.version, locked.version)
    if order < 0:
        yield SpecError(spec_at, f'policy "{name}" version {now.version} is lower than {locked.version} '
                                 f"in {LOCK_PATH}", f"versions only go up: use {_bumps(locked.version)[0]} or higher")
    elif order == 0 and now.digest != locked.digest:
        patch, minor, major = _bumps(locked.version)
        yield SpecError(spec_at, f'policy "{name}" changed (its Rego or data) but its version is still {now.version}',
                        f"bump it to {patch} (a fix that blocks nothing new), {minor} (new or stricter detection) "
                        f"or {major} (a changed decision shape or input), in the spec and the Rego header, then "
                        "run `gatewayctl policy lock` (docs/specs/shared/reference/opa-policy-migration-guide.md)")
    elif not writing and (order > 0 or now.digest != locked.digest):
        yield SpecError(spec_at, f'policy "{name}" is {now.version} but {LOCK_PATH} still records {locked.version}',
                        "run `gatewayctl policy lock` and commit the lock with the change")


def _semver_order(a: str, b: str) -> int:
    ka, kb = _key(a), _key(b)
    return (ka > kb) - (ka < kb)


def _key(version: str) -> tuple[int, int, int, int, str]:
    m = SEMVER_RE.match(version)
    if m is None:
        return (0, 0, 0, 0, version)
    pre = version[m.end():].lstrip("-")
    # a pre-release sorts before its release
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre)


def _bumps(version: str) -> tuple[str, str, str]:
    m = SEMVER_RE.match(version)
    major, minor, patch = (int(m.group(i)) for i in (1, 2, 3)) if m else (0, 0, 0)
    return f"{major}.{minor}.{patch + 1}", f"{major}.{minor + 1}.0", f"{major + 1}.0.0"


def current_lock(loaded: LoadedSpecs, envs: Sequence[EnvSpec]) -> dict[str, LockEntry]:
    """The lock entries the specs and rego/ describe now."""
    from compiler.policy_data import shared_config, spec_data

    doc = envs[0].document
    versions = {name: getattr(doc.policies, name).version for name in POLICY_NAMES}
    configs = {name: [shared_config(spec_data(getattr(e.document.policies, name), e.document.policies)) for e in envs]
               for name in POLICY_NAMES}
    return lock_entries(versions, loaded.rego_sources, configs)


def lock(loaded: LoadedSpecs, envs: Sequence[EnvSpec]) -> tuple[str, list[SpecError]]:
    """Record the current versions and digests in the lock: (text written, problems). Nothing is
    written when a changed policy keeps its version or a version went down."""
    smap = envs[0].source_map
    now = current_lock(loaded, envs)
    try:
        old = read_lock(loaded.root) or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        old = {}
    problems = [p for name, entry in now.items()
                for p in _against_lock(name, entry, old.get(name), smap.locate(("policies", name, "version")),
                                       writing=True)]
    if problems:
        return "", problems
    return write_lock(loaded.root, now), []


def check(loaded: LoadedSpecs, envs: Sequence[EnvSpec], *, with_lock: bool = True) -> list[SpecError]:
    """Everything about the policies' code: strict Rego v1, valid patterns, versions and the lock.
    The first two run on OPA's engine and the lock needs the compiled policy data, the costly part
    of `validate`: a pass is kept (compiler/check_cache.py) under the digest of what they read."""
    if not envs or not loaded.rego_sources:
        return []  # a project without rego/ has no policy code to check
    doc, smap = envs[0].document, envs[0].source_map
    versions = {name: getattr(doc.policies, name).version for name in POLICY_NAMES}
    key = _code_check_key(loaded, envs)
    digests = check_cache.passed(loaded.root, CODE_CHECK, key) if key else None
    if isinstance(digests, dict) and all(isinstance(digests.get(name), str) for name in POLICY_NAMES):
        problems: list[SpecError] = []
        current = {name: LockEntry(versions[name], digests[name]) for name in POLICY_NAMES}
    else:
        problems = _engine_checks(loaded, envs)
        current = current_lock(loaded, envs)
        if key and not problems:
            check_cache.record(loaded.root, CODE_CHECK, key, {n: e.digest for n, e in current.items()})
    version_at = {name: smap.locate(("policies", name, "version")) for name in POLICY_NAMES}
    problems += check_versions(loaded.root, loaded.rego_sources, versions, version_at,
                               current if with_lock else {}, with_lock=with_lock)
    return problems


# The cache entry of _engine_checks and current_lock (compiler/check_cache.py).
CODE_CHECK = "policy-code"


def _code_check_key(loaded: LoadedSpecs, envs: Sequence[EnvSpec]) -> str | None:
    """Everything _engine_checks and current_lock read: the Rego (tests included), every
    environment's policies (their patterns, phrases and data), the engine, the Unicode tables
    the data is folded with, and the compiler code that does it. None without an engine."""
    from compiler import rego_check

    engine = rego_check.engine_version()
    if engine is None:
        return None  # the check itself says how to install it
    return check_cache.digest(
        engine, unicodedata.unidata_version,
        check_cache.code_digest("compiler.rego_check", "compiler.policy_data", "compiler.replacement_passes",
                                "compiler.model.detectors", "compiler.model.policies", __name__),
        json.dumps(sorted(loaded.rego_sources.items())),
        json.dumps([e.document.policies.model_dump(mode="json") for e in envs], sort_keys=True),
    )


def _engine_checks(loaded: LoadedSpecs, envs: Sequence[EnvSpec]) -> list[SpecError]:
    """Every module compiled in strict Rego v1, every pattern accepted by OPA's regex engine."""
    from compiler import rego_check
    from compiler.policy_data import shared_config, spec_data

    problems = rego_check.check_modules(loaded.rego_sources)
    patterns: dict[str, Position] = {}
    for env in envs:
        policies = env.document.policies
        # the spec's own patterns first, so an invalid one is reported where it was written
        for kind, matchers in policies.pii_patterns.items():
            for i, m in enumerate(matchers):
                patterns.setdefault(m.pattern, env.source_map.locate(("policies", "pii_patterns", kind, i, "pattern")))
        for name in POLICY_NAMES:
            compiled = shared_config(spec_data(getattr(policies, name), policies))
            for section in ("pii", "jailbreak"):
                where = env.source_map.locate(("policies", name, section))
                for pattern, scan in compiled.get(section, {}).get("scans", {}).items():
                    for p in [pattern, *(k["full"] for k in scan["kinds"] if k["full"])]:
                        patterns.setdefault(p, where)
    problems += rego_check.check_patterns(sorted(patterns.items()))
    return problems

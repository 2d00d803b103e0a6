"""The Rego of rego/ as OPA 1.x sees it: every module parsed and compiled in strict Rego v1 (the
old `deny[msg] { … }` forms are errors), and every pattern the policies will run accepted by
OPA's regex engine (RE2). Problems come back as SpecErrors at file:line:col.

Uses OPA itself, in-process (opa-golib-python-bindings), so what passes here is what the gateway
and `opa test` will load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from compiler.errors import Position, SpecError

__all__ = ["ENGINE_DISTRIBUTION", "check_modules", "check_patterns", "engine_version", "opa_engine"]

# "rego/x.rego:3: rego_parse_error: `if` keyword is required before rule body"
_ERROR_RE = re.compile(r"(?P<path>[^\s:]+\.rego):(?P<line>\d+): (?P<code>rego_[a-z_]+): (?P<msg>.*)$")
ENGINE_DISTRIBUTION = "opa-golib-python-bindings"
_V1_HINT = "Rego v1 only: `if` before every rule body, `contains` for partial sets (see OPA's v1 guide)"


def opa_engine() -> Any:
    try:
        from opa_bindings import OpaEngine  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - scripts/setup installs it
        raise RuntimeError(
            "the OPA engine is missing: run scripts/setup (pip install --ignore-requires-python "
            "opa-golib-python-bindings==0.4.4)"
        ) from None
    return OpaEngine()


def engine_version() -> str | None:
    """The installed engine's version (what a cached pass was checked with), None without one."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(ENGINE_DISTRIBUTION)
    except PackageNotFoundError:
        return None


def check_modules(sources: Mapping[str, str]) -> list[SpecError]:
    """Parse and compile every module (tests included) as one OPA 1.x engine would."""
    from opa_bindings import OpaError

    engine = opa_engine()
    problems: list[SpecError] = []
    try:
        # rego/lib/ first: the policies import it, and OPA compiles a module when it is added.
        for path in sorted(sources, key=lambda p: (not p.startswith("rego/lib/"), p)):
            try:
                engine.add_policy(path, sources[path])
            except OpaError as exc:
                problems += _problems(exc.message, sources, path)
        if not problems:
            # Safety and type errors show up when OPA compiles everything, at the first query.
            try:
                engine.eval_query("x := 1")
            except OpaError as exc:
                problems += _problems(exc.message, sources, "rego")
    finally:
        engine.close()
    return problems


def check_patterns(patterns: Sequence[tuple[str, Position]]) -> Iterator[SpecError]:
    """Each pattern compiled by OPA's regex engine (RE2, not Python's re)."""
    if not patterns:
        return
    engine = opa_engine()
    try:
        bad = engine.eval_query(
            "bad := [i | some i, p in input.patterns; not regex.is_valid(p)]",
            {"patterns": [p for p, _ in patterns]},
        )[0]["bad"]
    finally:
        engine.close()
    for i in bad:
        pattern, where = patterns[i]
        yield SpecError(where, f"pattern {pattern!r} is not valid RE2 (OPA's regex syntax)",
                        "RE2 has no lookaround or backreferences; see https://github.com/google/re2/wiki/Syntax")


def _problems(message: str, sources: Mapping[str, str], added: str) -> list[SpecError]:
    lines = message.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = _ERROR_RE.search(line.strip())
        if m is None:
            continue
        path, row = m.group("path"), int(m.group("line"))
        col = _column(sources.get(path, ""), row, lines[i + 1: i + 3])
        msg = m.group("msg").strip()
        hint = _V1_HINT if "keyword is required" in msg or "rego.v1" in msg else ""
        out.append(SpecError(Position(path, row, col), f"{m.group('code')}: {msg}", hint))
    if not out:  # an error OPA reported without a location
        out.append(SpecError(Position(added), " ".join(message.split())))
    return out


def _column(text: str, row: int, detail: Sequence[str]) -> int:
    """1-based column: from OPA's caret line when it printed one, else the line's first non-blank."""
    source_lines = text.splitlines()
    if not 1 <= row <= len(source_lines):
        return 1
    source = source_lines[row - 1]
    first = len(source) - len(source.lstrip()) + 1
    if len(detail) == 2 and detail[1].strip() == "^":
        shown, caret = detail[0].lstrip("\t"), detail[1].lstrip("\t")
        at = source.find(shown.strip())
        if at >= 0:
            return at + (caret.index("^") - (len(shown) - len(shown.lstrip()))) + 1
    return first

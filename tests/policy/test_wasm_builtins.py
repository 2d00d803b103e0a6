"""The builtins OPA's WebAssembly target leaves to the host (runtime/policy/_wasm_builtins.py),
each compared with OPA's Go engine on the same operands: Go's regexp iteration and templates,
rune positions, bytes that are not UTF-8, Go's errors. And a module that needs a builtin the host
does not implement is refused when it loads, not on the first request that reaches it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.policy_tests import opa_binary
from runtime.policy._engines import EngineError, RegoEngine, WasmEngine
from runtime.policy._wasm_builtins import HOST_BUILTINS, BuiltinError

GO = RegoEngine({"t.rego": """package t

of_regex_find_n := regex.find_n(input.a[0], input.a[1], input.a[2])

of_regex_replace := regex.replace(input.a[0], input.a[1], input.a[2])

of_indexof_n := indexof_n(input.a[0], input.a[1])

of_strings_count := strings.count(input.a[0], input.a[1])

of_hex_decode := hex.decode(input.a[0])

of_urlquery_decode := urlquery.decode(input.a[0])

of_sprintf := sprintf(input.a[0], input.a[1])
"""}, {})

UNICODE = "e\u0301t\u00e9 \u05e9\u05dc\u05d5\u05dd \U0001f600x\U0001f469\u200d\U0001f4bb 12"
CASES: list[tuple[str, list[Any]]] = [
    ("regex.find_n", ["a*", "baaac", -1]),  # an empty match right after a match is skipped
    ("regex.find_n", ["", UNICODE, -1]),  # empty matches step one code point
    ("regex.find_n", [r"\pL+", UNICODE, -1]),
    ("regex.find_n", [r"\b\w+\b", UNICODE, 2]),
    ("regex.find_n", ["(?i)\u00c9T\u00c9", "\u00e9t\u00e9", -1]),
    ("regex.find_n", [r"\d+$", "12\n34\n", -1]),  # $ is the end of the text, not of a line
    ("regex.find_n", [r"\s+", "a\u00a0b\vc\td", -1]),  # \s is ASCII in RE2
    ("regex.find_n", ["x", "xxx", 0]),
    ("regex.replace", ["baaac", "a*", "-"]),
    ("regex.replace", [UNICODE, r"(\pL)(\pL)", "${2}$1"]),
    ("regex.replace", ["ab", "(?P<first>a)", "[$first][${first}][$1x][$9][$$][$][${1]"]),
    ("regex.replace", ["a1b22", "[0-9]+", "\u0002${0}"]),
    ("indexof_n", [UNICODE + "\u0002" + UNICODE + "\u0002", "\u0002"]),
    ("indexof_n", ["aaaa", "aa"]),  # overlapping
    ("strings_count", [UNICODE, ""]),
    ("strings.count", ["aaaa", "aa"]),  # not overlapping
    ("hex.decode", ["48656c6c6fE282AC"]),
    ("hex.decode", ["ff41e282"]),  # not UTF-8: one U+FFFD a byte, as Go's JSON writes it
    ("urlquery.decode", ["a+b%20c%E2%82%AC%ff"]),
    ("sprintf", ["[REDACTED:%s] %d%%", ["email", 3]]),
    ("sprintf", ["%v/%v", ["x", 12]]),
]


def go(name: str, args: list[Any]) -> Any:
    return GO.evaluate(f"t/of_{name.replace('.', '_')}", {"a": args})


@pytest.mark.parametrize(("name", "args"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_the_host_builtin_decides_as_opas_go_engine(name: str, args: list[Any]) -> None:
    name = name.replace("strings_count", "strings.count")
    assert HOST_BUILTINS[name](*args) == go(name, args)


@pytest.mark.parametrize(("name", "args"), [
    ("hex.decode", ["abc"]),
    ("hex.decode", ["zz"]),
    ("urlquery.decode", ["100%"]),
    ("urlquery.decode", ["%zz"]),
    ("indexof_n", ["abc", ""]),
    ("regex.find_n", ["(", "abc", -1]),
])
def test_operands_go_refuses_are_refused(name: str, args: list[Any]) -> None:
    with pytest.raises(EngineError):
        go(name, args)
    with pytest.raises(BuiltinError):
        HOST_BUILTINS[name](*args)


def test_the_phrase_alternations_compile_beyond_re2s_default_memory() -> None:
    # The jailbreak scan is one alternation of every phrase (~40 KB); RE2's default budget refuses it.
    pattern = "|".join(f"w{i}[^\\pL\\pN]+(?:(?:a|an|the|to)[^\\pL\\pN]+){{0,3}}x{i}\\b" for i in range(600))
    text = "say w599  the x599 now"
    assert HOST_BUILTINS["regex.find_n"](pattern, text, -1) == go("regex.find_n", [pattern, text, -1])


@pytest.mark.skipif(opa_binary() is None, reason="no OPA CLI to build a module with (scripts/setup, OPA_BINARY)")
def test_a_module_needing_a_builtin_the_host_lacks_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text('package t\n\nok := yaml.is_valid(input.doc)\n')
    subprocess.run([str(opa_binary()), "build", "-t", "wasm", "-e", "t/ok", "-o", "out.tar.gz", "p.rego"],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["tar", "xzf", "out.tar.gz", "/policy.wasm"], cwd=tmp_path, check=True, capture_output=True)
    with pytest.raises(EngineError, match=r"needs the builtin\(s\) yaml.is_valid, which the host does not implement"):
        WasmEngine((tmp_path / "policy.wasm").read_bytes(), {}, ("t/ok",))

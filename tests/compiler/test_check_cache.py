"""The cache of validate's costly steps (compiler/check_cache.py): an unchanged project is not
re-checked on OPA's engine nor re-parsed, and nothing a step reads can change without it running
again, so a cached pass never hides an error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler import check_cache, rego_check
from compiler.cli import main
from compiler.load import load_specs


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own cache directory, the cache on."""
    monkeypatch.setenv(check_cache.DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(check_cache.DISABLE_ENV, raising=False)
    return tmp_path / "cache"


def entry(project: Path, step: str = "policy-code") -> Path:
    return check_cache.entry_path(project, step)


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args])
    return result.exit_code, result.output


@pytest.fixture
def engine_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the engine checks as they run (they still run for real)."""
    runs: list[str] = []
    for name in ("check_modules", "check_patterns"):
        real = getattr(rego_check, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            runs.append(_name)
            return _real(*args)

        monkeypatch.setattr(rego_check, name, spy)
    return runs


@pytest.fixture
def cached(project: Path) -> Path:
    """The project after one passing validate, which kept its pass."""
    assert run(project, "validate") == (0, "specs OK: 3 environments\n")
    assert entry(project).is_file()
    return project


def test_a_pass_is_kept_and_an_unchanged_project_is_not_rechecked(cached: Path, engine_runs: list[str]) -> None:
    assert run(cached, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == []
    # nothing in the project: a pass cannot be committed, and a clone elsewhere checks again
    assert sorted(p.name for p in cached.iterdir()) == ["docs", "rego", "specs"]


def test_a_copy_of_a_cached_project_is_checked(cached: Path, engine_runs: list[str], tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(cached, clone)
    assert run(clone, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"]


def test_a_changed_module_is_checked_again(cached: Path, engine_runs: list[str]) -> None:
    lib = cached / "rego" / "extra.rego"
    lib.write_text("package gateway.extra\n\nallow if true\n")
    assert run(cached, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"]


def test_a_broken_module_fails_at_its_location_after_a_cached_pass(cached: Path) -> None:
    before = entry(cached).read_text()
    (cached / "rego" / "extra.rego").write_text("package gateway.extra\n\nallow {\n\ttrue\n}\n")
    for _ in range(2):  # the failure is not kept: the second run checks and fails again
        code, output = run(cached, "validate")
        assert code == 1
        assert output.splitlines()[0].startswith("rego/extra.rego:3:1: error: rego_parse_error: "), output
        assert "`if` keyword is required before rule body" in output
    assert entry(cached).read_text() == before


def test_a_broken_test_module_fails_after_a_cached_pass(cached: Path) -> None:
    test_module = next((cached / "rego").rglob("*_test.rego"))
    test_module.write_text(test_module.read_text() + "\ntest_v0 {\n\ttrue\n}\n")
    code, output = run(cached, "validate")
    assert code == 1
    assert f"{test_module.relative_to(cached).as_posix()}:" in output
    assert "`if` keyword is required before rule body" in output


def test_a_pattern_re2_rejects_fails_after_a_cached_pass(cached: Path) -> None:
    spec = cached / "specs" / "policies.yaml"
    spec.write_text(spec.read_text() + "  pii_patterns:\n    email:\n      - pattern: '(?<=x)@y'\n        gate: '@'\n")
    code, output = run(cached, "validate")
    assert code == 1
    assert "error: pattern '(?<=x)@y' is not valid RE2" in output


def test_another_engine_version_checks_again(cached: Path, engine_runs: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rego_check, "engine_version", lambda: "0.0.0-other")
    assert run(cached, "validate")[0] == 0
    assert engine_runs == ["check_modules", "check_patterns"]


def test_a_changed_policy_still_needs_its_version_bump(cached: Path) -> None:
    """The lock is compared on every run: the cache holds the digests it is compared with, not
    the comparison."""
    spec = cached / "specs" / "policies.yaml"
    phrase = "        - do anything now\n"
    text = spec.read_text()
    assert phrase in text
    spec.write_text(text.replace(phrase, phrase + "        - stay in character\n"))
    code, output = run(cached, "validate")
    assert code == 1
    assert "changed (its Rego or data) but its version is still" in output


@pytest.mark.parametrize("content", ["", "{not json", '{"key": "x", "value": {}}', '["a"]'],
                         ids=["empty", "corrupt", "other_key", "not_an_entry"])
def test_an_unreadable_entry_is_no_cache(cached: Path, engine_runs: list[str], content: str) -> None:
    entry(cached).write_text(content)
    assert run(cached, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"]
    assert json.loads(entry(cached).read_text())["key"] != "x"


def test_a_forged_entry_for_this_key_without_digests_is_no_cache(cached: Path, engine_runs: list[str]) -> None:
    kept = json.loads(entry(cached).read_text())
    entry(cached).write_text(json.dumps({"key": kept["key"], "value": {"prompt": 1}}))
    assert run(cached, "validate")[0] == 0
    assert engine_runs == ["check_modules", "check_patterns"]


def test_no_cache_when_turned_off(project: Path, engine_runs: list[str], cache_dir: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(check_cache.DISABLE_ENV, "1")
    for _ in range(2):
        assert run(project, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"] * 2
    assert not cache_dir.exists()


def test_an_unwritable_cache_is_no_cache(project: Path, engine_runs: list[str], cache_dir: Path) -> None:
    cache_dir.write_text("a file where the directory would go")
    for _ in range(2):
        assert run(project, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"] * 2


def test_a_fresh_clone_is_checked(project: Path, engine_runs: list[str], cache_dir: Path) -> None:
    assert not cache_dir.exists()
    assert run(project, "validate") == (0, "specs OK: 3 environments\n")
    assert engine_runs == ["check_modules", "check_patterns"]


# The parse of the spec files (compiler/load.py keeps it with the same cache).


def test_a_cached_parse_is_the_parse(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler import safe_yaml

    monkeypatch.setenv(check_cache.DISABLE_ENV, "1")
    fresh = load_specs(project)
    monkeypatch.delenv(check_cache.DISABLE_ENV)
    load_specs(project)
    assert entry(project, "spec-parse").is_file()

    def no_parse(*_: Any) -> None:
        raise AssertionError("an unchanged spec was parsed again")

    monkeypatch.setattr(safe_yaml, "parse_yaml", no_parse)
    cached = load_specs(project)
    assert json.dumps(cached.document) == json.dumps(fresh.document)  # mapping order included
    assert list(cached.source_map.values.items()) == list(fresh.source_map.values.items())
    assert list(cached.source_map.keys.items()) == list(fresh.source_map.keys.items())
    assert cached.files == fresh.files


# What validate of an unchanged project has no use for: the YAML libraries, OPA's engine, the plan, the emitters.
NOT_IMPORTED = ("ruamel.yaml", "yaml", "opa_bindings", "compiler.plan", "compiler.emit")


def test_an_unchanged_project_validates_without_the_yaml_libraries_or_the_engine(cached: Path) -> None:
    script = ("import sys; from compiler.cli import main; "
              "main(['-C', sys.argv[1], 'validate'], standalone_mode=False); "
              f"print(sorted(m for m in {NOT_IMPORTED!r} if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != check_cache.DISABLE_ENV}
    result = subprocess.run([sys.executable, "-c", script, str(cached)], capture_output=True, text=True, env=env,
                            check=True)
    assert result.stdout.splitlines() == ["specs OK: 3 environments", "[]"]


MISTAKES = {
    "yaml_syntax": ("specs/gateway.yaml", "    port: 8080\n", "    port: [8080\n"),
    "duplicate_key": ("specs/gateway.yaml", "    port: 8080\n", "    port: 8080\n    port: 8080\n"),
    "wrong_type": ("specs/gateway.yaml", "    port: 8080\n", "    port: eighty\n"),
    "not_sections": ("specs/bundle.yaml", "", "- a list\n"),
    "unknown_key": ("specs/gateway.yaml", "    port: 8080\n", "    port: 8080\n    prot: 1\n"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_after_a_cached_parse_reads_as_without_the_cache(cached: Path, mistake: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rel, old, new = MISTAKES[mistake]
    path = cached / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1) if old else new)
    with_cache = run(cached, "validate")
    monkeypatch.setenv(check_cache.DISABLE_ENV, "1")
    without = run(cached, "validate")
    assert with_cache[0] == 1
    assert with_cache == without
    assert with_cache[1].startswith(f"{rel}:"), with_cache[1]

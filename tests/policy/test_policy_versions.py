"""Version discipline, strict Rego v1 and RE2 patterns, as `gatewayctl validate` reports them:
one row per mistake, each with its file:line:col and a hint that says what to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main


@pytest.fixture
def project(project: Path) -> Path:
    """The project copy with both policies at 1.0.0 and locked there, whatever the repository's
    versions are today, so each row below reads the same after every real bump."""
    spec = project / "specs" / "policies.yaml"
    spec.write_text(re.sub(r"(?m)^(    version: )\S+$", r"\g<1>1.0.0", spec.read_text()))
    for policy in ("prompt", "output"):
        rego = project / "rego" / f"{policy}_policy.rego"
        text = re.sub(r"^# Policy Version: \S+", "# Policy Version: 1.0.0", rego.read_text())
        rego.write_text(re.sub(r"(?m)^(#\s+version: )\S+$", r"\g<1>1.0.0", text, count=1))
    (project / "rego" / "policies.lock.json").unlink()
    assert run(project, "policy", "lock")[0] == 0
    return project


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args])
    return result.exit_code, result.output


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def add_phrase(project: Path) -> None:
    edit(project / "specs" / "policies.yaml", "        - do anything now\n",
         "        - do anything now\n        - stay in character\n")


def bump(project: Path, policy: str, version: str) -> None:
    """What the migration guide says: spec, header and METADATA, then the lock."""
    spec = project / "specs" / "policies.yaml"
    edit(spec, f"  {policy}:\n    version: 1.0.0\n", f"  {policy}:\n    version: {version}\n")
    rego = project / "rego" / f"{policy}_policy.rego"
    edit(rego, "1.0.0", version, count=2)


def test_the_example_project_is_valid(project: Path) -> None:
    assert run(project, "validate") == (0, "specs OK: 3 environments\n")


def test_a_changed_rule_without_a_bump_names_the_versions_to_use(project: Path) -> None:
    rego = project / "rego" / "prompt_policy.rego"
    head = '_own_rules["token_budget_output"]'
    edit(rego, f"severity: low\n{head}", f"severity: high\n{head}")
    code, output = run(project, "validate")
    assert code == 1
    assert re.search(r"^specs/policies\.yaml:\d+:\d+: error: policy \"prompt\" changed \(its Rego or data\) but its "
                     r"version is still 1\.0\.0 \(hint: bump it to 1\.0\.1 .*, 1\.1\.0 .* or 2\.0\.0 ", output, re.M)
    assert "output" not in output.split("\n")[0]


def test_a_changed_phrase_list_needs_a_bump_too(project: Path) -> None:
    add_phrase(project)
    code, output = run(project, "validate")
    assert code == 1 and 'policy "prompt" changed' in output


def test_a_shared_module_change_needs_both_policies_bumped(project: Path) -> None:
    edit(project / "rego" / "lib" / "detect.rego", "n >= 8\n", "n >= 7\n")
    code, output = run(project, "validate")
    assert code == 1
    assert 'policy "prompt" changed' in output and 'policy "output" changed' in output


def test_a_mode_change_is_a_rollout_not_a_new_version(project: Path) -> None:
    edit(project / "specs" / "policies.yaml", "mode: {dev: monitor, staging: enforce, prod: enforce}",
         "mode: {dev: monitor, staging: monitor, prod: enforce}")
    assert run(project, "validate")[0] == 0


def test_a_bump_is_recorded_by_policy_lock(project: Path) -> None:
    add_phrase(project)
    bump(project, "prompt", "1.1.0")
    code, output = run(project, "validate")
    assert code == 1 and "still records 1.0.0 (hint: run `gatewayctl policy lock`" in output
    assert run(project, "policy", "lock") == (0, "wrote rego/policies.lock.json: prompt 1.1.0, output 1.0.0\n")
    lock = json.loads((project / "rego" / "policies.lock.json").read_text())
    assert lock["policies"]["prompt"]["version"] == "1.1.0"
    assert run(project, "validate")[0] == 0


def test_policy_lock_refuses_a_change_without_a_bump(project: Path) -> None:
    before = (project / "rego" / "policies.lock.json").read_text()
    edit(project / "rego" / "output_policy.rego", '"[REDACTED:%s]"', '"[REMOVED:%s]"')
    code, output = run(project, "policy", "lock")
    assert code == 1 and 'policy "output" changed' in output
    assert (project / "rego" / "policies.lock.json").read_text() == before


def test_versions_only_go_up(project: Path) -> None:
    lock_path = project / "rego" / "policies.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["policies"]["prompt"]["version"] = "1.2.0"
    lock_path.write_text(json.dumps(lock))
    code, output = run(project, "validate")
    assert code == 1
    assert 'policy "prompt" version 1.0.0 is lower than 1.2.0 in rego/policies.lock.json (hint: versions only go ' \
           "up: use 1.2.1 or higher)" in output


def test_the_header_must_equal_the_spec_version(project: Path) -> None:
    edit(project / "rego" / "prompt_policy.rego", "# Policy Version: 1.0.0", "# Policy Version: 1.0.1")
    code, output = run(project, "validate")
    assert code == 1
    assert output.startswith(
        "rego/prompt_policy.rego:1:20: error: policy version 1.0.1 differs from 1.0.0 in the specs")


def test_the_header_must_be_on_line_one(project: Path) -> None:
    edit(project / "rego" / "output_policy.rego", "# Policy Version: 1.0.0\n", "")
    code, output = run(project, "validate")
    assert code == 1
    assert "rego/output_policy.rego:1:1: error: the first line must be `# Policy Version: X.Y.Z` " \
           "(hint: write `# Policy Version: 1.0.0` on line 1)" in output


def test_metadata_version_must_agree(project: Path) -> None:
    edit(project / "rego" / "prompt_policy.rego", "#   version: 1.0.0", "#   version: 0.9.0")
    code, output = run(project, "validate")
    assert code == 1
    assert re.search(r"^rego/prompt_policy\.rego:\d+:\d+: error: METADATA custom\.version 0\.9\.0 differs",
                     output, re.M)


def test_a_missing_lock_is_an_error_with_the_command_to_create_it(project: Path) -> None:
    (project / "rego" / "policies.lock.json").unlink()
    code, output = run(project, "validate")
    assert code == 1
    assert "rego/policies.lock.json: error: the policy lock is missing (hint: run `gatewayctl policy lock`" in output


@pytest.mark.parametrize(
    ("module", "line", "col", "words"),
    [
        ("package gateway.extra\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n", 3, 1, "`contains` keyword is required"),
        ("package gateway.extra\n\nallow {\n\ttrue\n}\n", 3, 1, "`if` keyword is required before rule body"),
        ("package gateway.extra\n\nx := {\"a\": 1 or 2}\n", 3, 14, "unexpected identifier token"),
        ("package gateway.extra\n\np contains y if {\n\tx := 1\n}\n", 3, 1, "var y is unsafe"),
    ],
    ids=["v0_partial_set", "v0_rule_body", "syntax", "unsafe_var"],
)
def test_rego_that_opa_1_rejects_is_reported_at_its_location(
    project: Path, module: str, line: int, col: int, words: str
) -> None:
    (project / "rego" / "extra.rego").write_text(module)
    code, output = run(project, "validate")
    assert code == 1
    first = output.splitlines()[0]
    assert first.startswith(f"rego/extra.rego:{line}:{col}: error: "), output
    assert words in first


def test_a_v0_form_gets_the_v1_hint(project: Path) -> None:
    (project / "rego" / "extra.rego").write_text("package gateway.extra\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n")
    assert "(hint: Rego v1 only:" in run(project, "validate")[1]


def test_a_pattern_re2_rejects_is_reported_where_it_was_written(project: Path) -> None:
    spec = project / "specs" / "policies.yaml"
    spec.write_text(spec.read_text() + "  pii_patterns:\n    email:\n      - pattern: '(?<=x)@y'\n        gate: '@'\n")
    code, output = run(project, "validate")
    assert code == 1
    assert re.search(r"^specs/policies\.yaml:\d+:\d+: error: pattern '\(\?<=x\)@y' is not valid RE2", output, re.M)

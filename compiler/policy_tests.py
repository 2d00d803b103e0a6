"""`gatewayctl test-policies`: run the test_* rules of rego/*_test.rego against the data the
specs compile to. With `opa test --coverage` when there is an OPA CLI (opa_binary), otherwise with
the same OPA 1.x engine, embedded (the one the gateway runs; no coverage there). A test passes
when its rule is true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COVERAGE_THRESHOLD",
    "CliRun",
    "TestCase",
    "TestResult",
    "discover",
    "run_embedded",
    "run_opa_cli",
    "test_files",
]

# The share of the Rego lines (policies and tests, as `opa test --coverage` counts them) the tests
# must evaluate. Measured 96.88 % with policies 3.2.1 (rego/lib/detect.rego 91.6 %, the output
# policy 92.3 %, the prompt policy 100 %); set just below so a new rule without a test fails.
COVERAGE_THRESHOLD = 96.5

_PACKAGE_RE = re.compile(r"^package\s+([\w.]+)", re.M)
_TEST_RE = re.compile(r"^(test_\w+)\s*(?:if\b|:=|=|\{)", re.M)


@dataclass(frozen=True)
class TestCase:
    package: str
    name: str
    path: str
    line: int

    @property
    def rule(self) -> str:
        return f"{self.package}.{self.name}"


@dataclass(frozen=True)
class TestResult:
    case: TestCase
    passed: bool
    detail: str = ""  # why it failed


def discover(sources: Mapping[str, str]) -> list[TestCase]:
    """Every test_* rule of the *_test.rego modules, in file order (a rule defined twice once)."""
    cases: dict[str, TestCase] = {}
    for path, text in sorted(sources.items()):
        if not path.endswith("_test.rego"):
            continue
        package = _PACKAGE_RE.search(text)
        if package is None:
            continue
        for m in _TEST_RE.finditer(text):
            case = TestCase(package.group(1), m.group(1), path, text.count("\n", 0, m.start()) + 1)
            cases.setdefault(case.rule, case)
    return list(cases.values())


def test_files(sources: Mapping[str, str], data_json: bytes) -> dict[str, bytes]:
    """What `opa test` needs: every module (tests too) and data.json."""
    files = {path: text.encode("utf-8") for path, text in sources.items()}
    files["data.json"] = data_json
    return files


def run_embedded(sources: Mapping[str, str], data: Mapping[str, object]) -> list[TestResult]:
    from opa_bindings import OpaError, OpaUndefinedError  # type: ignore[import-untyped]

    from compiler.errors import SpecErrors
    from compiler.rego_check import check_modules, opa_engine

    problems = check_modules(sources)
    if problems:
        raise SpecErrors(problems)
    engine = opa_engine()
    try:
        for path in sorted(sources, key=lambda p: (not p.startswith("rego/lib/"), p)):
            engine.add_policy(path, sources[path])
        engine.add_data(dict(data))
        results = []
        for case in discover(sources):
            try:
                value = engine.eval_document(case.rule)
                results.append(TestResult(case, value is True, "" if value is True else f"result {value!r}"))
            except OpaUndefinedError:
                results.append(TestResult(case, False, "undefined (a condition in the test did not hold)"))
            except OpaError as exc:
                results.append(TestResult(case, False, " ".join(exc.message.split())))
        return results
    finally:
        engine.close()


@dataclass(frozen=True)
class CliRun:
    results: list[TestResult]
    coverage: float | None  # percent of the modules' lines the tests evaluate; None when a test failed
    coverage_error: str = ""  # below COVERAGE_THRESHOLD: OPA's message with the lines not covered


def run_opa_cli(opa: str, sources: Mapping[str, str], data_json: bytes,
                threshold: float = COVERAGE_THRESHOLD) -> CliRun:
    """`opa test --coverage --threshold` on a temporary copy of the modules and the data. With
    --coverage OPA reports coverage only, so when a test fails a second `opa test --format=json`
    says which (the green path costs one run)."""
    with tempfile.TemporaryDirectory(prefix="gatewayctl-opa-test-") as tmp:
        for path, content in test_files(sources, data_json).items():
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        covered = _opa(opa, "test", "--coverage", f"--threshold={threshold}", "--format=json", "-v", tmp)
        if covered.returncode == 0:
            report = json.loads(covered.stdout)
            return CliRun([TestResult(case, True) for case in discover(sources)], float(report["coverage"]))
        if "Code coverage threshold not met" in covered.stderr:
            message = covered.stderr.strip().replace(f"{tmp}/", "")
            return CliRun([TestResult(case, True) for case in discover(sources)], None, message)
        return CliRun(_results(_opa(opa, "test", "--format=json", tmp), sources), None)


def _opa(opa: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([opa, *args], capture_output=True, text=True, check=False)


def _results(proc: subprocess.CompletedProcess[str], sources: Mapping[str, str]) -> list[TestResult]:
    cases = {c.rule: c for c in discover(sources)}
    try:
        reported = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(f"opa test failed: {(proc.stderr or proc.stdout).strip()}") from None
    results = []
    for r in reported:
        rule = f"{str(r.get('package', '')).removeprefix('data.')}.{r.get('name', '')}"
        case = cases.get(rule) or TestCase(rule.rsplit(".", 1)[0], str(r.get("name", "")), "", 0)
        error = r.get("error")
        detail = (error.get("message", "") if isinstance(error, dict) else str(error)) if error else (
            "false or undefined" if r.get("fail") else "")
        results.append(TestResult(case, not r.get("fail") and not error, detail))
    return results


# Where scripts/setup installs the pinned OPA CLI (with Go; `go install`), off PATH: the one the
# tests and the compile (policy.wasm, compiler/opa_wasm.py) use unless OPA_BINARY names another.
TOOLS_BIN = Path(__file__).resolve().parents[1] / ".tools" / "bin"


def opa_binary() -> str | None:
    """The OPA CLI to use for tests and policy.wasm: $OPA_BINARY (set and empty: none, the embedded engine), else
    the one scripts/setup installed, else PATH's."""
    if "OPA_BINARY" in os.environ:
        return os.environ["OPA_BINARY"] or None
    installed = TOOLS_BIN / "opa"
    return str(installed) if installed.is_file() else shutil.which("opa")

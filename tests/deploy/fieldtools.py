"""The chart tools the field runs as CLIs: Helm, kubeconform, conftest and OPA (scripts/setup builds
them with Go into .tools/bin), and the Kubernetes schemas kubeconform reads, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from compiler.policy_tests import TOOLS_BIN

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_POLICY = ROOT / "deploy" / "policy"
# The package of deploy/policy/workloads.rego: what conftest evaluates.
CONFTEST_NAMESPACE = "workloads"
# kubeconform's -schema-location template (kubernetes-validate names its files the same way)
KUBECONFORM_LAYOUT = (
    "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
)


def field_tool(name: str) -> str:
    """The CLI scripts/setup installed (.tools/bin), else PATH's. Without it the test is skipped
    on a laptop without Go, and fails in CI, where setup must have built it."""
    installed = TOOLS_BIN / name
    found = str(installed) if installed.is_file() else shutil.which(name)
    if found is None:
        reason = f"no {name} CLI: scripts/setup builds it where Go is installed (.tools/bin/{name})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False, cwd=ROOT)


def write_kubeconform_schemas(kube_version: str, kinds: set[str], out: Path) -> str:
    """kubernetes-validate's schemas of one Kubernetes version (the ones test_deploy_chart.py used
    before kubeconform), of the kinds given and their shared definitions, in the layout kubeconform
    reads; returns the -schema-location template.

    They reference their shared definitions as "/api/_definitions.json" under an https $id, which
    kubeconform would try to download: here the $id goes and the reference becomes relative.
    """
    flavour = f"v{kube_version}-local-strict"
    source = resources.files("kubernetes_validate") / "kubernetes-json-schema" / flavour
    target = out / flavour
    target.mkdir(parents=True, exist_ok=True)
    prefixes = tuple(f"{kind.lower()}-" for kind in kinds)
    for entry in source.iterdir():
        if entry.name != "_definitions.json" and not entry.name.startswith(prefixes):
            continue
        schema = json.loads(entry.read_text(encoding="utf-8"))
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        (target / entry.name).write_text(text, encoding="utf-8")
    return str(out / KUBECONFORM_LAYOUT)

"""Helpers of the chart tests: where things are, the pinned versions, loading values, parsing manifests."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "policy-gateway"
GENERATED = ROOT / "generated"
ENVIRONMENTS = ("dev", "staging", "prod")
# The Kubernetes version manifests are validated against (kubeconform, with kubernetes-validate's
# schemas) and the chart is linted for; the chart's kubeVersion floor is below it.
KUBE_VERSION = "1.33.0"
RELEASE = "policy-gateway"
NAMESPACE = "llm-gateway"


@dataclass(frozen=True)
class Manifest:
    template: str  # e.g. policy-gateway/templates/gateway-deployment.yaml
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])


def values_file(env: str) -> Path:
    return GENERATED / env / "helm" / "values.yaml"


def load_values(env: str) -> dict[str, Any]:
    """The values exactly as `helm -f` reads them (Helm's YAML parser, not ours)."""
    return helm.values_from_yaml(values_file(env).read_text())


def parse_manifests(rendered: dict[str, str]) -> list[Manifest]:
    # ruamel refuses duplicate keys, which Helm's and PyYAML's parsers silently collapse.
    yaml = YAML(typ="safe", pure=True)
    out = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        out += [Manifest(template, doc) for doc in yaml.load_all(text) if doc]
    return out


def find(manifests: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    matches = [m.doc for m in manifests if m.kind == kind and m.name == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def tool(name: str) -> str:
    """A linter binary from the dev extra: beside this interpreter (the venv), else on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    assert found, f"{name} is missing: pip install -e .[dev]"
    return found

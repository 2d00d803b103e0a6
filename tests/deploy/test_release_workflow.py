"""The release workflow cannot run here (no registry, cluster or OIDC): it is held to actionlint,
and to the shape the release process needs: build once per commit, scan and sign that digest,
promote the same digest dev -> staging -> prod through protected environments, each rollout
atomic and checked with smoke requests through the gateway."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return data


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_every_workflow_lints_clean(actionlint: str) -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert {Path(f).name for f in files} >= {"ci.yml", "release.yml", "deploy.yml"}
    run = subprocess.run([actionlint, *files], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = (WORKFLOWS / "release.yml").read_text().replace("needs.build.outputs.digest", "needs.buidl.outputs.digest")
    (tmp_path / "release.yml").write_text(broken)
    run = subprocess.run([actionlint, str(tmp_path / "release.yml")], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "buidl" in run.stdout


def test_one_digest_is_built_scanned_signed_and_promoted_in_order() -> None:
    jobs = load("release.yml")["jobs"]
    build = steps_text(jobs["build"])
    assert "just check" in build  # the image carries exactly this commit's compile
    assert "gatewayctl bundle sign --env prod" in build
    assert "docker/build-push-action" in build
    assert jobs["build"]["steps"][-1]["with"]["file"] == "deploy/docker/Dockerfile"
    assert "aquasecurity/trivy-action" in steps_text(jobs["scan"])
    assert "cosign sign --yes" in steps_text(jobs["sign"])
    assert jobs["sign"]["permissions"]["id-token"] == "write"  # keyless
    assert jobs["sign"]["needs"] == ["build", "scan"]
    chain = {name: jobs[name]["needs"][-1] for name in ("dev", "staging", "prod")}
    assert chain == {"dev": "sign", "staging": "dev", "prod": "staging"}
    for name in ("dev", "staging", "prod"):
        assert jobs[name]["uses"] == "./.github/workflows/deploy.yml"
        assert jobs[name]["with"]["environment"] == name
        assert jobs[name]["with"]["digest"] == "${{ needs.build.outputs.digest }}"


def test_each_promotion_is_a_protected_verified_atomic_rollout_with_a_smoke_check() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"  # the environment's protection rules
    text = steps_text(job)
    assert text.index("cosign verify") < text.index("helm upgrade")
    assert "--atomic --wait" in text
    assert 'generated/$ENV_NAME/helm/values.yaml' in text
    assert "/v1/chat/completions" in text and "x-policy-version" in text

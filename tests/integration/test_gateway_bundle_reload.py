"""Signed policy bundles end to end, with a real `gatewayctl serve` in front of a real LiteLLM: the
finding (a bundle whose data.json says `off`, manifest untouched, replaced the served one and was
loaded; SSN prompts passed; the reported revision did not change) and what the gateway does now."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_stack import (
    BIN,
    FakeProviderProcess,
    Gateway,
    LiteLLMProxy,
    RedisServer,
    clean_environ,
    compile_project,
    free_port,
    gateway_environ,
    launch_gateway,
    next_minor,
    port_is_open,
    spec_versions,
)
from signing import es256_keypair

from compiler.emit.opa_bundle import tar_gz

pytestmark = pytest.mark.integration

KEY_ID = "policy-bundle-prod-1"  # specs/bundle.yaml
SSN_PROMPT = "My SSN is 123-45-6789, can you check it?"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return es256_keypair()


def require_signed_staging(specs: dict[str, Any]) -> None:
    specs["bundle"]["policy_bundle"]["signing"]["required"]["staging"] = True


def sign(generated: Path, env: str, private_key: str) -> str:
    """The release step: `gatewayctl bundle sign`; the signed bundle's sha256."""
    result = subprocess.run(
        [str(BIN / "gatewayctl"), "bundle", "sign", "--env", env, "--generated", str(generated)],
        env={**clean_environ(), "POLICY_BUNDLE_SIGNING_KEY": private_key}, capture_output=True, text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("sha256 ", 1)[1].split()[0]


def bundle_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        return {m.name.lstrip("/"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def replace(bundle: Path, content: bytes) -> None:
    """Atomically, as a deploy (or an attacker with write access) would."""
    staged = bundle.with_name(bundle.name + ".new")
    staged.write_bytes(content)
    staged.replace(bundle)


def wait_for(gateway: Gateway, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status = gateway.ops("/hot-reload/status").json()
        if done(status):
            return status
        assert time.monotonic() < deadline, f"{what}: {status}"
        time.sleep(0.1)


def log_events(gateway: Gateway, name: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in gateway.log.read_text().splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == name]


def test_hot_reload_refuses_a_tampered_bundle_and_loads_a_signed_new_version(
    fake_provider: FakeProviderProcess, litellm_proxy: LiteLLMProxy, redis_server: RedisServer,
    keys: tuple[str, str], tmp_path: Path,
) -> None:
    private, public = keys
    generated = compile_project(tmp_path / "project", fake_provider.base_url, edit=require_signed_staging)
    old, new = spec_versions()["prompt"], next_minor(spec_versions()["prompt"])
    bumped = compile_project(tmp_path / "bumped", fake_provider.base_url, edit=require_signed_staging,
                             policy_versions={"prompt": new})
    sign(generated, "staging", private)
    environ = gateway_environ(litellm_proxy.url, redis_server.url, POLICY_BUNDLE_PUBLIC_KEY=public)
    gateway = launch_gateway(generated, "staging", environ, tmp_path / "gateway.log")
    bundle = generated / "staging" / "opa" / "bundle.tar.gz"
    try:
        before = gateway.ops("/hot-reload/status").json()
        assert (before["signed_by"], before["last_error"]) == (KEY_ID, None)
        assert gateway.chat(SSN_PROMPT).status_code == 403

        # The finding: data.json set to off, the manifest and the signature untouched.
        files = bundle_files(bundle)
        data = json.loads(files["data.json"])
        data["gateway"]["config"]["prompt"]["mode"] = "off"
        replace(bundle, tar_gz({**files, "data.json": json.dumps(data).encode()}))
        status = wait_for(gateway, lambda s: s["rejected"] >= 1, "tampered bundle not noticed")
        assert status["last_error"].startswith("data.json does not match its digest in .manifest")
        assert (status["revision"], status["signed_by"]) == (before["revision"], KEY_ID)  # the old bundle serves
        assert gateway.chat(SSN_PROMPT).status_code == 403
        policies = gateway.ops("/v1/gateway/status").json()["policies"]
        assert (policies["revision"], policies["modes"]["prompt"]) == (before["revision"], "enforce")
        rejected = log_events(gateway, "policy_gateway.policy_bundle.rejected")
        assert rejected and rejected[-1]["attributes"]["revision"] == before["revision"]
        assert 'policy_gateway_bundle_reloads_total{result="rejected"} 1.0' in gateway.ops("/metrics").text

        # A new version compiled properly (digests and revision consistent) but not signed.
        replace(bundle, (bumped / "staging" / "opa" / "bundle.tar.gz").read_bytes())
        status = wait_for(gateway, lambda s: s["rejected"] >= 2, "unsigned bundle not noticed")
        assert "is not signed" in status["last_error"] and KEY_ID in status["last_error"]
        assert status["revision"] == before["revision"]
        assert gateway.chat().headers["x-policy-version"].startswith(f"prompt={old},")

        # The same version through the release step: signed, loaded, and reported.
        sign(bumped, "staging", private)
        replace(bundle, (bumped / "staging" / "opa" / "bundle.tar.gz").read_bytes())
        status = wait_for(gateway, lambda s: s["versions"]["prompt"] == new, "signed bundle not loaded")
        assert status["revision"] != before["revision"] and status["revision"].startswith(f"prompt-{new}.")
        assert (status["last_error"], status["signed_by"], status["reloads"]) == (None, KEY_ID, 1)
        assert gateway.ops("/v1/gateway/status").json()["policies"]["revision"] == status["revision"]
        assert gateway.chat().headers["x-policy-version"].startswith(f"prompt={new},")
        assert gateway.chat(SSN_PROMPT).status_code == 403
        reloaded = log_events(gateway, "policy_gateway.policy_bundle.reloaded")[-1]["attributes"]
        assert (reloaded["revision"], reloaded["previous_revision"]) == (status["revision"], before["revision"])
    finally:
        gateway.stop()


def run_serve(generated: Path, env: str, environ: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    port = free_port()
    result = subprocess.run(
        [str(BIN / "gatewayctl"), "serve", "--env", env, "--port", str(port), "--generated", str(generated)],
        env={**clean_environ(), **environ}, capture_output=True, text=True, timeout=60, check=False,
    )
    return result, port


@pytest.mark.parametrize("case", ["unsigned", "other_key", "no_key"])
def test_production_refuses_to_start_on_a_bundle_it_cannot_trust(
    compiled_project: Path, redis_server: RedisServer, keys: tuple[str, str], tmp_path: Path, case: str
) -> None:
    generated = tmp_path / "generated"
    shutil.copytree(compiled_project, generated)
    environ = gateway_environ("http://127.0.0.1:9", redis_server.url, POLICY_BUNDLE_PUBLIC_KEY=keys[1])
    if case == "other_key":
        other = es256_keypair()[0]
        sign(generated, "prod", other)
    if case == "no_key":
        environ.pop("POLICY_BUNDLE_PUBLIC_KEY")
    result, port = run_serve(generated, "prod", environ)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    words = {"unsigned": "is not signed", "other_key": "does not verify with key 'policy-bundle-prod-1'",
             "no_key": "POLICY_BUNDLE_PUBLIC_KEY is not set"}[case]
    assert lines[0].startswith("gatewayctl serve: refusing to start: ") and words in lines[0]
    assert not port_is_open(port)


def test_production_serves_the_signed_release_bundle(
    compiled_project: Path, litellm_proxy: LiteLLMProxy, redis_server: RedisServer, keys: tuple[str, str],
    tmp_path: Path,
) -> None:
    generated = tmp_path / "generated"
    shutil.copytree(compiled_project, generated)
    sign(generated, "prod", keys[0])
    environ = gateway_environ(litellm_proxy.url, redis_server.url, POLICY_BUNDLE_PUBLIC_KEY=keys[1])
    gateway = launch_gateway(generated, "prod", environ, tmp_path / "gateway.log")
    try:
        status = gateway.ops("/hot-reload/status").json()
        assert status["signed_by"] == KEY_ID
        assert status["trust"] == {"signature_required": True, "key_id": KEY_ID, "algorithm": "ES256",
                                   "production": True, "allow_off_in_production": False}
        assert gateway.chat(SSN_PROMPT).status_code == 403
    finally:
        gateway.stop()

"""Real processes under the pod security context the chart renders.

No container engine runs here, so the container is approximated with Linux itself: a private
mount namespace with a read-only root filesystem and a tmpfs on /tmp (the emptyDir), then UID/GID
1000 with no capabilities (tests/deploy/podsandbox.sh). Each process gets the command line and
the plain environment of its rendered Deployment (secrets replaced by test values) and must come
up and answer its probes. This catches a process that writes outside /tmp or needs root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from helmchart import GENERATED, ROOT, find, load_values, parse_manifests, tool
from signing import es256_keypair

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from gateway_stack import RedisServer  # the integration suite's real redis-server

pytestmark = pytest.mark.integration

Render = Callable[[dict[str, Any]], dict[str, str]]
SANDBOX = Path(__file__).with_name("podsandbox.sh")
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
# What stays visible (read-only) in the sandbox: the interpreter, the venv, the repository.
KEEP = sorted({sys.base_prefix, sys.prefix, str(ROOT)})
ENV = "prod"
STARTUP_S = 120.0
TEST_SECRET = "sk-test-not-a-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandboxed(
    env: dict[str, str], command: list[str], out: IO[bytes], keep: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start `command` in the sandbox with exactly `env` (and `keep` visible besides KEEP).
    unshare, the script, setpriv and env all exec in place, so the returned pid is the command's own."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is missing"
    assignments = [f"{k}={v}" for k, v in sorted(env.items())]
    return subprocess.Popen(
        [unshare, "-m", "/bin/sh", str(SANDBOX), *KEEP, *keep, "--", "/usr/bin/env", "-i", *assignments, *command],
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status)
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {STARTUP_S:.0f} s:\n{log.read_text()[-3000:]}")


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def container_env(spec: dict[str, Any]) -> dict[str, str]:
    env = {v["name"]: v["value"] for v in spec.get("env", []) if "value" in v}
    env |= {v["name"]: TEST_SECRET for v in spec.get("env", []) if "valueFrom" in v}
    return env


def test_sandbox_root_filesystem_is_read_only_and_tmp_writable(tmp_path: Path) -> None:
    # The harness itself: as UID 1000, a write outside /tmp fails and one inside succeeds.
    probe = "id -u; touch /tmp/ok && echo tmp-writable; touch /var/tmp/no 2>/dev/null || echo root-read-only"
    log = tmp_path / "probe.log"
    with log.open("wb") as out:
        proc = sandboxed({"PATH": os.environ["PATH"]}, ["/bin/sh", "-c", probe], out)
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert log.read_text().split() == ["1000", "tmp-writable", "root-read-only"]


# --- the LiteLLM proxy -------------------------------------------------------------------------


def on_this_machine(path: str) -> str:
    """A path inside the images' /app/generated, as the repository's generated/ holds it."""
    return path.replace("/app/generated", str(GENERATED), 1)


@pytest.fixture(params=["prod", "dev"])
def litellm_pod(request: pytest.FixtureRequest, render: Render, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Start the proxy as the chart would; yield (pid, port); stop it by pid. prod runs the stock
    image's command; dev has in-proxy guardrails, so it runs deploy/docker/Dockerfile.litellm's
    entrypoint, whose guardrails load runtime/ and the bundle beside the config."""
    values = load_values(request.param)
    container = find(parse_manifests(render(values)), "Deployment", "llm-provider")
    (spec,) = container["spec"]["template"]["spec"]["containers"]
    # The chart's arguments, with the ConfigMap mount replaced by the compiled file it holds and
    # the pod's address by a free loopback port.
    args = list(spec["args"])
    port = free_port()
    args[args.index("--config") + 1] = on_this_machine(args[args.index("--config") + 1])
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **container_env(spec)}
    assert env["HOME"] == "/tmp"
    command = [tool("litellm"), *args]
    if values["litellm"]["guardrails"]:
        assert env["EXPECTED_POLICY_BUNDLE_SHA256"] == values["checksums"]["policyBundle"]
        env["GENERATED_DIR"] = str(GENERATED)
        command = ["/bin/sh", str(ENTRYPOINT), *command]
    log = tmp_path / "litellm.log"
    with log.open("wb") as out:
        proc = sandboxed(env, command, out)
    try:
        wait_for(f"http://127.0.0.1:{port}/health/liveliness", proc, log)
        yield proc.pid, port
    finally:
        stop(proc)


def test_litellm_proxy_serves_under_the_pod_security_context(litellm_pod: tuple[int, int]) -> None:
    pid, port = litellm_pod
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/readiness", timeout=5) as resp:
        assert resp.status == 200
    status = proc_status(pid)
    assert status["Uid"].split()[0] == "1000"
    assert status["CapEff"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"


# --- the gateway: the image's entrypoint, then `gatewayctl serve`, as the chart runs them ------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis.log").start()
    try:
        yield server.url
    finally:
        server.stop()


@dataclass(frozen=True)
class Release:
    """generated/ as the release step leaves it for prod (docs/deploy.md, "Signed policy
    bundles"): the bundle signed with the key the specs name, its digest for the Helm values
    (`--set checksums.policyBundle=…`), and the verification key the Secret gives the pod."""

    generated: Path
    bundle_sha256: str
    public_key: str


@pytest.fixture
def release(tmp_path: Path) -> Release:
    private, public = es256_keypair()
    generated = tmp_path / "release" / "generated"
    shutil.copytree(GENERATED, generated)
    signed = subprocess.run(
        [tool("gatewayctl"), "-C", str(ROOT), "bundle", "sign", "--env", ENV, "--generated", str(generated)],
        capture_output=True, text=True, check=False, env={**os.environ, "POLICY_BUNDLE_SIGNING_KEY": private},
    )
    assert signed.returncode == 0, signed.stderr
    for path in (generated.parent, *generated.rglob("*")):  # readable by UID 1000
        path.chmod(0o755 if path.is_dir() else 0o644)
    tmp_path.chmod(0o755)
    sha = hashlib.sha256((generated / ENV / "opa" / "bundle.tar.gz").read_bytes()).hexdigest()
    return Release(generated, sha, public)


def gateway_container(
    render: Render, redis_url: str, port: int, release: Release, *, signed: bool = True
) -> tuple[dict[str, str], list[str]]:
    """The rendered gateway container as an environment and a command line for this machine:
    the image's layout (/app/generated) replaced by the release's generated/ (the repository's,
    with the signed bundle; `signed=False`: the repository's as compiled), the pod's address by a
    free loopback port, Redis by the test's, the Secret's verification key by the release's."""
    values = load_values(ENV)
    generated = release.generated if signed else GENERATED
    if signed:
        values["checksums"]["policyBundle"] = release.bundle_sha256  # helm … --set checksums.policyBundle=…
    manifests = parse_manifests(render(values))
    (spec,) = find(manifests, "Deployment", "policy-gateway")["spec"]["template"]["spec"]["containers"]
    args = list(spec["args"])
    args[args.index("--generated") + 1] = str(generated)
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp"}
    env |= find(manifests, "ConfigMap", "policy-gateway-env")["data"]
    env |= container_env(spec)
    assert "POLICY_BUNDLE_PUBLIC_KEY" in env  # from the Secret, where the specs require signed bundles
    env |= {"GENERATED_DIR": str(generated), "REDIS_URL": redis_url, "POLICY_BUNDLE_PUBLIC_KEY": release.public_key}
    return env, ["/bin/sh", str(ENTRYPOINT), *args]


def test_gateway_serves_under_the_pod_security_context(
    render: Render, redis_url: str, release: Release, tmp_path: Path
) -> None:
    port = free_port()
    env, command = gateway_container(render, redis_url, port, release)
    # The chart pins this compile: the entrypoint checks both digests before starting.
    assert len(env["EXPECTED_POLICY_BUNDLE_SHA256"]) == len(env["EXPECTED_GATEWAY_SETTINGS_SHA256"]) == 64
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = sandboxed(env, command, out, keep=(str(release.generated.parent),))
    try:
        wait_for(f"http://127.0.0.1:{port}/health/liveliness", proc, log)
        status = proc_status(proc.pid)
        assert status["Uid"].split()[0] == "1000"
        assert status["CapEff"] == "0000000000000000"
    finally:
        stop(proc)


def test_gateway_image_refuses_a_bundle_from_another_compile(
    render: Render, redis_url: str, release: Release, tmp_path: Path
) -> None:
    env, command = gateway_container(render, redis_url, free_port(), release)
    env["EXPECTED_POLICY_BUNDLE_SHA256"] = "0" * 64
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = sandboxed(env, command, out, keep=(str(release.generated.parent),))
    assert proc.wait(timeout=60) == 78
    assert "refusing to start: policy bundle" in log.read_text()


def test_gateway_refuses_the_unsigned_compiled_bundle_in_production(
    render: Render, redis_url: str, release: Release, tmp_path: Path
) -> None:
    # The image built without the release's signing step: prod requires a signed bundle.
    env, command = gateway_container(render, redis_url, free_port(), release, signed=False)
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = sandboxed(env, command, out)
    assert proc.wait(timeout=60) == 1
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    assert "refusing to start: policy bundle" in lines[0]
    assert "is not signed" in lines[0] and "policy-bundle-prod-1" in lines[0]

"""The real LiteLLM proxy under the pod security context the chart renders.

No container engine runs here, so the container is approximated with Linux itself: a private
mount namespace with a read-only root filesystem and a tmpfs on /tmp (the emptyDir), then UID/GID
1000 with no capabilities (tests/deploy/podsandbox.sh). The proxy gets the command line and the
plain environment of the rendered Deployment and the compiled config; it must come up and answer
its probes. This catches a process that writes outside /tmp or needs root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helmchart import GENERATED, ROOT, find, load_values, parse_manifests, tool

pytestmark = pytest.mark.integration

SANDBOX = Path(__file__).with_name("podsandbox.sh")
# What stays visible (read-only) in the sandbox: the interpreter, the venv, the repository.
KEEP = sorted({sys.base_prefix, sys.prefix, str(ROOT)})
ENV = "prod"
STARTUP_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.fixture
def litellm_pod(render: Callable[[dict[str, Any]], dict[str, str]], tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Start the proxy as the chart would; yield (pid, port); stop it by pid."""
    litellm = tool("litellm")
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is missing"
    container = find(parse_manifests(render(load_values(ENV))), "Deployment", "llm-provider")
    (spec,) = container["spec"]["template"]["spec"]["containers"]
    # The chart's arguments, with the ConfigMap mount replaced by the compiled file it holds and
    # the pod's address by a free loopback port.
    args = list(spec["args"])
    port = free_port()
    args[args.index("--config") + 1] = str(GENERATED / ENV / "litellm" / "config.yaml")
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {"PATH": "/usr/bin:/bin"}
    env |= {v["name"]: v["value"] for v in spec["env"] if "value" in v}
    env |= {v["name"]: "sk-test-not-a-secret" for v in spec["env"] if "valueFrom" in v}
    assert env["HOME"] == "/tmp"
    log = tmp_path / "litellm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                unshare,
                "-m",
                "/bin/sh",
                str(SANDBOX),
                *KEEP,
                "--",
                "/usr/bin/env",
                "-i",
                *(f"{k}={v}" for k, v in sorted(env.items())),
                litellm,
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/health/liveliness", proc, log)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_litellm_proxy_serves_under_the_pod_security_context(litellm_pod: tuple[int, int]) -> None:
    pid, port = litellm_pod
    # unshare and setpriv exec in place: the pid is the proxy itself.
    assert uid_of(pid) == 1000
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/readiness", timeout=5) as resp:
        assert resp.status == 200
    status = Path(f"/proc/{pid}/status").read_text()
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status


def test_sandbox_root_filesystem_is_read_only_and_tmp_writable(tmp_path: Path) -> None:
    # The harness itself: a write outside /tmp fails, one inside succeeds, as UID 1000.
    unshare = shutil.which("unshare")
    assert unshare
    probe = "id -u; touch /tmp/ok && echo tmp-writable; touch /var/tmp/no 2>/dev/null || echo root-read-only"
    proc = subprocess.run(
        [unshare, "-m", "/bin/sh", str(SANDBOX), *KEEP, "--", "/bin/sh", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1000", "tmp-writable", "root-read-only"]

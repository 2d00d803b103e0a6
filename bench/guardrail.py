"""Benchmark the latency the in-proxy guardrail adds to a LiteLLM call, next to the plain proxy
(baseline) and, when it can start, the route through the policy gateway.

Usage: .venv/bin/python bench/guardrail.py [--requests N] [--warmup N]
Starts real processes on loopback (fake provider, LiteLLM proxies, the gateway) from the example
specs compiled with staging set to `guardrails: in_proxy` (staging enforces both policies), sends
N sequential chat completions per route over one keep-alive connection and prints a Markdown
table: p50, p95 and mean in ms, the ratio to the plain proxy measured in the same run, and the
milliseconds added. The machine is shared and noisy: compare ratios across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
MASTER_KEY = "sk-bench-0123456789abcdef0123"
GATEWAY_KEY = "sk-bench-gateway-0123456789abcdef"
PROMPT = "What is the capital of France? Answer in one word."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(cmd: list[str], log: Path, ready: Callable[[], bool], **kwargs: Any) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
    try:
        deadline = time.monotonic() + 180
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    return check


def compile_project(root: Path) -> Path:
    for name in ("specs", "rego", "docs"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
    gateway = root / "specs" / "gateway.yaml"
    staging = "  staging:\n    sea_env: staging\n"
    gateway.write_text(gateway.read_text().replace(staging, staging + "    guardrails: in_proxy\n"))
    out = root / "generated"
    subprocess.run(
        [sys.executable, "-m", "compiler", "-C", str(root), "compile", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    return out


def litellm_config(generated: Path, provider_url: str, *, guardrails: bool) -> Path:
    emitted = YAML(typ="safe").load((generated / "staging/litellm/config.yaml").read_text())
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "chat-default",
                "litellm_params": {
                    "model": "openai/fake-model",
                    "api_base": f"{provider_url}/v1",
                    "api_key": "fake-provider-key",
                },
            }
        ],
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    if guardrails:
        config["guardrails"] = emitted["guardrails"]
    path = generated / "staging/litellm" / f"bench-{'guarded' if guardrails else 'plain'}.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    return path


@contextmanager
def litellm(config: Path, log: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
    }
    url = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
    with process(
        [*cmd, "--port", str(port)],
        log,
        http_ok(f"{url}/health/liveliness"),
        env=env,
        cwd=config.parent,
    ):
        yield url


def measure(url: str, key: str, requests: int, warmup: int) -> list[float]:
    body = {"model": "chat-default", "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"authorization": f"Bearer {key}"}
    samples = []
    with httpx.Client(timeout=30) as client:
        for i in range(warmup + requests):
            start = time.perf_counter()
            response = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            if i >= warmup:
                samples.append(elapsed * 1000)
    return samples


def row(name: str, samples: list[float], baseline: list[float] | None) -> str:
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    mean = statistics.fmean(samples)
    if baseline is None:
        return f"| {name} (baseline) | {p50:.2f} | {p95:.2f} | {mean:.2f} | 1.00 | — |"
    base = statistics.median(baseline)
    return f"| {name} | {p50:.2f} | {p95:.2f} | {mean:.2f} | {p50 / base:.2f} | {p50 - base:+.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generated = compile_project(root / "project")
        provider_port = free_port()
        provider = f"http://127.0.0.1:{provider_port}"
        fake = [sys.executable, str(REPO / "tests/integration/fake_provider.py")]
        with (
            process([*fake, "--port", str(provider_port)], root / "provider.log", http_ok(f"{provider}/healthz")),
            litellm(litellm_config(generated, provider, guardrails=False), root / "plain.log") as plain,
            litellm(litellm_config(generated, provider, guardrails=True), root / "guarded.log") as guarded,
        ):
            httpx.post(f"{provider}/_control", json={"record": False}, timeout=5)
            results: dict[str, list[float]] = {}
            # Interleaved rounds, so drift on the shared machine hits every route alike.
            for _ in range(3):
                for name, url in (("LiteLLM proxy", plain), ("LiteLLM + in-proxy guardrail", guarded)):
                    results.setdefault(name, []).extend(measure(url, MASTER_KEY, args.requests // 3, args.warmup))
    baseline = results["LiteLLM proxy"]
    print(f"{args.requests} sequential requests per route, keep-alive, after {args.warmup} warm-up\n")
    print("| route | p50 ms | p95 ms | mean ms | ratio to baseline p50 | added p50 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("LiteLLM proxy", baseline, None))
    print(row("LiteLLM + in-proxy guardrail", results["LiteLLM + in-proxy guardrail"], baseline))


if __name__ == "__main__":
    main()

"""Benchmark the latency the in-proxy guardrail adds to a LiteLLM call, next to the plain proxy
(the baseline) and the route through the policy gateway (gateway -> plain proxy).

Usage: .venv/bin/python bench/guardrail.py [--requests N] [--warmup N]
Real processes on loopback, started with the integration suite's helpers (tests/integration/
gateway_stack.py): the fake provider, two LiteLLM proxies (plain, and with the `guardrails:`
section gatewayctl emits), Redis and `gatewayctl serve`, all from the example specs compiled with
staging set to `guardrails: in_proxy` (staging enforces both policies). Each route gets N
sequential chat completions over one keep-alive connection, in interleaved rounds; the table
shows p50, p95 and mean in ms, the ratio to the plain proxy's p50 measured in the same run, and
the milliseconds added. The machine is shared and noisy: compare ratios across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from gateway_stack import (  # noqa: E402  (the integration helpers live with the tests)
    CLIENT_KEYS,
    LITELLM_MASTER_KEY,
    LiteLLMProxy,
    RedisServer,
    compile_project,
    gateway_environ,
    launch_gateway,
    litellm_test_config,
    start_fake_provider,
    stop_process,
)

PROMPT = "What is the capital of France? Answer in one word."


def proxy_config(generated: Path, provider_url: str, *, guardrails: bool) -> Path:
    """The integration test config without its OpenTelemetry console exporter (it would dominate
    the timings), plus the emitted guardrails when asked."""
    yaml = YAML(typ="safe")
    config = yaml.load(litellm_test_config(generated, "staging", provider_url).read_text())
    config["litellm_settings"].pop("callbacks", None)
    config["litellm_settings"].pop("forward_traceparent_to_llm_provider", None)
    if guardrails:
        emitted = yaml.load((generated / "staging" / "litellm" / "config.yaml").read_text())
        config["guardrails"] = emitted["guardrails"]
    path = generated / "staging" / "litellm" / f"bench-{'guarded' if guardrails else 'plain'}.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    return path


@contextmanager
def running(proxy: LiteLLMProxy) -> Iterator[str]:
    try:
        yield proxy.start().url
    finally:
        proxy.stop()


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


def row(name: str, samples: list[float], baseline: list[float]) -> str:
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    base = statistics.median(baseline)
    added = "—" if samples is baseline else f"{p50 - base:+.2f}"
    return f"| {name} | {p50:.2f} | {p95:.2f} | {statistics.fmean(samples):.2f} | {p50 / base:.2f} | {added} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        provider = start_fake_provider(root / "provider.log")
        stack.callback(stop_process, provider.process)

        def guard_staging(specs: dict[str, Any]) -> None:
            specs["gateway"]["environments"]["staging"]["guardrails"] = "in_proxy"

        generated = compile_project(root / "project", provider.base_url, guard_staging)
        plain = stack.enter_context(
            running(LiteLLMProxy(proxy_config(generated, provider.base_url, guardrails=False), root / "plain.log"))
        )
        guarded = stack.enter_context(
            running(LiteLLMProxy(proxy_config(generated, provider.base_url, guardrails=True), root / "guarded.log"))
        )
        redis = RedisServer(root / "redis.log").start()
        stack.callback(redis.stop)
        gateway = launch_gateway(generated, "staging", gateway_environ(plain, redis.url), root / "gateway.log")
        stack.callback(gateway.stop)
        provider.control(record=False)

        routes = {
            "LiteLLM proxy (baseline)": (plain, LITELLM_MASTER_KEY),
            "LiteLLM + in-proxy guardrail": (guarded, LITELLM_MASTER_KEY),
            "policy gateway -> LiteLLM proxy": (gateway.url, CLIENT_KEYS[0]),
        }
        results: dict[str, list[float]] = {name: [] for name in routes}
        # Interleaved rounds, so drift on the shared machine hits every route alike.
        for _ in range(args.rounds):
            for name, (url, key) in routes.items():
                results[name] += measure(url, key, args.requests // args.rounds, args.warmup)

    baseline = results["LiteLLM proxy (baseline)"]
    print(f"{len(baseline)} sequential requests per route over keep-alive, {args.rounds} interleaved rounds\n")
    print("| route | p50 ms | p95 ms | mean ms | ratio to baseline p50 | added p50 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, samples in results.items():
        print(row(name, samples, baseline))


if __name__ == "__main__":
    main()

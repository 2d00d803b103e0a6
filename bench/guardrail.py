"""What the in-proxy guardrail costs, next to the gateway route: client → LiteLLM alone vs client
→ LiteLLM running the compiled policies itself (`guardrails: in_proxy`) vs client → gateway →
LiteLLM, all in the same run.

    .venv/bin/python bench/guardrail.py      # ~3 minutes on 2 cores; prints a Markdown table

The stack comes from the integration helpers (tests/integration/gateway_stack.py); the load
generator, the CPU accounting and the table are bench/gateway.py's, so the figures compare
one to one with its table (docs/benchmarks.md). Staging enforces both policies on both policy
routes; the guardrail's CPU shows up in the "LiteLLM CPU ms/answer" column of its row.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def _bench_gateway() -> Any:
    spec = importlib.util.spec_from_file_location("bench_gateway", REPO / "bench" / "gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def guarded_config(plain: Path, generated: Path) -> Path:
    """The bench's plain LiteLLM config plus the `guardrails:` section gatewayctl emitted, next
    to the emitted config so the bundle's relative path resolves."""
    import gateway_stack as stack

    config = YAML(typ="safe").load(plain.read_text())
    config["guardrails"] = stack.emitted_guardrails(generated, "staging")
    path = generated / "staging" / "litellm" / "bench-guarded.yaml"
    with path.open("w") as f:
        YAML().dump(config, f)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-1", type=int, default=400, help="timed requests at 1 client")
    parser.add_argument("--requests-50", type=int, default=1500, help="timed requests at 50 clients")
    args = parser.parse_args()
    import gateway_stack as stack

    bench = _bench_gateway()
    with tempfile.TemporaryDirectory(prefix="bench-guardrail-") as tmp:
        root = Path(tmp)
        provider = stack.start_fake_provider(root / "provider.log")
        started: list[Any] = []
        try:
            provider.control(record=False)

            def edit(specs: dict[str, Any]) -> None:
                bench.lift_limits(specs)
                specs["gateway"]["environments"]["staging"]["guardrails"] = "in_proxy"

            generated = stack.compile_project(root / "project", provider.base_url, edit)
            plain_config = stack.litellm_test_config(generated, "staging", provider.base_url)
            bench.bench_config(plain_config)
            plain = stack.LiteLLMProxy(plain_config, root / "litellm.log").start()
            started.append(plain)
            guarded = stack.LiteLLMProxy(guarded_config(plain_config, generated), root / "guarded.log").start()
            started.append(guarded)
            redis = stack.RedisServer(root / "redis.log").start()
            started.append(redis)
            environ = stack.gateway_environ(plain.url, redis.url, POLICY_GATEWAY_LOG_LEVEL="WARNING")
            gateway = stack.launch_gateway(generated, "staging", environ, root / "gateway.log")
            started.append(gateway)
            assert gateway.chat(bench.PROMPT).status_code == 200, gateway.log.read_text()[-2000:]

            plain_pid = plain.process.pid if plain.process else 0
            guarded_pid = guarded.process.pid if guarded.process else 0
            targets = {
                "LiteLLM alone": (plain.url, stack.LITELLM_MASTER_KEY, {"litellm": plain_pid}),
                "LiteLLM + in-proxy guardrail": (guarded.url, stack.LITELLM_MASTER_KEY, {"litellm": guarded_pid}),
                "gateway → LiteLLM": (
                    gateway.url,
                    stack.CLIENT_KEYS[0],
                    {"litellm": plain_pid, "front": gateway.process.pid},
                ),
            }
            results = {}
            for clients, n in ((1, args.requests_1), (50, args.requests_50)):
                for name, (url, key, pids) in targets.items():
                    r = bench.measure(url + "/v1/chat/completions", key, clients, n, pids)
                    results[(name, clients)] = r
                    print(
                        f"# {name:28s} {clients:2d} clients: p50 {r['p50_ms']:7.2f} ms  "
                        f"p99 {r['p99_ms']:7.2f} ms  {r['rps']:6.1f} req/s  {r['statuses']}",
                        file=sys.stderr,
                        flush=True,
                    )
            print(bench.table(results))
        finally:
            for s in reversed(started):
                s.stop()
            stack.stop_process(provider.process)


if __name__ == "__main__":
    main()

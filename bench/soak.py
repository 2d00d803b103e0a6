"""Soak: the gateway under a long mixed load, for what only time shows (leaks of memory, file
descriptors, admission slots).

    python bench/soak.py                       # 10 minutes at 100 clients (not part of CI)
    python bench/soak.py --seconds 60 --clients 20

Starts the fake provider, a real LiteLLM proxy, Redis and the gateway (`gatewayctl serve`, staging:
policies in enforce), then drives the gateway from a separate load-generator process: clean chat
requests, blocked ones (PII in the prompt: 403), streamed answers, abandoned streams (the client
hangs up after the first chunk) and embeddings, in a fixed mix. Prints what came back per kind
(any status the kind should not get is an unexpected error), the gateway's RSS and open file
descriptors after the warm-up, during the run and after it settled, and the admission slots in use
at the end (all of them must be free).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))

from gateway import lift_limits  # noqa: E402

# kind -> (share of requests, statuses it should get)
MIX: dict[str, tuple[float, frozenset[int]]] = {
    "clean": (0.45, frozenset({200})),
    "blocked": (0.15, frozenset({403})),
    "streamed": (0.20, frozenset({200})),
    "abandoned": (0.10, frozenset({200})),
    "embeddings": (0.10, frozenset({200})),
}


def _request(kind: str) -> tuple[str, dict[str, Any]]:
    user = "Summarise the trade-offs of optimistic locking in two sentences."
    if kind == "blocked":
        user = "Send the report to jane.doe@example.com please."
    if kind == "embeddings":
        return "/v1/embeddings", {"model": "embed-default", "input": user}
    body: dict[str, Any] = {"model": "chat-default", "messages": [{"role": "user", "content": user}]}
    if kind in ("streamed", "abandoned"):
        body["stream"] = True
    return "/v1/chat/completions", body


async def _loadgen(url: str, key: str, clients: int, seconds: float, seed: int) -> dict[str, Any]:
    import aiohttp

    rnd = random.Random(seed)
    kinds, weights = list(MIX), [share for share, _ in MIX.values()]
    counts: dict[str, dict[str, int]] = {k: {} for k in MIX}
    headers = {"authorization": f"Bearer {key}"}
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            kind = rnd.choices(kinds, weights)[0]
            path, body = _request(kind)
            status = "error"
            try:
                async with session.post(url + path, json=body, headers=headers) as resp:
                    status = str(resp.status)
                    if kind == "abandoned":
                        await resp.content.readany()
                        resp.close()  # hang up mid-answer
                    else:
                        await resp.read()
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            counts[kind][status] = counts[kind].get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return counts


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=20)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.loadgen:
        print(json.dumps(asyncio.run(_loadgen(args.loadgen, args.key, args.clients, args.seconds, args.seed))))
        return
    run(args)


def _drive(url: str, key: str, clients: int, seconds: float, seed: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--loadgen", url, "--key", key, "--clients", str(clients),
           "--seconds", str(seconds), "--seed", str(seed)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def run(args: argparse.Namespace) -> None:
    import gateway_stack as stack

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp)
        provider = stack.start_fake_provider(root / "provider.log")
        started: list[Any] = []
        try:
            provider.control(record=False, reply="word " * 120, chunk_chars=12, delay_s=0.05)
            generated = stack.compile_project(root / "project", provider.base_url, lift_limits)
            proxy = stack.LiteLLMProxy(stack.litellm_test_config(generated, "staging", provider.base_url),
                                       root / "litellm.log").start()
            started.append(proxy)
            redis = stack.RedisServer(root / "redis.log").start()
            started.append(redis)
            environ = stack.gateway_environ(proxy.url, redis.url, POLICY_GATEWAY_LOG_LEVEL="WARNING")
            gateway = stack.launch_gateway(generated, "staging", environ, root / "gateway.log")
            started.append(gateway)
            pid = gateway.process.pid
            key = stack.CLIENT_KEYS[0]

            warm = _drive(gateway.url, key, args.clients, args.warmup, args.seed + 1)
            warm.communicate()
            time.sleep(3)
            baseline = {"rss_kib": rss_kib(pid), "fds": open_fds(pid)}
            samples = [(0.0, baseline["rss_kib"], baseline["fds"])]
            load = _drive(gateway.url, key, args.clients, args.seconds, args.seed)
            started_at = time.monotonic()
            while load.poll() is None:
                time.sleep(min(30.0, args.seconds / 10))
                samples.append((time.monotonic() - started_at, rss_kib(pid), open_fds(pid)))
            out, _ = load.communicate()
            counts: dict[str, dict[str, int]] = json.loads(out)
            time.sleep(5)  # let keep-alive connections and abandoned streams settle
            after = {"rss_kib": rss_kib(pid), "fds": open_fds(pid)}
            status = gateway.ops("/v1/gateway/status").json()
            report(args, counts, baseline, after, samples, status)
        finally:
            for s in reversed(started):
                s.stop()
            stack.stop_process(provider.process)


def report(
    args: argparse.Namespace,
    counts: dict[str, dict[str, int]],
    baseline: dict[str, int],
    after: dict[str, int],
    samples: list[tuple[float, int, int]],
    status: dict[str, Any],
) -> None:
    total = sum(sum(c.values()) for c in counts.values())
    unexpected = {
        kind: {s: n for s, n in c.items() if not s.isdigit() or int(s) not in MIX[kind][1]}
        for kind, c in counts.items()
    }
    print(f"soak: {args.seconds:.0f} s at {args.clients} clients, {total} requests ({total / args.seconds:.1f}/s)")
    print("| kind | requests | statuses | unexpected |")
    print("|---|---:|---|---:|")
    for kind, c in counts.items():
        print(f"| {kind} | {sum(c.values())} | {json.dumps(c, sort_keys=True)} | {sum(unexpected[kind].values())} |")
    growth = 100 * (after["rss_kib"] - baseline["rss_kib"]) / max(1, baseline["rss_kib"])
    peak = max(rss for _, rss, _ in samples)
    print(f"gateway RSS: {baseline['rss_kib'] / 1024:.1f} MiB after warm-up, peak {peak / 1024:.1f} MiB, "
          f"{after['rss_kib'] / 1024:.1f} MiB after ({growth:+.1f} %)")
    print(f"gateway open file descriptors: {baseline['fds']} after warm-up, "
          f"max {max(f for _, _, f in samples)} during, {after['fds']} after")
    inflight = {f"{b}/{k}": v["inflight"] for b, kinds in status["admission"].items() for k, v in kinds.items()}
    print(f"admission slots in use at the end: {sum(inflight.values())} ({inflight})")


if __name__ == "__main__":
    main()

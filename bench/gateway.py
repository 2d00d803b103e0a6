"""What the policy gateway costs: client → LiteLLM vs client → gateway → LiteLLM, same run.

    python bench/gateway.py                          # ~3 minutes on 2 cores; prints a Markdown table
    python bench/gateway.py --baseline-rev 0ad778c   # also the gateway of another revision, same run

Starts the fake provider (tests/integration/fake_provider.py), a real LiteLLM proxy on it, Redis,
and the gateway (`gatewayctl serve`, staging: both policies in enforce, real bundle; and a second
one with both policies `off`, to separate the gateway's own cost from the engine's), then drives
each target from a separate load-generator process (aiohttp, keep-alive, one connection per
client) at 1 and 50 concurrent clients, on chat completions and on embeddings. Also measures two
bare forwarders ("read body, forward, return", no policy) that differ only in the upstream HTTP
client, aiohttp vs httpx: the evidence for the gateway's choice of client. With --baseline-rev the
gateway of that revision (its own compiler, runtime and policies, from `git archive`) runs beside
this checkout's, policies on and off, so a change to the request path is judged in one run.

Judging (docs/benchmarks.md): at 1 client, the added p50/p99 over LiteLLM alone; at 50 clients,
LiteLLM alone already queues, so throughput through the gateway as a share of LiteLLM alone, and
the gateway's own CPU time per answer (utime+stime from /proc/<pid>/stat over the timed phase),
printed after the table by thread group (event loop, decision pool, other threads: Go's runtime
inside the OPA binding) with each gateway's peak RSS.

    python bench/gateway.py --skip-forwarders --only chat-50 --gateway-env GOGC=400   # an A/B, same run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

PROMPT = (
    "Summarise the main trade-offs between optimistic and pessimistic locking in a relational "
    "database, with one example where each is the better choice. Keep it under 200 words."
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- load generator (runs in its own process) ---------------------------------------------------


BODIES = {
    "chat": ("/v1/chat/completions", {"model": "chat-default", "messages": [{"role": "user", "content": PROMPT}]}),
    "embeddings": ("/v1/embeddings", {"model": "embed-default", "input": PROMPT}),
}


async def _loadgen(url: str, key: str, clients: int, requests: int, warmup: int, kind: str) -> dict[str, Any]:
    import aiohttp

    body = json.dumps(BODIES[kind][1]).encode()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(clients)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def run(total: int, record: bool) -> None:
        remaining = [total]

        async def client(session: aiohttp.ClientSession) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
                if record:
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(client(s) for s in sessions))

    await run(warmup, record=False)
    print("WARM", flush=True)
    sys.stdin.readline()  # the parent samples CPU counters, then says go
    started = time.perf_counter()
    await run(requests, record=True)
    elapsed = time.perf_counter() - started
    for s in sessions:
        await s.close()
    latencies.sort()
    ok = statuses.get(200, 0)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "rps": ok / elapsed,
        "ok": ok,
        "statuses": statuses,
    }


def cpu_seconds(pid: int, task: int | None = None) -> float:
    stat = Path(f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


THREAD_GROUPS = ("loop", "decisions", "other")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM): what a higher GOGC costs."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """A process's CPU by thread group: the event loop (the main thread), the decision pool (the
    gateway names its threads policy_N), and the rest: Go's runtime threads inside the OPA
    binding, exporters, and threads that ended during the phase (the process total minus the two)."""
    groups = dict.fromkeys(THREAD_GROUPS, 0.0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            cpu = cpu_seconds(pid, int(task.name))
        except OSError:  # the thread ended meanwhile: counted in "other"
            continue
        if int(task.name) == pid:
            groups["loop"] += cpu
        elif comm.startswith("policy"):
            groups["decisions"] += cpu
    groups["other"] = cpu_seconds(pid) - groups["loop"] - groups["decisions"]
    return groups


def measure(url: str, key: str, clients: int, requests: int, pids: dict[str, int], kind: str) -> dict[str, Any]:
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--loadgen",
            url + BODIES[kind][0],
            "--kind",
            kind,
            "--key",
            key,
            "--clients",
            str(clients),
            "--requests",
            str(requests),
            "--warmup",
            str(max(20, clients * 4)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin and proc.stdout
    assert proc.stdout.readline().strip() == "WARM"
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    threads_before = thread_cpu_seconds(pids["front"]) if "front" in pids else {}
    proc.stdin.write("go\n")
    proc.stdin.flush()
    result: dict[str, Any] = json.loads(proc.stdout.readline())
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    threads_after = thread_cpu_seconds(pids["front"]) if "front" in pids else {}
    if "front" in pids:
        result["peak_rss_mb"] = peak_rss_mb(pids["front"])
    proc.stdin.close()
    proc.stdout.close()
    proc.wait()
    for name in pids:
        result[f"cpu_ms_per_answer_{name}"] = (after[name] - before[name]) * 1000 / max(1, result["ok"])
    for group, seconds in threads_after.items():
        result[f"cpu_ms_per_answer_{group}"] = (seconds - threads_before[group]) * 1000 / max(1, result["ok"])
    return result


# --- bare forwarders (context for the choice of upstream client) -----------------------------------


def _forwarder(kind: str, upstream: str, port: int, key: str) -> None:
    import uvicorn

    state: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    if kind == "aiohttp":
                        import aiohttp

                        state["client"] = aiohttp.ClientSession()
                    else:
                        import httpx

                        state["client"] = httpx.AsyncClient(limits=httpx.Limits(max_connections=1024), timeout=600)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        url = upstream + "/v1/chat/completions"
        if kind == "aiohttp":
            async with state["client"].post(url, data=body, headers=headers) as resp:
                payload, status = await resp.read(), resp.status
        else:
            resp = await state["client"].post(url, content=body, headers=headers)
            payload, status = resp.content, resp.status_code
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": payload})

    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


# --- orchestration ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-1", type=int, default=400, help="timed requests at 1 client")
    parser.add_argument("--requests-50", type=int, default=1500, help="timed requests at 50 clients")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--skip-forwarders", action="store_true")
    parser.add_argument("--baseline-rev", help="also measure the gateway of this git revision (e.g. 0ad778c)")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="also measure this checkout's gateway (policies on) with these environment variables; repeatable",
    )
    parser.add_argument(
        "--only", action="append", choices=("chat-1", "chat-50", "embeddings-1"), help="only these rows; repeatable"
    )
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="chat", help=argparse.SUPPRESS)
    parser.add_argument("--forwarder", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        result = asyncio.run(_loadgen(args.loadgen, args.key, args.clients, args.requests, args.warmup, args.kind))
        print(json.dumps(result), flush=True)
        return
    if args.forwarder:
        _forwarder(args.forwarder, args.upstream, args.port, args.key)
        return
    run_all(args)


def lift_limits(specs: dict[str, Any]) -> None:
    """Measure the limiter's and admission's cost, not their refusals."""
    # One key sends far more than a production per-key limit.
    specs["gateway"]["gateway"]["rate_limit"]["requests_per_minute"] = 10_000_000
    # Admission control would refuse the 50 clients above the backend's 8 (correctly); here every
    # request must reach LiteLLM so all targets do the same work.
    for capability in ("chat", "embeddings"):
        specs["backends"]["backends"]["gpu_fast"]["concurrency"][capability] = 1000


def policies_off(specs: dict[str, Any]) -> None:
    """The same gateway with both policies `off`: its own cost without the policy engine's."""
    lift_limits(specs)
    for policy in ("prompt", "output"):
        specs["policies"]["policies"][policy]["mode"]["staging"] = "off"


def revision_tree(rev: str, root: Path) -> Path:
    """The files of another revision that the gateway and its compile need, from `git archive`."""
    tree = root / f"rev-{rev}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "compiler", "runtime", "specs", "rego", "docs"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_all(args: argparse.Namespace) -> None:
    import gateway_stack as stack

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        root = Path(tmp)
        provider = stack.start_fake_provider(root / "provider.log")
        started: list[Any] = []
        try:
            provider.control(record=False)

            generated = stack.compile_project(root / "project", provider.base_url, lift_limits)
            config = stack.litellm_test_config(generated, "staging", provider.base_url)
            bench_config(config)
            proxy = stack.LiteLLMProxy(config, root / "litellm.log").start()
            started.append(proxy)
            redis = stack.RedisServer(root / "redis.log").start()
            started.append(redis)
            environ = stack.gateway_environ(proxy.url, redis.url, POLICY_GATEWAY_LOG_LEVEL="WARNING")
            gateway = stack.launch_gateway(generated, "staging", environ, root / "gateway.log")
            started.append(gateway)
            assert gateway.chat(PROMPT).status_code == 200, gateway.log.read_text()[-2000:]

            generated_off = stack.compile_project(root / "project-off", provider.base_url, policies_off)
            gateway_off = stack.launch_gateway(generated_off, "staging", environ, root / "gateway-off.log")
            started.append(gateway_off)
            assert gateway_off.chat(PROMPT).headers["x-policy-decision"] == "off"
            targets = {
                "LiteLLM alone": (proxy.url, stack.LITELLM_MASTER_KEY, None),
                "gateway → LiteLLM": (gateway.url, stack.CLIENT_KEYS[0], gateway.process.pid),
                "gateway, policies off": (gateway_off.url, stack.CLIENT_KEYS[0], gateway_off.process.pid),
            }
            if args.baseline_rev:
                tree = revision_tree(args.baseline_rev, root)
                for label, edit in (("", lift_limits), (", policies off", policies_off)):
                    name = f"project-{args.baseline_rev}{label.replace(', ', '-').replace(' ', '-')}"
                    gen = stack.compile_project(root / name, provider.base_url, edit, source=tree)
                    old = stack.launch_gateway(gen, "staging", environ, root / f"{name}.log", source=tree)
                    started.append(old)
                    assert old.chat(PROMPT).status_code == 200, old.log.read_text()[-2000:]
                    targets[f"gateway {args.baseline_rev}{label}"] = (old.url, stack.CLIENT_KEYS[0], old.process.pid)
            for variant in args.gateway_env:
                extra = dict(item.split("=", 1) for item in variant.split(","))
                log = root / f"gateway-{len(started)}.log"
                other = stack.launch_gateway(generated, "staging", {**environ, **extra}, log)
                started.append(other)
                assert other.chat(PROMPT).status_code == 200, other.log.read_text()[-2000:]
                targets[f"gateway, {variant}"] = (other.url, stack.CLIENT_KEYS[0], other.process.pid)
            if not args.skip_forwarders:
                for kind in ("aiohttp", "httpx"):
                    port = stack.free_port()
                    fwd = stack.spawn(
                        [
                            sys.executable,
                            __file__,
                            "--forwarder",
                            kind,
                            "--upstream",
                            proxy.url,
                            "--port",
                            str(port),
                            "--key",
                            stack.LITELLM_MASTER_KEY,
                        ],
                        root / f"fwd-{kind}.log",
                    )
                    started.append(stack.Gateway(fwd, port, root / f"fwd-{kind}.log"))
                    wait_port(port)
                    targets[f"bare forwarder ({kind})"] = (f"http://127.0.0.1:{port}", "x", fwd.pid)
            # Background load on a shared machine drifts; rounds interleave the targets and the
            # table keeps each figure's median over the rounds.
            results = {}
            litellm_pid = proxy.process.pid if proxy.process else 0
            plan = [("chat", 1, args.requests_1, targets), ("chat", 50, args.requests_50, targets)]
            # Embeddings: LiteLLM alone and this checkout's gateway (the other endpoints share its path).
            embedding_targets = {k: v for k, v in targets.items() if k in ("LiteLLM alone", "gateway → LiteLLM")}
            plan += [("embeddings", 1, args.requests_1, embedding_targets)]
            if args.only:
                plan = [step for step in plan if f"{step[0]}-{step[1]}" in args.only]
            for kind, clients, n, chosen in plan:
                rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
                for r_index in range(args.rounds):
                    for name, (url, key, pid) in chosen.items():
                        pids = {"litellm": litellm_pid}
                        if pid:
                            pids["front"] = pid
                        r = measure(url, key, clients, max(1, n // args.rounds), pids, kind)
                        rounds[name].append(r)
                        print(
                            f"# round {r_index + 1} {kind:10s} {name:28s} {clients:2d} clients: "
                            f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['rps']:6.1f} req/s  "
                            f"{r['statuses']}",
                            file=sys.stderr,
                            flush=True,
                        )
                for name, runs in rounds.items():
                    results[(kind, name, clients)] = {
                        key: statistics.median(run[key] for run in runs)
                        for key in runs[0]
                        if isinstance(runs[0][key], float | int) and not isinstance(runs[0][key], bool)
                    }
            print(table(results))
            print()
            print(breakdown(results))
            print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            for s in reversed(started):
                s.stop()
            stack.stop_process(provider.process)


def bench_config(config: Path) -> None:
    """The bench's LiteLLM config: the test variant without the OpenTelemetry callback, so
    LiteLLM's own per-request cost is its plain proxy path (the same for both targets)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(config.read_text())
    data["litellm_settings"].pop("callbacks", None)
    data["litellm_settings"].pop("forward_traceparent_to_llm_provider", None)
    with config.open("w") as f:
        yaml.dump(data, f)


def wait_port(port: int) -> None:
    import gateway_stack as stack

    deadline = time.monotonic() + 30
    while not stack.port_is_open(port):
        assert time.monotonic() < deadline, f"port {port} never opened"
        time.sleep(0.05)


def table(results: dict[tuple[str, str, int], dict[str, Any]]) -> str:
    lines = [
        "| endpoint | target | clients | p50 ms | p99 ms | req/s | added p50 | added p99 | throughput vs LiteLLM "
        "| front CPU ms/answer | LiteLLM CPU ms/answer |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (kind, name, clients), r in results.items():
        b = results[(kind, "LiteLLM alone", clients)]
        front = r.get("cpu_ms_per_answer_front")
        share = f"{100 * r['rps'] / b['rps']:.0f} %" if b["rps"] else "—"
        lines.append(
            f"| {kind} | {name} | {clients} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.1f} "
            f"| {r['p50_ms'] - b['p50_ms']:+.2f} | {r['p99_ms'] - b['p99_ms']:+.2f} "
            f"| {share} | {'—' if front is None else f'{front:.2f}'} "
            f"| {r['cpu_ms_per_answer_litellm']:.2f} |"
        )
    return "\n".join(lines)


def breakdown(results: dict[tuple[str, str, int], dict[str, Any]]) -> str:
    """Where each gateway's CPU per answer goes, by thread group (thread_cpu_seconds)."""
    lines = [
        "| endpoint | target | clients | event loop | decision pool | other threads | total ms/answer | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (kind, name, clients), r in results.items():
        if "cpu_ms_per_answer_loop" not in r:
            continue
        groups = " | ".join(f"{r[f'cpu_ms_per_answer_{group}']:.2f}" for group in THREAD_GROUPS)
        lines.append(
            f"| {kind} | {name} | {clients} | {groups} | {r['cpu_ms_per_answer_front']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The Go runtime inside OPA's binding, tuned: the CPU a process spends per prompt + output decision
pair on a 4 KB chat request under each GOGC and GOMAXPROCS, all settings in one run.

    .venv/bin/python bench/policy_go_runtime.py [--env prod] [--rounds 40] [--batch 25]

The binding's Go runtime reads GOGC and GOMAXPROCS once, when libopabridge.so loads, so each
setting is its own worker process (the gateway's own PolicyStore on the bundle compiled from
specs/). The parent lets the workers run one batch each in turn, round after round, one at a time:
a busy spell of the machine falls on all settings alike. A worker reports, per batch, its process
CPU (all threads: the Go collector and scheduler run on threads of their own) and the calling
thread's CPU; the difference is what the Go runtime does beside the evaluation. Then each worker
in turn runs decision pairs from two threads at once (GOMAXPROCS 1 lets one thread at a time run
Go code: the gateway decides in a thread pool), and says its peak RSS (a higher GOGC lets the Go
heap grow further between collections).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = [(gogc, procs) for procs in ("1", "2") for gogc in ("100", "200", "400")]


def worker(bundle: Path) -> None:
    """Answer each "N" on stdin with the CPU of N decision pairs, and "threads N" with the wall
    time of N pairs on each of two threads, as one JSON line."""
    from bench.policy import answer, chat, prose
    from runtime.policy import PolicyStore

    store = PolicyStore(bundle)
    text = prose(4096)
    request, reply = chat(text), answer(text)
    for _ in range(50):
        store.evaluate("prompt", request)
        store.evaluate("output", reply)

    def pairs(n: int) -> None:
        for _ in range(n):
            store.evaluate("prompt", request)
            store.evaluate("output", reply)

    for line in sys.stdin:
        command, _, n = line.rpartition(" ")
        if command == "threads":
            # each thread compiles its own engine in its first pairs: timed from when both are warm
            ready = threading.Barrier(3)

            def warm_then(n: int, ready: threading.Barrier = ready) -> None:
                pairs(5)
                ready.wait()
                pairs(n)

            workers = [threading.Thread(target=warm_then, args=(int(n),)) for _ in range(2)]
            for w in workers:
                w.start()
            ready.wait()
            start = time.perf_counter()
            for w in workers:
                w.join()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            print(json.dumps({"wall": time.perf_counter() - start, "rss": rss}), flush=True)
            continue
        process, thread = time.process_time_ns(), time.thread_time_ns()
        pairs(int(n))
        print(json.dumps({"process": time.process_time_ns() - process, "thread": time.thread_time_ns() - thread}),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--env", default="prod")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=25, help="decision pairs per worker per round")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from bench.policy import store_of
    from compiler.emit.opa_bundle import bundle_files
    from compiler.load import load_specs
    from compiler.plan import build_plan
    from compiler.validate import validate

    env = next(e for e in build_plan(validate(load_specs(ROOT), check_lock=False)).environments
               if e.name == args.env)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp, "bundle")
        store_of(bundle_files(env), bundle)
        workers = {}
        for gogc, procs in SETTINGS:
            environ = {**os.environ, "GOGC": gogc, "GOMAXPROCS": procs, "PYTHONPATH": str(ROOT)}
            workers[(gogc, procs)] = subprocess.Popen(
                [sys.executable, __file__, "--worker", str(bundle)], env=environ, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        totals = {k: {"process": 0, "thread": 0} for k in workers}
        for _ in range(args.rounds):
            for key, proc in workers.items():
                for name, ns in _ask(proc, str(args.batch)).items():
                    totals[key][name] += ns
        two_threads = {key: _ask(proc, f"threads {args.rounds * args.batch // 4}") for key, proc in workers.items()}
        for proc in workers.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    pairs = args.rounds * args.batch
    base = totals[("100", "2")]["process"]
    print(f"{args.env} bundle, 4 KB chat request; {pairs} prompt + output decision pairs per setting, "
          f"{args.rounds} rounds interleaved; µs of CPU per pair\n")
    print("| GOMAXPROCS | GOGC | process CPU | calling thread | other threads | process vs GOGC 100, GOMAXPROCS 2 "
          "| pairs/s from 2 threads | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (gogc, procs), t in totals.items():
        process, thread = t["process"] / pairs / 1000, t["thread"] / pairs / 1000
        both = two_threads[(gogc, procs)]
        print(f"| {procs} | {gogc} | {process:.0f} | {thread:.0f} | {process - thread:.0f} "
              f"| {(t['process'] - base) / base * 100:+.1f} % | {2 * (pairs // 4) / both['wall']:.0f} "
              f"| {both['rss'] / 1024:.0f} |")


def _ask(proc: subprocess.Popen[str], command: str) -> dict[str, float]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    answer: dict[str, float] = json.loads(proc.stdout.readline())
    return answer


if __name__ == "__main__":
    main()

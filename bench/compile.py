"""Benchmark the compiler as people and pre-commit run it: cold processes, wall-clock time.

Usage: .venv/bin/python bench/compile.py [--runs N]
Prints a Markdown table: each figure's median over N runs, next to `python -c pass` measured in the
same run (the machine is shared and noisy: the ratio is the comparable number).

As on a developer's machine, Python keeps the bytecode it compiles and validate keeps its cache of
passed checks (compiler/check_cache.py), both in a temporary directory here (whatever
PYTHONDONTWRITEBYTECODE says), and each command runs once untimed first, so both are in place; the row "no cache" is
validate on a fresh clone (GATEWAYCTL_NO_CACHE=1), the row "no bytecode" validate where Python
compiles every module of the project at each start (PYTHONDONTWRITEBYTECODE=1 and no __pycache__).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GATEWAYCTL = [sys.executable, "-m", "compiler"]
GOALS = {"validate (examples)": 0.5, "validate (examples, no cache)": 0.5, "validate (examples, no bytecode)": 0.5,
         "compile (examples)": 1.0, "compile (1,000 models, 200 services)": 3.0}


def synthetic_project(root: Path, models: int = 1000, services: int = 200) -> None:
    """The example specs plus `services` extra services and `models` extra models."""
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "rego", root / "rego", dirs_exist_ok=True)
    gateway = (root / "specs" / "gateway.yaml").read_text()
    extra_services = "".join(
        f"  svc-{i}:\n    image: example/svc:{i}\n    port: {20000 + i}\n    depends_on: [redis]\n"
        f"    health: {{path: /health}}\n"
        for i in range(services - 4)
    )
    gateway = gateway.replace("\nrouting:", extra_services + "\nrouting:", 1)
    (root / "specs" / "gateway.yaml").write_text(gateway)
    backends = (root / "specs" / "backends.yaml").read_text()
    extra_models = "".join(
        f"  - name: model-{i}\n    backend: {'gpu_fast' if i % 2 else 'openai'}\n"
        f"    litellm_params: {{model: openai/model-{i}}}\n    fallbacks: [chat-default]\n"
        for i in range(models - 6)
    )
    backends = backends.replace("\nmodels:\n", "\nmodels:\n" + extra_models, 1)
    (root / "specs" / "backends.yaml").write_text(backends)


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)  # bytecode and cache in place
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def environments(tmp: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(as a developer runs it, without validate's cache, without bytecode)."""
    usual = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "GATEWAYCTL_NO_CACHE")}
    usual["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    usual["GATEWAYCTL_CACHE_DIR"] = str(tmp / "gatewayctl-cache")  # the bench's own, filled by the untimed run
    without_bytecode = {k: v for k, v in usual.items() if k != "PYTHONPYCACHEPREFIX"}
    without_bytecode["PYTHONDONTWRITEBYTECODE"] = "1"
    return usual, {**usual, "GATEWAYCTL_NO_CACHE": "1"}, without_bytecode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        synthetic_project(big)
        out = Path(tmp) / "out"
        usual, no_cache, no_bytecode = environments(Path(tmp))
        validate = [*GATEWAYCTL, "-C", str(REPO), "validate"]
        baseline = timed([sys.executable, "-c", "pass"], args.runs, usual)
        rows = {
            "validate (examples)": timed(validate, args.runs, usual),
            "validate (examples, no cache)": timed(validate, args.runs, no_cache),
            "validate (examples, no bytecode)": timed(validate, args.runs, no_bytecode),
            "compile (examples)": timed([*GATEWAYCTL, "-C", str(REPO), "compile", "--out", str(out)], args.runs, usual),
            "compile (1,000 models, 200 services)": timed(
                [*GATEWAYCTL, "-C", str(big), "compile", "--out", str(Path(tmp) / "big-out")], args.runs, usual),
        }
    print(f"| what (median of {args.runs} cold runs) | seconds | x `python -c pass` | goal | met |")
    print("|---|---:|---:|---:|---|")
    print(f"| `python -c pass` (baseline) | {baseline:.3f} | 1.0 | — | — |")
    for name, seconds in rows.items():
        goal = GOALS[name]
        met = "yes" if seconds <= goal else "no"
        print(f"| {name} | {seconds:.3f} | {seconds / baseline:.1f} | ≤ {goal:g} s | {met} |")


if __name__ == "__main__":
    main()

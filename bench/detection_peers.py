"""Detection next to other rule-based and offline detectors, on the same cases: the held-out split of
tests/corpus/ (attacks and ordinary prompts, per source) and the own near-misses.

    .venv/bin/python bench/detection_peers.py [--split heldout] [--heuristic-sample 80]

- this project: the prompt policy of prod, compiled from specs/ (as `gatewayctl policy replay`),
  a case caught when the decision blocks;
- LiteLLM 1.106.2, in-process (it is in the project's venv): its content filter guardrail with the
  five prompt_injection_* categories and the prompt_injection policy template (blocked = caught),
  and its prompt-injection similarity heuristic (`check_user_input_similarity`: difflib ratio of
  every substring against 376 "ignore previous ..." phrases). That heuristic costs seconds per
  kilobyte, so it runs on a seeded sample of each label (--heuristic-sample) through an equivalent
  that skips a substring whose difflib upper bound (quick_ratio) is under the threshold, checked
  against LiteLLM's own function on the shortest cases first;
- rules-only or offline scanners from PyPI, in their own venv (--peers-venv, created with pinned
  versions when missing): ai-injection-guard 0.3.0 (75 regex patterns, MIT; caught = not safe at
  its MEDIUM threshold), clawguard-core 0.4.0 (regex patterns, MIT; caught = any finding) and
  last_layer 0.1.33 (a closed-source classifier shipped as a binary library; caught = not passed).

Texts of a case are joined with newlines, as LiteLLM's get_formatted_prompt does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import venv
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

from compiler import policy_replay as pr  # noqa: E402

CORPORA = ["attacks.jsonl", "benign.jsonl", "own_nearmiss.jsonl"]
PEERS = {"ai-injection-guard": "0.3.0", "clawguard-core": "0.4.0", "last-layer": "0.1.33"}
# Run inside the peers' venv: one JSON case a line in, {"id": {scanner: caught}} out.
_PEER_SCRIPT = r"""
import json, sys
from prompt_shield import PromptScanner
import clawguard_core
from last_layer import scan_prompt
shield, claw = PromptScanner(threshold="MEDIUM"), clawguard_core.Scanner()
out = {}
for line in sys.stdin:
    case = json.loads(line)
    text = case["text"]
    out[case["id"]] = {
        "ai-injection-guard": not shield.scan(text).is_safe,
        "clawguard-core": bool(claw.scan(text).detected),
        "last_layer": not scan_prompt(text).passed,
    }
json.dump(out, sys.stdout)
"""


def _text(case: pr.Case) -> str:
    return "\n".join(str(t["text"]) for t in case.input["texts"])


def project(cases: Sequence[pr.Case]) -> dict[str, bool]:
    outcomes = pr.replay(pr.compiled_store(ROOT, "prod"), cases)
    return {o.case.id: o.blocked for o in outcomes}


def litellm_content_filter(cases: Sequence[pr.Case]) -> dict[str, bool]:
    import logging

    import litellm.proxy.guardrails.content_filter_data as data
    from fastapi import HTTPException
    from litellm.proxy.guardrails.guardrail_hooks.litellm_content_filter.content_filter import (
        ContentFilterGuardrail,
    )

    logging.getLogger("LiteLLM Proxy").setLevel(logging.ERROR)
    folder = Path(data.__file__).parent
    names = sorted(p.stem for p in (folder / "categories").glob("prompt_injection_*.yaml"))
    categories = [{"category": n, "enabled": True, "action": "BLOCK"} for n in names]
    categories.append({"category": "prompt_injection", "enabled": True, "action": "BLOCK",
                       "category_file": str(folder / "policy_templates" / "prompt_injection.yaml")})
    guard = ContentFilterGuardrail(guardrail_name="peers", categories=categories)  # type: ignore[arg-type]
    out = {}
    for case in cases:
        try:
            guard._filter_single_text(_text(case))
            out[case.id] = False
        except HTTPException:
            out[case.id] = True
    return out


def _similar(text: str) -> bool:
    """LiteLLM's check_user_input_similarity, skipping substrings whose quick_ratio (an upper bound
    of difflib's ratio: matching characters as multisets, kept for a sliding window) is under the
    threshold. Same answer, far fewer SequenceMatcher calls."""
    from litellm.constants import DEFAULT_PROMPT_INJECTION_SIMILARITY_THRESHOLD as threshold
    from litellm.proxy.hooks.prompt_injection_detection import _OPTIONAL_PromptInjectionDetection

    s = text.lower()
    for kw in _OPTIONAL_PromptInjectionDetection().generate_injection_keywords():
        n = len(kw)
        if len(s) < n:
            continue
        need, window = Counter(kw), Counter(s[:n])
        common = sum(min(window[c], k) for c, k in need.items())
        for i in range(len(s) - n + 1):
            if i:
                gone, new = s[i - 1], s[i + n - 1]
                if gone != new:
                    if window[gone] <= need.get(gone, 0):
                        common -= 1
                    window[gone] -= 1
                    window[new] += 1
                    if window[new] <= need.get(new, 0):
                        common += 1
            if common / n > threshold and SequenceMatcher(None, s[i:i + n], kw).ratio() > threshold:
                return True
    return False


def litellm_heuristic(cases: Sequence[pr.Case], sample: int, seed: int = 13) -> dict[str, bool]:
    from litellm.proxy.hooks.prompt_injection_detection import _OPTIONAL_PromptInjectionDetection

    by_label: dict[str, list[pr.Case]] = defaultdict(list)
    for case in cases:
        by_label[case.label].append(case)
    rnd = random.Random(seed)
    picked = [c for label in sorted(by_label) for c in rnd.sample(by_label[label], min(sample, len(by_label[label])))]
    # the equivalence, on the shortest picked cases, against LiteLLM's own function
    own = _OPTIONAL_PromptInjectionDetection()
    for case in sorted(picked, key=lambda c: len(_text(c)))[:6]:
        assert own.check_user_input_similarity(_text(case)) == _similar(_text(case)), case.id
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip([c.id for c in picked], pool.map(_similar, [_text(c) for c in picked], chunksize=4),
                        strict=True))


def peers_venv(path: Path) -> Path | None:
    python = path / "bin" / "python"
    if not python.exists():
        print(f"creating {path} for {', '.join(f'{k}=={v}' for k, v in PEERS.items())} ...", file=sys.stderr)
        venv.create(path, with_pip=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *(f"{k}=={v}" for k, v in PEERS.items())],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"could not install the peer scanners: {proc.stderr.strip()[-300:]}", file=sys.stderr)
            return None
    return python


def scanners(python: Path, cases: Sequence[pr.Case]) -> dict[str, dict[str, bool]]:
    lines = "".join(json.dumps({"id": c.id, "text": _text(c)}) + "\n" for c in cases)
    proc = subprocess.run([str(python), "-c", _PEER_SCRIPT], input=lines, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"the peer scanners failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return {}
    found: dict[str, dict[str, bool]] = json.loads(proc.stdout)
    out: dict[str, dict[str, bool]] = defaultdict(dict)
    for case_id, verdicts in found.items():
        for name, caught in verdicts.items():
            out[name][case_id] = caught
    return out


def _cell(verdicts: dict[str, bool], cases: Sequence[pr.Case]) -> str:
    seen = [verdicts[c.id] for c in cases if c.id in verdicts]
    if not seen:
        return "—"
    p = sum(seen) / len(seen)
    note = "" if len(seen) == len(cases) else f" (n={len(seen)}, ±{196 * math.sqrt(p * (1 - p) / len(seen)):.0f})"
    return f"{100 * p:.1f}{note}"


def table(results: dict[str, dict[str, bool]], cases: Sequence[pr.Case]) -> str:
    groups: dict[str, list[pr.Case]] = defaultdict(list)
    for c in cases:
        groups[f"{c.label}/{c.source}"].append(c)
        if not c.source.startswith("own-"):
            groups[f"{c.label}/all public"].append(c)
    keys = sorted(groups, key=lambda k: (k.split("/")[0], k.endswith("all public"), k))
    names = list(results)
    lines = ["| cases (held-out) | n | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for key in keys:
        lines.append(f"| {key} | {len(groups[key])} | "
                     + " | ".join(_cell(results[n], groups[key]) for n in names) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--split", default="heldout", choices=["heldout", "tune", "all"])
    parser.add_argument("--heuristic-sample", type=int, default=80,
                        help="cases per label for LiteLLM's similarity heuristic (0: skip it)")
    parser.add_argument("--peers-venv", type=Path, default=ROOT / ".venv-peers")
    args = parser.parse_args(argv)

    cases = [c for c in pr.load_corpus([ROOT / "tests" / "corpus" / n for n in CORPORA])
             if c.policy == "prompt" and args.split in ("all", c.split)]
    runs: list[tuple[str, Callable[[], dict[str, bool]]]] = [
        ("this project (block)", lambda: project(cases)),
        ("LiteLLM content filter", lambda: litellm_content_filter(cases)),
    ]
    if args.heuristic_sample:
        runs.append(("LiteLLM similarity heuristic", lambda: litellm_heuristic(cases, args.heuristic_sample)))
    results: dict[str, dict[str, bool]] = {}
    for name, run in runs:
        print(f"running {name} ...", file=sys.stderr)
        results[name] = run()
    python = peers_venv(args.peers_venv)
    if python is not None:
        print("running the peer scanners ...", file=sys.stderr)
        results.update(scanners(python, cases))
    print(f"% caught (attack rows) or flagged (benign rows), {args.split} split of tests/corpus/; "
          "(n=, ±) marks a sampled column with its 95 % interval\n")
    print(table(results, cases))


if __name__ == "__main__":
    main()

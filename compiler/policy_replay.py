"""`gatewayctl policy replay` and `gatewayctl policy diff`: a labelled corpus through the compiled
policies, and what a policy change does to its decisions before it ships.

The bundle is compiled in memory from a project root (specs/ and rego/) and loaded by the same
runtime.policy.PolicyStore the gateway uses. Every case is decided as in `enforce`, whatever mode
the environment has, so a policy in `monitor` is measured the same way. Reports name cases by id;
texts only with show_texts.

A corpus is JSON Lines, one case a line (tests/corpus/):
{"id", "label": "attack"|"benign"|"pii", "source", "family", "split": "tune"|"heldout",
 "policy": "prompt"|"output" (default prompt), "texts": [{"field", "role", "text"}] or "text"}.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.errors import Position, SpecError, SpecErrors

__all__ = [
    "Case", "Change", "Compiled", "Outcome", "bundle_files_at", "changes", "checkout", "compiled_at", "compiled_store",
    "load_corpus", "render_diff", "render_diff_markdown", "render_report", "replay", "report",
]


@dataclass(frozen=True)
class Case:
    id: str
    label: str
    source: str
    family: str
    split: str
    policy: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    case: Case
    blocked: bool  # the decision's allow is false (in enforce)
    rules: tuple[str, ...]  # every rule with a violation, sorted
    blocking: tuple[str, ...]  # the rules whose violations block (the rest are only reported)


def split_of(case_id: str) -> str:
    """The split of a case that names none: half of each source, by the id's hash."""
    return "heldout" if hashlib.sha256(case_id.encode()).digest()[0] % 2 else "tune"


def load_corpus(paths: Sequence[Path]) -> list[Case]:
    """The cases of JSON Lines corpora; every malformed line is reported at its line."""
    cases: list[Case] = []
    problems: list[SpecError] = []
    seen: dict[str, Position] = {}
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is in texts
        except OSError as exc:
            raise SpecErrors([SpecError(Position(str(path)), f"cannot read the corpus: {exc.strerror or exc}",
                                        "pass a JSON Lines file, e.g. tests/corpus/attacks.jsonl")]) from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = Position(str(path), n, 1)
            try:
                raw = json.loads(line)
                case = _case(raw)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                problems.append(SpecError(where, f"not a corpus case: {exc}",
                                          'one JSON object a line: {"id", "label", "texts": [...]} or "text"'))
                continue
            if case.id in seen:
                problems.append(SpecError(where, f"case id {case.id!r} again (first at {seen[case.id]})",
                                          "give every case its own id"))
                continue
            seen[case.id] = where
            cases.append(case)
    if problems:
        raise SpecErrors(problems)
    return cases


def _case(raw: Any) -> Case:
    if not isinstance(raw, dict):
        raise TypeError("expected a JSON object")
    case_id = str(raw["id"])
    policy = str(raw.get("policy", "prompt"))
    if policy not in ("prompt", "output"):
        raise ValueError(f"policy {policy!r} (expected prompt or output)")
    if "texts" in raw:
        texts = [dict(t) for t in raw["texts"]]
    else:
        texts = [{"field": "text", "role": "user", "text": str(raw["text"])}]
    if policy == "output":
        texts = [{"field": t["field"], "text": t["text"]} for t in texts]
    document = {"endpoint": "chat", "model": str(raw.get("model", "chat-default")), "texts": texts}
    return Case(case_id, str(raw["label"]), str(raw.get("source", "")), str(raw.get("family", "")),
                str(raw.get("split") or split_of(case_id)), policy, document)


@dataclass(frozen=True)
class Compiled:
    """A bundle loaded by PolicyStore, every policy in enforce, and each policy's block_at."""

    store: Any
    block_at: Mapping[str, str]


def compiled_store(root: Path, env_name: str) -> Compiled:
    """The policies of an environment compiled in memory from root's specs/ and rego/ by this
    gatewayctl."""
    from compiler.emit.opa_bundle import bundle_files
    from compiler.load import load_specs
    from compiler.plan import build_plan
    from compiler.validate import validate

    plan = build_plan(validate(load_specs(root), check_lock=False))
    env = next((e for e in plan.environments if e.name == env_name), None)
    if env is None:
        known = ", ".join(e.name for e in plan.environments)
        raise ValueError(f"unknown environment {env_name!r} (known: {known})")
    return _load(bundle_files(env))


def compiled_at(root: Path, ref: str, env_name: str) -> Compiled:
    """The policies of an environment as the gatewayctl of git revision ref compiles them from
    that revision's specs/ and rego/ (see bundle_files_at)."""
    return _load(bundle_files_at(root, ref, env_name))


def bundle_files_at(root: Path, ref: str, env_name: str) -> dict[str, bytes]:
    """The bundle files (modules, data.json, .manifest) of an environment as the gatewayctl of git
    revision ref compiles them: git archive of compiler/, specs/ and rego/ into a temporary
    directory, then that revision's `python -m compiler compile`."""
    import os
    import sys

    from compiler.emit.opa_bundle import BUNDLE_PATH
    from compiler.policy_tests import opa_binary
    from runtime.policy._bundle import read_bundle

    # The base tree has no .tools/: its compile uses this checkout's OPA CLI for policy.wasm.
    opa = opa_binary()
    env = {**os.environ, "OPA_BINARY": opa} if opa else dict(os.environ)

    with tempfile.TemporaryDirectory(prefix="gatewayctl-base-") as tmp:
        tree = checkout(root, ref, Path(tmp, "tree"))
        out = Path(tmp, "out")
        proc = subprocess.run([sys.executable, "-m", "compiler", "-C", str(tree), "compile", "--env", env_name,
                               "--out", str(out)], capture_output=True, text=True, check=False, cwd=tree, env=env)
        if proc.returncode != 0:
            detail = " ".join((proc.stderr or proc.stdout).split())[-400:]
            raise SpecErrors([SpecError(Position(ref), f"the policies at {ref} do not compile: {detail}",
                                        "pick a base revision whose specs compile (`git log` -- specs rego)")])
        bundle = read_bundle(out / env_name / BUNDLE_PATH)
        files = {path: text.encode("utf-8") for path, text in bundle.modules.items()}
        files["data.json"] = json.dumps(bundle.data).encode()
        files[".manifest"] = json.dumps(bundle.manifest).encode()
        if bundle.wasm is not None:  # the manifest names it
            files["policy.wasm"] = bundle.wasm
        return files


def _load(files: Mapping[str, bytes]) -> Compiled:
    from compiler.emit.opa_bundle import seal
    from runtime.policy import PolicyStore

    data = json.loads(files["data.json"])
    for config in data["gateway"]["config"].values():
        config["mode"] = "enforce"
    block_at = {name: str(c.get("block_at", "low")) for name, c in data["gateway"]["config"].items()}
    # The modes changed, so the manifest's digests are written again: the store loads only a
    # bundle whose files match them.
    sealed = seal({**files, "data.json": json.dumps(data).encode()})
    with tempfile.TemporaryDirectory(prefix="gatewayctl-bundle-") as tmp:
        for path, content in sealed.items():
            target = Path(tmp, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return Compiled(PolicyStore(tmp), block_at)  # read now; the directory may go


_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def replay(compiled: Compiled, cases: Iterable[Case]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        decision = compiled.store.evaluate(case.policy, case.input)
        floor = _RANK[compiled.block_at.get(case.policy, "low")]
        rules = tuple(sorted({v["rule"] for v in decision["violations"]}))
        blocking = tuple(sorted({v["rule"] for v in decision["violations"]
                                 if _RANK.get(v["severity"], 4) >= floor}))
        outcomes.append(Outcome(case, not decision["allow"], rules, blocking))
    return outcomes


# --- the report ------------------------------------------------------------------------------

@dataclass
class _Tally:
    cases: int = 0
    blocked: int = 0
    any_rule: int = 0
    blocked_ids: list[str] = field(default_factory=list)
    reported_ids: list[str] = field(default_factory=list)  # a violation, but not blocked

    def add(self, o: Outcome) -> None:
        self.cases += 1
        if o.blocked:
            self.blocked += 1
            self.blocked_ids.append(o.case.id)
        if o.rules:
            self.any_rule += 1
            if not o.blocked:
                self.reported_ids.append(o.case.id)

    def as_dict(self, ids: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"cases": self.cases, "blocked": self.blocked, "any_rule": self.any_rule,
                               "blocked_pct": _pct(self.blocked, self.cases),
                               "any_rule_pct": _pct(self.any_rule, self.cases)}
        if ids:
            out["blocked_ids"] = sorted(self.blocked_ids)
            out["reported_only_ids"] = sorted(self.reported_ids)
        return out


def _pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 2) if d else 0.0


def report(outcomes: Sequence[Outcome], *, show_texts: bool = False) -> dict[str, Any]:
    """Per label and split, per label/split/source, and per rule: how many cases were blocked and
    how many had any violation, with their ids. For attacks and PII a block is a catch, for
    benign cases a mistake."""
    by_label: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    by_source: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    by_rule: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        for split in (o.case.split, "all"):
            by_label[o.case.label, split].add(o)
            by_source[o.case.label, split, o.case.source].add(o)
        for rule in o.rules:
            kind = "blocking" if rule in o.blocking else "reported"
            by_rule[rule][f"{o.case.label}_{kind}"].append(o.case.id)
    out: dict[str, Any] = {
        "labels": {f"{label}/{split}": t.as_dict(ids=False) for (label, split), t in sorted(by_label.items())},
        "sources": {f"{label}/{split}/{source}": t.as_dict(ids=False)
                    for (label, split, source), t in sorted(by_source.items())},
        "rules": {rule: {k: sorted(v) for k, v in sorted(kinds.items())} for rule, kinds in sorted(by_rule.items())},
        "cases": {o.case.id: {"label": o.case.label, "split": o.case.split, "source": o.case.source,
                              "blocked": o.blocked, "rules": list(o.rules)}
                  | ({"texts": [t["text"] for t in o.case.input["texts"]]} if show_texts else {})
                  for o in sorted(outcomes, key=lambda o: o.case.id)},
    }
    return out


def render_report(rep: Mapping[str, Any], *, show_texts: bool = False, max_ids: int = 8) -> str:
    lines = ["| label/split | cases | blocked | blocked % | any rule | any rule % |", "|---|---:|---:|---:|---:|---:|"]
    for key, t in rep["labels"].items():
        lines.append(f"| {key} | {t['cases']} | {t['blocked']} | {t['blocked_pct']:.1f} | {t['any_rule']} "
                     f"| {t['any_rule_pct']:.1f} |")
    lines += ["", "| label/split/source | cases | blocked | blocked % | any rule % |", "|---|---:|---:|---:|---:|"]
    for key, t in rep["sources"].items():
        if key.split("/")[1] != "all":
            lines.append(f"| {key} | {t['cases']} | {t['blocked']} | {t['blocked_pct']:.1f} "
                         f"| {t['any_rule_pct']:.1f} |")
    lines += ["", "per rule (cases; a benign case is flagged by mistake):"]
    for rule, kinds in rep["rules"].items():
        counts = ", ".join(f"{k} {len(v)}" for k, v in kinds.items())
        lines.append(f"- {rule}: {counts}")
        for kind, ids in kinds.items():
            if kind.startswith("benign"):
                more = f" (+{len(ids) - max_ids} more)" if len(ids) > max_ids else ""
                lines.append(f"    {kind}: {', '.join(ids[:max_ids])}{more}")
    if show_texts:
        lines += ["", "benign cases with a violation:"]
        for case_id, c in rep["cases"].items():
            if c["label"] == "benign" and c["rules"]:
                shown = json.dumps(" | ".join(c["texts"])[:300], ensure_ascii=False)
                lines.append(f"- {case_id} {c['rules']}: {shown}")
    return "\n".join(lines) + "\n"


# --- the diff --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    case: Case
    kind: str  # "newly blocked" | "newly allowed" | "rules changed"
    before: tuple[str, ...]
    after: tuple[str, ...]


def changes(base: Sequence[Outcome], head: Sequence[Outcome]) -> list[Change]:
    """Every case whose decision differs: blocked now and not before (or the other way), or the
    same verdict with other rules."""
    before = {o.case.id: o for o in base}
    out = []
    for o in head:
        b = before[o.case.id]
        if o.blocked and not b.blocked:
            out.append(Change(o.case, "newly blocked", b.rules, o.rules))
        elif b.blocked and not o.blocked:
            out.append(Change(o.case, "newly allowed", b.rules, o.rules))
        elif b.rules != o.rules:
            out.append(Change(o.case, "rules changed", b.rules, o.rules))
    return out


_GOOD = {("attack", "newly blocked"), ("pii", "newly blocked"), ("benign", "newly allowed")}


def _summary(found: Sequence[Change]) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], Counter[str]]]:
    by_label: Counter[tuple[str, str]] = Counter((c.case.label, c.kind) for c in found)
    by_rule: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in found:
        for rule in sorted(set(c.after) - set(c.before)):
            by_rule[c.case.label, "rule added"][rule] += 1
        for rule in sorted(set(c.before) - set(c.after)):
            by_rule[c.case.label, "rule gone"][rule] += 1
    return by_label, by_rule


def render_diff(found: Sequence[Change], base: str, total: int, max_ids: int = 10) -> str:
    if not found:
        return f"no decision changes against {base} ({total} cases)\n"
    by_label, by_rule = _summary(found)
    lines = [f"{len(found)} of {total} decisions change against {base}:"]
    for (label, kind), n in sorted(by_label.items()):
        verdict = "better" if (label, kind) in _GOOD else "worse" if kind != "rules changed" else "same verdict"
        ids = [c.case.id for c in found if (c.case.label, c.kind) == (label, kind)]
        more = f" (+{len(ids) - max_ids} more)" if len(ids) > max_ids else ""
        lines.append(f"  {label}: {kind}: {n} ({verdict}): {', '.join(ids[:max_ids])}{more}")
    lines.append("by rule:")
    for (label, what), rules in sorted(by_rule.items()):
        lines.append(f"  {label}, {what}: " + ", ".join(f"{r} {n}" for r, n in rules.most_common()))
    return "\n".join(lines) + "\n"


def render_diff_markdown(found: Sequence[Change], base: str, total: int, max_ids: int = 20) -> str:
    if not found:
        return f"### Policy impact\n\nNo decision changes against `{base}` ({total} corpus cases).\n"
    by_label, by_rule = _summary(found)
    lines = ["### Policy impact", "", f"{len(found)} of {total} corpus decisions change against `{base}`.", "",
             "| label | change | cases | reading |", "|---|---|---:|---|"]
    for (label, kind), n in sorted(by_label.items()):
        verdict = "better" if (label, kind) in _GOOD else "worse" if kind != "rules changed" else "same verdict"
        lines.append(f"| {label} | {kind} | {n} | {verdict} |")
    lines += ["", "| label | rule | added | gone |", "|---|---|---:|---:|"]
    rules = sorted({(label, r) for (label, _), c in by_rule.items() for r in c})
    for label, rule in rules:
        added, gone = by_rule[label, "rule added"][rule], by_rule[label, "rule gone"][rule]
        lines.append(f"| {label} | `{rule}` | {added} | {gone} |")
    lines += ["", "<details><summary>cases</summary>", ""]
    for (label, kind), _ in sorted(by_label.items()):
        ids = [c for c in found if (c.case.label, c.kind) == (label, kind)]
        shown = ", ".join(f"`{c.case.id}`" for c in ids[:max_ids])
        more = f" and {len(ids) - max_ids} more" if len(ids) > max_ids else ""
        lines.append(f"- **{label}, {kind}**: {shown}{more}")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


# --- the base revision -----------------------------------------------------------------------

def checkout(root: Path, ref: str, target: Path) -> Path:
    """compiler/, specs/ and rego/ of root's git revision ref, extracted into target."""
    proc = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref, "--", "compiler", "specs", "rego"],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        message = " ".join(proc.stderr.decode("utf-8", "replace").split()) or "git archive failed"
        raise SpecErrors([SpecError(Position(f"{ref}"), f"cannot read specs/ and rego/ at {ref}: {message}",
                                    "pass a commit, branch or tag of this repository with --base")])
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=_bytes_io(proc.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)

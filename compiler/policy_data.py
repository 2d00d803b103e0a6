"""What the Rego policies read: a policy's spec turned into its part of data.json.

The compiler does here the work that would otherwise run on every request, and shapes the
patterns for OPA's regex engine (Go's regexp), which is fast only for a pattern that starts with
a literal (it then jumps from one occurrence of the literal to the next) and otherwise tries every
position of the text (see rego/lib/detect.rego):

- PII matchers on the digits view that start with "0" (numbers, and secrets whose marks read
  with a 0 there) become one pattern (Go factors the common "0" out of the alternatives, so it
  still starts with a literal), with each kind's own anchored pattern to tell which kind matched;
- matchers with a gate run only where it occurs (a plain substring search);
- jailbreak phrases become one pattern on the lower-cased text in which the first letter of each
  word a phrase can start with is marked, so it starts with the mark.

Pure functions of plain data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from compiler.model.policies import OutputPolicy, Policies, PromptPolicy, builtin_matchers

__all__ = ["MAX_FILLERS", "SEPARATOR", "config", "jailbreak_scans", "pii_rule", "pii_scans", "spec_data"]

# What may stand between two words of a phrase: anything that is not a letter or a digit
# (spaces, line breaks, punctuation, emoji), at least one of them.
SEPARATOR = r"[^\pL\pN]+"
# At most this many filler words ("all", "the", "your", …) between two words of a phrase.
MAX_FILLERS = 3


def spec_data(policy: PromptPolicy | OutputPolicy, policies: Policies) -> dict[str, Any]:
    """The policy's spec as plain data (the plan's PolicyPlan.data), with the matchers of each PII
    kind it detects resolved: the spec's pii_patterns, else the built-in ones."""
    data = policy.model_dump(mode="json", exclude={"version", "mode"})
    data["pii_patterns"] = {
        kind: [m.model_dump(mode="json") for m in policies.pii_patterns.get(kind) or builtin_matchers(kind)]
        for kind in policy.pii
    }
    return data


def config(data: Mapping[str, Any]) -> dict[str, Any]:
    """data.gateway.config.<policy> for one policy, but its mode (the environment's rollout,
    added by the bundle emitter): spec data in, what the Rego reads out."""
    out: dict[str, Any] = {
        "pii": pii_scans([(pii_rule(kind), m) for kind in data.get("pii", []) for m in data["pii_patterns"][kind]]),
    }
    if "jailbreak" in data:
        jb = data["jailbreak"]
        fillers = jb.get("fillers", [])
        out["jailbreak"] = jailbreak_scans(
            {f"jailbreak_{category}": phrases for category, phrases in sorted(jb.items())
             if category != "fillers" and phrases},
            fillers,
        )
    if "token_budget" in data:
        tb = data["token_budget"]
        out["token_budget"] = {
            "chars_per_token": tb.get("chars_per_token", 4),
            "default": {"max_input_tokens": tb["max_input_tokens"], "max_output_tokens": tb["max_output_tokens"]},
            "per_model": {
                model: {k: v for k, v in limits.items() if v is not None}
                for model, limits in sorted(tb.get("per_model", {}).items())
            },
        }
    if "action" in data:
        out["action"] = data["action"]
    if "unreadable" in data:
        out["unreadable"] = data["unreadable"]
    return out


def pii_rule(kind: str) -> str:
    """The Rego rule that reports a PII kind (rego/*_policy.rego, `_rules`)."""
    return "secret" if kind == "secret" else f"pii_{kind}"


def pii_scans(matchers: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """(kind, matcher) pairs → scans (see _scans)."""
    merged: list[tuple[str, Mapping[str, Any]]] = []
    scans: list[dict[str, Any]] = []
    for kind, m in matchers:
        if m["view"] == "digits" and not m["gate"] and not m["lead"] and m["pattern"].startswith("0"):
            merged.append((kind, m))
        else:
            scans.append(_scan(m["view"], m["pattern"], m["word_start"], [_kind(kind, m["check"])],
                               m["gate"], m["min_gates"], m["lead"]))
    if len(merged) == 1:
        kind, m = merged[0]
        scans.insert(0, _scan("digits", m["pattern"], m["word_start"], [_kind(kind, m["check"])]))
    elif merged:
        pattern = "|".join(f"(?:{m['pattern']})" for _, m in merged)
        kinds = [_kind(kind, m["check"], full=f"^(?:{m['pattern']})$") for kind, m in merged]
        scans.insert(0, _scan("digits", pattern, any(m["word_start"] for _, m in merged), kinds))
    out = _scans(scans)
    # The digits view: every digit 0, every mark's first character 0 (one replace_n call).
    out["digits"] = {str(d): "0" for d in range(1, 10)} | {
        mark: "0" + mark[1:] for _, m in matchers for mark in m.get("marks", [])
    }
    return out


def _scans(scans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shape rego/lib/detect.rego reads: the patterns to run, by view (the hot loop touches
    nothing but a string per scan), the gated ones apart, and what to do with a match, by pattern.
    {"by_view": {view: [pattern]}, "gated": [{"pattern", "view", "gate", "min_gates"}],
     "scans": {pattern: {"word_start", "lead", "kinds": [{"kind", "check", "full"}]}}}"""
    by_view: dict[str, list[str]] = {}
    gated: list[dict[str, Any]] = []
    meta: dict[str, dict[str, Any]] = {}
    for scan in scans:
        pattern = scan["pattern"]
        if pattern in meta:  # the same pattern for two kinds: one scan, both kinds
            meta[pattern]["kinds"] += scan["kinds"]
            continue
        meta[pattern] = {"word_start": scan["word_start"], "lead": scan["lead"], "kinds": list(scan["kinds"])}
        if scan["gate"]:
            gated.append({"pattern": pattern, "view": scan["view"], "gate": scan["gate"],
                          "min_gates": scan["min_gates"]})
        else:
            by_view.setdefault(scan["view"], []).append(pattern)
    return {"by_view": by_view, "gated": gated, "scans": meta}


def _scan(view: str, pattern: str, word_start: bool, kinds: list[dict[str, str]],
          gate: str | None = None, min_gates: int = 1, lead: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"view": view, "pattern": pattern, "word_start": word_start, "kinds": kinds,
            "gate": gate, "min_gates": min_gates, "lead": dict(lead) if lead else None}


def _kind(kind: str, check: str, full: str = "") -> dict[str, str]:
    return {"kind": kind, "check": check, "full": full}


# Marks the first letter of a phrase's first word in the "marked" view of the lower-cased text.
MARK = "\x01"


def jailbreak_scans(categories: Mapping[str, Sequence[str]], fillers: Iterable[str]) -> dict[str, Any]:
    """Phrases per category → one scan on the "marked" view: the lower-cased text in which the
    first letter of every word a phrase can start with is replaced by MARK (one replace_n call,
    same length). The pattern starts with MARK, so the regex engine jumps from one candidate
    word to the next; each category's own anchored pattern says which one matched."""
    if not any(categories.values()):
        return {"marks": {}, **_scans([])}
    marks = {word: MARK + word[1:] for phrases in categories.values() for p in phrases for word in _words(p)[0]}
    # Every word of a phrase is written as it reads in the marked view: "your" holds the mark
    # of "you" there ("\x01our"), and a pattern asking for "your" would never match.
    gap = _gap([_marked(f.lower(), marks) for f in sorted(set(fillers))])
    alternatives: dict[str, list[str]] = {}
    for category, phrases in categories.items():
        for phrase in phrases:
            first, *rest = _words(phrase)
            tail = "".join(gap + "(?:" + "|".join(_escape(_marked(a, marks)) for a in alts) + ")" for alts in rest)
            for word in first:
                alternatives.setdefault(category, []).append(_escape(_marked(word, marks)[1:]) + tail)
    body = {category: "(?:" + "|".join(alts) + ")" for category, alts in alternatives.items()}
    pattern = r"\x01(?:" + "|".join(body.values()) + r")\b"
    kinds = [_kind(category, "none", full=rf"^\x01{alts}$") for category, alts in body.items()]
    return {"marks": dict(sorted(marks.items())), **_scans([_scan("marked", pattern, True, kinds)])}


def _marked(word: str, marks: Mapping[str, str]) -> str:
    """word as OPA's strings.replace_n(marks, word) writes it: Go's strings.Replacer, keys tried in
    sorted order at each position, left to right, without overlaps."""
    keys = sorted(marks)
    out, i = [], 0
    while i < len(word):
        key = next((k for k in keys if word.startswith(k, i)), None)
        if key is None:
            out.append(word[i])
            i += 1
        else:
            out.append(marks[key])
            i += len(key)
    return "".join(out)


def _gap(fillers: Sequence[str]) -> str:
    if not fillers:
        return SEPARATOR
    return SEPARATOR + "(?:(?:" + "|".join(_escape(f) for f in fillers) + ")" + SEPARATOR + f"){{0,{MAX_FILLERS}}}"


def _words(phrase: str) -> list[list[str]]:
    return [word.split("|") for word in phrase.lower().split()]


def _escape(literal: str) -> str:
    # RE2 accepts Python's escapes for punctuation; letters of any script stay as they are.
    return re.escape(literal)

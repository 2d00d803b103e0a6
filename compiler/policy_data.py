"""What the Rego policies read: a policy's spec turned into its part of data.json.

The compiler does the work that would otherwise run on every request: jailbreak phrases become one
RE2 pattern per category (tolerant of case, punctuation, line breaks and a few filler words) plus
the literal words that gate it; PII kinds become their matchers. Pure functions of plain data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from compiler.model.policies import OutputPolicy, Policies, PromptPolicy, builtin_matchers

__all__ = ["SEPARATOR", "config", "jailbreak_detector", "phrase_pattern", "spec_data"]

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
        "pii": {kind: [dict(m) for m in data["pii_patterns"][kind]] for kind in data.get("pii", [])},
    }
    if "jailbreak" in data:
        jb = data["jailbreak"]
        fillers = jb.get("fillers", [])
        out["jailbreak"] = {
            category: jailbreak_detector(phrases, fillers)
            for category, phrases in sorted(jb.items())
            if category != "fillers" and phrases
        }
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
    return out


def jailbreak_detector(phrases: Sequence[str], fillers: Iterable[str]) -> dict[str, Any]:
    """One pattern for a category's phrases, run on the lower-cased text, and its gates: for each
    phrase the alternatives of its most selective word, one of which is in every match."""
    fillers = sorted({f.lower() for f in fillers})
    patterns = [phrase_pattern(p, fillers) for p in phrases]
    gates = sorted({g for p in phrases for g in _anchor(p)})
    return {"pattern": r"\b(?:" + "|".join(patterns) + r")\b", "view": "lower", "gates": gates, "min_gates": 1,
            "check": "none"}


def phrase_pattern(phrase: str, fillers: Sequence[str]) -> str:
    """`ignore|disregard previous instructions` → the RE2 pattern for it: each word one of its
    `|` alternatives, words separated by non-letters and up to MAX_FILLERS filler words."""
    gap = SEPARATOR
    if fillers:
        gap += "(?:(?:" + "|".join(_escape(f) for f in fillers) + ")" + SEPARATOR + f"){{0,{MAX_FILLERS}}}"
    return gap.join("(?:" + "|".join(_escape(a) for a in alts) + ")" for alts in _words(phrase))


def _words(phrase: str) -> list[list[str]]:
    return [word.split("|") for word in phrase.lower().split()]


def _anchor(phrase: str) -> list[str]:
    # The word whose shortest alternative is longest: the rarest literal to search for.
    return max(_words(phrase), key=lambda alts: min(len(a) for a in alts))


def _escape(literal: str) -> str:
    # RE2 accepts Python's escapes for punctuation; letters of any script stay as they are.
    return re.escape(literal)

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

import copy
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from compiler import replacement_passes
from compiler.model.policies import OutputPolicy, Policies, PromptPolicy, builtin_matchers

__all__ = ["DECODE", "DENSE", "FOLD_SMALL", "JUNCTION", "JUNCTION_GATE", "LEET", "LONG_RUN", "MAX_FILLERS",
           "PLAIN", "SEPARATOR", "SHAPE", "SPECIAL", "config", "fold_table", "jailbreak_scans", "pii_rule",
           "pii_scans", "shared_config", "spec_data", "unzeroed"]

# What may stand between two words of a phrase: anything that is not a letter or a digit
# (spaces, line breaks, punctuation, emoji), at least one of them.
SEPARATOR = r"[^\pL\pN]+"
# At most this many filler words ("all", "the", "your", …) between two words of a phrase.
MAX_FILLERS = 3


def spec_data(policy: PromptPolicy | OutputPolicy, policies: Policies) -> dict[str, Any]:
    """The policy's spec as plain data (the plan's PolicyPlan.data), with the matchers of each PII
    kind it detects resolved: the spec's pii_patterns, else the built-in ones."""
    data = policy.model_dump(mode="json", exclude={"version", "mode"})
    data["limits"] = policies.limits.model_dump(mode="json")
    data["pii_patterns"] = {
        kind: [m.model_dump(mode="json") for m in policies.pii_patterns.get(kind) or builtin_matchers(kind)]
        for kind in policy.pii
    }
    return data


def config(data: Mapping[str, Any]) -> dict[str, Any]:
    """data.gateway.config.<policy> for one policy, but its mode (the environment's rollout,
    added by the bundle emitter): spec data in, what the Rego reads out. Environments mostly share
    their policy data, and building the phrase scans is the costly part of `validate`: built once
    per distinct data, a fresh copy each call."""
    return copy.deepcopy(_config(_data_key(data)))


def shared_config(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """config(data) without the copy, for readers that change nothing (the lock's digests and the
    pattern check of `validate`): copying the fold table for each policy of each environment cost
    validate more than building it once."""
    return _config(_data_key(data))


def _data_key(data: Mapping[str, Any]) -> str:
    return json.dumps(_plain(data), sort_keys=True)


def _plain(value: Any) -> Any:
    """Frozen plan data (mappings, tuples) as JSON's dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=16)
def _config(data_json: str) -> dict[str, Any]:
    data = json.loads(data_json)
    out: dict[str, Any] = {
        "pii": pii_scans([(pii_rule(kind), m) for kind in data.get("pii", []) for m in data["pii_patterns"][kind]]),
        "block_at": data.get("block_at", "low"),
        "limits": dict(data.get("limits") or {"max_text_chars": 200_000, "max_matches": 200}),
        "fold": {"table": fold_table(), "plain": PLAIN, "special": SPECIAL, "small": FOLD_SMALL},
        # letters spaced out hide words, not numbers: only a policy with jailbreak phrases looks for them
        "decode": DECODE if "jailbreak" in data else {**DECODE, "runs": DECODE["runs"][:2]},
        "junction": {"window": JUNCTION, "gate": JUNCTION_GATE},
    }
    if "jailbreak" in data:
        jb = data["jailbreak"]
        fillers = jb.get("fillers", [])
        out["jailbreak"] = jailbreak_scans(
            {f"jailbreak_{category}": phrases for category, phrases in sorted(jb.items())
             if category != "fillers" and phrases},
            fillers,
        )
        out["jailbreak"]["leet"] = LEET
        out["jailbreak"]["dense"] = DENSE
    if "token_budget" in data:
        out["token_budget"] = _budgets(data["token_budget"])
    if "action" in data:
        out["action"] = data["action"]
    if "unreadable" in data:
        out["unreadable"] = data["unreadable"]
    return out


def _budgets(tb: Mapping[str, Any]) -> dict[str, Any]:
    """Token budgets with each model's limits filled in from the defaults when compiled, so the
    policy looks up one object per request instead of merging two."""
    per_token = tb.get("chars_per_token", 4)

    def limits(max_input: int, max_output: int) -> dict[str, int]:
        return {"max_input_tokens": max_input, "max_output_tokens": max_output}

    default = limits(tb["max_input_tokens"], tb["max_output_tokens"])
    return {
        "chars_per_token": per_token,
        "default": default,
        "per_model": {
            model: limits(m.get("max_input_tokens") or tb["max_input_tokens"],
                          m.get("max_output_tokens") or tb["max_output_tokens"])
            for model, m in sorted(tb.get("per_model", {}).items())
        },
    }


def pii_rule(kind: str) -> str:
    """The Rego rule that reports a PII kind (rego/*_policy.rego, `_rules`)."""
    return "secret" if kind == "secret" else f"pii_{kind}"


def pii_scans(matchers: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """(kind, matcher) pairs → scans (see _scans). A scan on the digits view finds that something is
    there cheaply; its locate pattern (the same pattern with each digit 0 read as [0-9], each mark
    as its first characters) then runs on the text to say where and what."""
    merged: list[tuple[str, Mapping[str, Any]]] = []
    scans: list[dict[str, Any]] = []
    for kind, m in matchers:
        if m["view"] == "digits" and not m["gate"] and not m["lead"] and m["pattern"].startswith("0"):
            merged.append((kind, m))
        else:
            scans.append(_scan(m["view"], m["pattern"], m["word_start"],
                               [_kind(kind, m["check"], context=m.get("context"))],
                               m["gate"], m["min_gates"], m["lead"], locate=_locate(m)))
    if merged:
        pattern = "|".join(f"(?:{m['pattern']})" for _, m in merged)
        kinds = [_kind(kind, m["check"], full=f"^(?:{_locate(m)})$", context=m.get("context")) for kind, m in merged]
        locate = "|".join(f"(?:{_locate(m)})" for _, m in merged)
        scans.insert(0, _scan("digits", pattern, any(m["word_start"] for _, m in merged), kinds, locate=locate))
    out = _scans(scans)
    # The digits view: every digit 0, every mark's first character 0 (replace_n passes).
    marks = sorted({mark for _, m in matchers for mark in m.get("marks", [])})
    table = {str(d): "0" for d in range(1, 10)} | {mark: "0" + mark[1:] for mark in marks}
    out["digits"] = replacement_passes.passes(table)
    # Longer than any value of the digits view (cards have at most 19 digits): such runs read as x.
    out["long_run"] = ["0" * LONG_RUN, "x" * LONG_RUN]
    # What a match on the digits view starts with, on the text: a digit or a mark.
    out["starts"] = "|".join(["[0-9]", *(re.escape(mark) for mark in marks)])
    # Values split over two texts are looked for with the scans of the digits view (not e-mail).
    out["junction_run"] = [r for r in out["run"] if r["view"] == "digits"]
    return out


def _locate(m: Mapping[str, Any]) -> str:
    """A matcher's pattern as it reads on the text itself."""
    if m["view"] != "digits":
        return str(m["pattern"])
    if m.get("marks"):
        firsts = "".join(sorted({re.escape(mark[0]) for mark in m["marks"]}))
        return f"[{firsts}]" + str(m["pattern"])[1:]
    return unzeroed(str(m["pattern"]))


def unzeroed(pattern: str) -> str:
    """A digits-view pattern for the text: every literal 0 (outside classes, braces and escapes)
    becomes [0-9]."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        elif c in "[{":
            close = "]" if c == "[" else "}"
            j = i + 1
            while j < len(pattern) and pattern[j] != close:
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i:j + 1])
            i = j + 1
        else:
            out.append("[0-9]" if c == "0" else c)
            i += 1
    return "".join(out)


def _scans(scans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shape rego/lib/detect.rego reads: the patterns to run and on which view (the hot loop
    touches nothing else), and what to do with a match, by pattern.
    {"run": [{"pattern", "view"}], "gated": [{"pattern", "view", "gate", "min_gates"}],
     "scans": {pattern: {"word_start", "lead", "kinds": [{"kind", "check", "full"}], "locate", "locate_view",
                         "bounded"}}}"""
    run: list[dict[str, Any]] = []
    gated: list[dict[str, Any]] = []
    meta: dict[str, dict[str, Any]] = {}
    for scan in scans:
        pattern = scan["pattern"]
        if pattern in meta:  # the same pattern for two kinds: one scan, both kinds
            meta[pattern]["kinds"] += scan["kinds"]
            continue
        locate = scan["locate"] or pattern
        # A digits-view scan that must not start inside a word is located on the text with the
        # boundary in the pattern (rego/lib/detect.rego, _bounded_positions): the value is group 2.
        bounded = scan["view"] == "digits" and scan["word_start"] and scan["locate_view"] == "text"
        if bounded:
            locate = f"(^|[^0-9A-Za-z_])({locate})"
        meta[pattern] = {"word_start": scan["word_start"], "lead": scan["lead"], "kinds": list(scan["kinds"]),
                         "locate": locate, "locate_view": scan["locate_view"], "bounded": bounded}
        if scan["gate"]:
            gated.append({"pattern": pattern, "view": scan["view"], "gate": scan["gate"],
                          "min_gates": scan["min_gates"]})
        else:
            run.append({"pattern": pattern, "view": scan["view"]})
    return {"run": run, "gated": gated, "scans": meta}


def _scan(view: str, pattern: str, word_start: bool, kinds: list[dict[str, Any]],
          gate: str | None = None, min_gates: int = 1, lead: Mapping[str, Any] | None = None,
          locate: str | None = None, locate_view: str = "text") -> dict[str, Any]:
    return {"view": view, "pattern": pattern, "word_start": word_start, "kinds": kinds,
            "gate": gate, "min_gates": min_gates, "lead": dict(lead) if lead else None,
            "locate": locate, "locate_view": locate_view}


def _kind(kind: str, check: str, full: str = "", context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": kind, "check": check, "full": full, "context": dict(context) if context else None}


# A run of this many digits in the digits view is no value (the longest, a card, has 19 digits and
# separators of at most two characters between groups of at least four) and is read as "x"s.
LONG_RUN = 24

# Text with more marked words than min_words, one every chars_per_word characters or closer, is not
# scanned for phrases (rego/prompt_policy.rego, _dense): prose has one every 20 to 80 characters.
DENSE = {"min_words": 2000, "chars_per_word": 24}

# Marks the first letter of a phrase's first word in the "marked" view of the lower-cased text.
MARK = "\x01"


def jailbreak_scans(categories: Mapping[str, Sequence[str]], fillers: Iterable[str]) -> dict[str, Any]:
    """Phrases per category → one scan on the "marked" view: the lower-cased text in which the
    first letter of every word a phrase can start with is replaced by MARK (one replace_n call,
    same length). The pattern starts with MARK, so the regex engine jumps from one candidate
    word to the next; each category's own anchored pattern says which one matched."""
    if not any(categories.values()):
        return {"marks": replacement_passes.passes({}), **_scans([])}
    # A word that starts with another marked word is marked by that one ("you" marks "your"): only
    # the shortest are keys, which OPA sorts on every call.
    firsts = sorted({_stem(word) for phrases in categories.values() for p in phrases for word in _words(p)[0]})
    marks = replacement_passes.passes(
        {w: MARK + w[1:] for w in firsts if not any(w != o and w.startswith(o) for o in firsts)})
    # Every word of a phrase is written as it reads in the marked view: "your" holds the mark
    # of "you" there ("\x01our"), and a pattern asking for "your" would never match.
    gap = _gap([_marked(f.lower(), marks) for f in sorted(set(fillers))])
    alternatives: dict[str, list[str]] = {}
    for category, phrases in categories.items():
        for phrase in phrases:
            alternatives.setdefault(category, []).extend(_phrase_alternatives(phrase, marks, gap))
    body = {category: "(?:" + "|".join(alts) + ")" for category, alts in alternatives.items()}
    # All alternatives in one sorted list: RE2 then factors their common beginnings into a tree
    # (it merges neighbouring alternatives only), so a mark that starts no phrase fails after a
    # character or two instead of trying every phrase.
    pattern = r"\x01(?:" + "|".join(sorted({a for alts in alternatives.values() for a in alts})) + ")"
    kinds = [_kind(category, "none", full=rf"^\x01{alts}$") for category, alts in body.items()]
    return {"marks": marks,
            **_scans([_scan("marked", pattern, True, kinds, locate=pattern, locate_view="marked")])}


# A word of the marked view, for the words of a "~N" gap: letters, digits and marks.
_ANY_WORD = r"[\pL\pN\x01]+"


def _phrase_alternatives(phrase: str, marks: Sequence[Mapping[str, str]], gap: str) -> list[str]:
    """The regex of a phrase after its first word's mark, one per alternative of the first word."""
    groups: list[str] = []
    extra = 0  # words a "~N" lets stand before the next word
    words = _words(phrase)
    for n, alts in enumerate(words):
        if len(alts) == 1 and re.fullmatch(r"~[1-9]", alts[0]):
            extra += int(alts[0][1:])
            continue
        last = n == len(words) - 1
        rendered = [_word_regex(a, marks, last) for a in alts]
        if not groups:
            first = rendered
            groups.append("")
            continue
        lead = gap if not extra else f"(?:{SEPARATOR}{_ANY_WORD}){{0,{extra}}}" + gap
        extra = 0
        groups.append(lead + "(?:" + "|".join(rendered) + ")")
    tail = "".join(groups[1:])
    return [_drop_mark(f) + tail for f in first]


def _word_regex(word: str, marks: Sequence[Mapping[str, str]], last: bool) -> str:
    stem = _stem(word)
    regex = _escape(_marked(stem, marks))
    if word.endswith("*") and len(word) > 1:
        return regex + r"[\pL\pN\x01]*"
    return regex + (r"\b" if last and stem[-1:].isalnum() else "")


def _drop_mark(regex: str) -> str:
    """A first word's regex without its leading mark (the scan's pattern starts with it)."""
    return regex.removeprefix(_escape(MARK)).removeprefix(MARK)


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("*") and len(word) > 1 else word


def _marked(word: str, marks: Sequence[Mapping[str, str]]) -> str:
    """word as detect.replaced(marks, word) writes it (compiler/replacement_passes.py)."""
    return replacement_passes.apply(marks, word)


def _gap(fillers: Sequence[str]) -> str:
    if not fillers:
        return SEPARATOR
    return SEPARATOR + "(?:(?:" + "|".join(_escape(f) for f in fillers) + ")" + SEPARATOR + f"){{0,{MAX_FILLERS}}}"


def _words(phrase: str) -> list[list[str]]:
    return [word.split("|") for word in phrase.lower().split()]


# Leetspeak, folded in the jailbreak view (after lower-casing, before marking): "1gn0r3" → "ignore".
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}

# Values split over two texts: the last and first characters of two neighbouring texts read together,
# where the digits view has a "0" (a digit, or a secret's first character) at most that far before
# a separator. The gate asks for the last "0" before the separator, so a text of digits costs one
# regex step per digit, not one per digit and window position.
JUNCTION = 24
JUNCTION_GATE = f"0[^\\x{{1e}}0]{{0,{JUNCTION - 1}}}\\x{{1e}}"

# Runs that may hide text, decoded and scanned again (rego/lib/detect.rego, encoded_runs): base64 of
# 20+ characters (12+ with padding), \x-escaped or %-encoded bytes, letters spaced out ("i g n o r e").
# Each kind of run is looked for first on the "shape" of the text: the lower-cased digits view (every
# digit is "0" there already) in which every base64 character is "a" and "\\" is "%" (a replace_n of
# single characters, same length; OPA's costs one pass per key that occurs, hence the digits view).
# There each kind's `gate` starts with a literal, so on ordinary prose (no such run) the regex
# engine jumps from one occurrence of the literal to the next, where the runs' own patterns would
# try every position. Only a kind whose gate matches runs its `locate` pattern, on the view it
# names: the shape (base64 and hex, exactly what the shape says) or the text.
SHAPE = {c: "a" for c in "bcdefghijklmnopqrstuvwxyz0+/"} | {"\\": "%"}
DECODE: dict[str, Any] = {
    "shape": dict(sorted(SHAPE.items())),
    # at most this many runs per request, each decoded from this many characters at most (a
    # multiple of 4, so base64 cut there still decodes)
    "max_runs": 8,
    "max_run_chars": 4096,
    "runs": [
        {"gate": "a{11}(?:a*={1,2}|a{9,})", "view": "shape", "locate": "a{11}(?:a*={1,2}|a{9,})"},
        # %-encoded and \x-escaped bytes both read "%aa" in the shape
        {"gate": "(?:%aa[^% ]{0,2}){4}", "view": "text",
         "locate": r"(?:\\x[0-9A-Fa-f]{2}){4,}|(?:%[0-9A-Fa-f]{2}[^%\s]{0,2}){4,}"},
        # six letters spaced out: the last five are each one letter after a space
        {"gate": " a {1,3}a {1,3}a {1,3}a {1,3}a", "view": "text", "locate": r"(?:\b[A-Za-z] {1,3}){5,}[A-Za-z]\b"},
    ],
}

# What the fold leaves as it is: printable ASCII, tab, line feed, carriage return and the field
# separator (a cutset for trim: a text made of them only trims to nothing, and skips the table),
# and a pattern for any other character.
PLAIN = "\t\n\r\x1e" + "".join(chr(c) for c in range(0x20, 0x7F))
SPECIAL = r"[^\t\n\r\x1e -~]"
# A text with at most this many other characters folds with a table of just those (OPA sorts the
# keys of a replace_n table on every call: the whole table costs ~0.2 ms); more, and the whole
# table is used.
FOLD_SMALL = 48


@cache
def fold_table() -> dict[str, str]:
    """What the policies fold before every scan, one code point for one (so offsets need no map),
    or for "\x03", deleted (its offset is mapped back): compatibility forms (NFKC: fullwidth,
    mathematical letters and digits, superscripts) to ASCII, every script's decimal digits to
    0-9, dashes to "-", spaces to " ", Cyrillic and Greek look-alikes to Latin letters, and
    invisible characters (zero-width, bidi controls, soft hyphen, tags, control characters) to
    deletion. Limited to the Basic Multilingual Plane, the mathematical alphanumerics and the tag
    characters, whose mappings do not change between Unicode versions (the table is the same
    whatever Python compiles it). NFKC's expansions (ligatures: "ﬁ" → "fi") are out of reach of
    a same-length table and left as they are."""
    table: dict[str, str] = {}
    code_points = [*range(0x80, 0x10000), *range(0x1D400, 0x1D800), *range(0xE0000, 0xE0080)]
    for cp in code_points:
        c = chr(cp)
        category = unicodedata.category(c)
        if category == "Nd":
            table[c] = str(unicodedata.digit(c))
        elif category == "Cf" or cp in _INVISIBLE:
            table[c] = "\x03"
        elif category == "Pd" or cp in (0x2212, 0x2043):
            table[c] = "-"
        elif category == "Zs":
            table[c] = " "
        elif c in _HOMOGLYPHS:
            table[c] = _HOMOGLYPHS[c]
        else:
            folded = unicodedata.normalize("NFKC", c)
            if len(folded) == 1 and " " < folded < "\x7f" and folded != c:
                table[c] = folded
    for cp in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x1E), 0x1F, 0x7F):
        table[chr(cp)] = "\x03"  # control characters but tab, line feed, return and the field separator
    return dict(sorted(table.items()))


# Combining grapheme joiner, Hangul fillers, variation selectors: invisible, not category Cf.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10)}

# Cyrillic and Greek letters that read as Latin ones (Unicode's confusables, the common part).
_HOMOGLYPHS = dict(zip(
    "АВЕКМНОРСТХУаеорсухіјѕԁԛԝһӏІЈЅԜΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοριτυνκχ\u2018\u2019\u201c\u201d",
    "ABEKMHOPCTXYaeopcyxijsdqwhlIJSWABEZHIKMNOPTYXaopitvvkx''\"\"", strict=True))


def _escape(literal: str) -> str:
    # RE2 accepts Python's escapes for punctuation; letters of any script stay as they are.
    return re.escape(literal)

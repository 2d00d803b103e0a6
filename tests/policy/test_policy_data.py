"""What the compiler precomputes for the Rego (compiler/policy_data.py), checked against OPA
itself: the marked view it predicts is the one OPA's strings.replace_n writes, and every pattern
it writes compiles in OPA's regex engine and starts with the literal it is meant to."""

from __future__ import annotations

import json

from policy_helpers import REPO, files

from compiler.load import load_specs
from compiler.model.detectors import JAILBREAK_FILLERS, JAILBREAK_PHRASES
from compiler.policy_data import _marked, _words, jailbreak_scans
from compiler.rego_check import opa_engine


def _config() -> dict:
    return json.loads(files("prod")["data.json"])["gateway"]["config"]


def test_marked_words_are_what_opa_writes() -> None:
    marks = jailbreak_scans({f"jailbreak_{k}": v for k, v in JAILBREAK_PHRASES.items()}, JAILBREAK_FILLERS)["marks"]
    words = sorted({w for phrases in JAILBREAK_PHRASES.values() for p in phrases for alts in _words(p) for w in alts}
                   | set(JAILBREAK_FILLERS) | {"undo", "your", "actingact", "dancer", "youyou"})
    engine = opa_engine()
    try:
        opa = engine.eval_query("out := [strings.replace_n(input.marks, w) | some w in input.words]",
                                {"marks": marks, "words": words})[0]["out"]
    finally:
        engine.close()
    assert opa == [_marked(w, marks) for w in words]


def test_every_scan_pattern_compiles_in_opa() -> None:
    config = _config()
    patterns = [p for policy in config.values() for section in ("pii", "jailbreak") if section in policy
                for p in policy[section]["scans"]]
    engine = opa_engine()
    try:
        bad = engine.eval_query("bad := [p | some p in input.p; not regex.is_valid(p)]", {"p": patterns})[0]["bad"]
    finally:
        engine.close()
    assert patterns and bad == []


def test_digit_patterns_and_marked_secrets_are_one_scan_starting_with_0() -> None:
    pii = _config()["prompt"]["pii"]
    digits = pii["by_view"]["digits"]
    assert digits[0].startswith("(?:0") and all(p.startswith("(?:0") for p in digits[0].split("|(?:")[:1])
    kinds = {k["kind"] for k in pii["scans"][digits[0]]["kinds"]}
    assert kinds == {"pii_phone", "pii_ssn", "pii_credit_card", "pii_ip_address", "secret"}
    assert pii["digits"]["AKIA"] == "0KIA" and pii["digits"]["7"] == "0"


def test_the_jailbreak_scan_starts_with_the_mark() -> None:
    jailbreak = _config()["prompt"]["jailbreak"]
    assert list(jailbreak["by_view"]) == ["marked"]
    (pattern,) = jailbreak["by_view"]["marked"]
    assert pattern.startswith("\\x01(?:")
    # one kind per phrase family of specs/policies.yaml
    families = load_specs(REPO).document["policies"]["prompt"]["jailbreak"]
    expected = {f"jailbreak_{name}" for name, phrases in families.items() if isinstance(phrases, list) and phrases
                and name != "fillers"}
    assert {k["kind"] for k in jailbreak["scans"][pattern]["kinds"]} == expected


def test_only_patterns_without_a_literal_start_are_gated() -> None:
    gated = _config()["prompt"]["pii"]["gated"]
    assert [(g["gate"], g["min_gates"]) for g in gated] == [("@", 1)]

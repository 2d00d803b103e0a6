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
    patterns += [g for policy in config.values() for run in policy["decode"]["runs"]
                 for g in (run["gate"], run["locate"])]
    patterns += [policy["fold"]["special"] for policy in config.values()]
    patterns += [policy["junction"]["gate"] for policy in config.values()]
    engine = opa_engine()
    try:
        bad = engine.eval_query("bad := [p | some p in input.p; not regex.is_valid(p)]", {"p": patterns})[0]["bad"]
    finally:
        engine.close()
    assert patterns and bad == []


def test_digit_patterns_and_marked_secrets_are_one_scan_starting_with_0() -> None:
    pii = _config()["prompt"]["pii"]
    digits = [r["pattern"] for r in pii["run"] if r["view"] == "digits" and r["pattern"].startswith("(?:0")]
    assert len(digits) == 1
    kinds = {k["kind"] for k in pii["scans"][digits[0]]["kinds"]}
    assert kinds == {"pii_phone", "pii_ssn", "pii_credit_card", "pii_ip_address", "secret"}
    assert pii["digits"]["AKIA"] == "0KIA" and pii["digits"]["7"] == "0"


def test_every_ungated_scan_starts_with_a_literal() -> None:
    """What makes a scan cheap on text where it finds nothing: the regex engine jumps from one
    occurrence of the literal to the next (IPv6 starts at a colon, the digits view at 0)."""
    config = _config()
    patterns = [r["pattern"] for policy in config.values() for section in ("pii", "jailbreak") if section in policy
                for r in policy[section]["run"]]
    literal_starts = ("(?:0", "\\(0", "\\+0", ":(?:", "\\x01(?:")
    assert patterns and [p[:12] for p in patterns if not p.startswith(literal_starts)] == []
    gates = {run["gate"][:3] for policy in config.values() for run in policy["decode"]["runs"]}
    assert gates == {"a{1", "(?:", " a "}


def test_the_jailbreak_scan_starts_with_the_mark() -> None:
    jailbreak = _config()["prompt"]["jailbreak"]
    assert [r["view"] for r in jailbreak["run"]] == ["marked"] and jailbreak["gated"] == []
    pattern = jailbreak["run"][0]["pattern"]
    assert pattern.startswith("\\x01(?:")
    # one kind per phrase family of specs/policies.yaml
    families = load_specs(REPO).document["policies"]["prompt"]["jailbreak"]
    expected = {f"jailbreak_{name}" for name, phrases in families.items() if isinstance(phrases, list) and phrases
                and name != "fillers"}
    assert {k["kind"] for k in jailbreak["scans"][pattern]["kinds"]} == expected


def test_marks_are_prefix_free() -> None:
    """A word that starts with a marked word is marked by it (OPA tries the keys in sorted order):
    only the shortest are keys, since each key costs a pass over the text."""
    marks = sorted(_config()["prompt"]["jailbreak"]["marks"])
    assert not [(a, b) for a in marks for b in marks if a != b and b.startswith(a)]


def test_only_patterns_without_a_literal_start_are_gated() -> None:
    gated = _config()["prompt"]["pii"]["gated"]
    assert [(g["gate"], g["min_gates"]) for g in gated] == [("@", 1)]

"""What the compiler precomputes for the Rego (compiler/policy_data.py), checked against OPA
itself: the marked view it predicts is the one OPA's strings.replace_n writes (whichever engine:
the tables are split into passes the Go engine and the WebAssembly module apply alike), and every
pattern it writes compiles in OPA's regex engine and starts with the literal it is meant to."""

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
        engine.add_policy("detect.rego", (REPO / "rego" / "lib" / "detect.rego").read_text(encoding="utf-8"))
        opa = engine.eval_query("out := [data.gateway.lib.detect.replaced(input.marks, w) | some w in input.words]",
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
    digits_table = {k: v for table in pii["digits"] for k, v in table.items()}
    assert digits_table["AKI"] == "0KI" and digits_table["7"] == "0"


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
    """A word that starts with a marked word is marked by it: only the shortest are keys, since
    each key costs OPA a sort and a lookup."""
    marks = sorted(k for table in _config()["prompt"]["jailbreak"]["marks"] for k in table)
    assert not [(a, b) for a in marks for b in marks if a != b and b.startswith(a)]


def _one_key_at_a_time(table: dict[str, str], text: str, keys: list[str]) -> str:
    """strings.replace_n as OPA's WebAssembly target runs it: key after key, in its own order."""
    for key in keys:
        text = text.replace(key, table[key])
    return text


def test_each_pass_is_written_alike_at_once_and_key_by_key() -> None:
    """Go's strings.Replacer (at once, leftmost first) and the module's key-by-key replacing give
    the same text for every pass, in either key order, on texts where the keys of the whole table
    overlap and hold each other ("ignore" holds "no", "ifree" is "if" and "free")."""
    config = _config()["prompt"]
    tables = [*config["jailbreak"]["marks"], *config["pii"]["digits"]]
    keys = sorted({k for t in tables for k in t})
    texts = [a + b for a in keys for b in keys] + ["ignore email jailbroken endoftext", "ACCAKIA AKIAABIA"]
    engine = opa_engine()
    try:
        go = engine.eval_query("out := [[strings.replace_n(t, x) | some x in input.texts] | some t in input.tables]",
                               {"tables": tables, "texts": texts})[0]["out"]
    finally:
        engine.close()
    for table, written in zip(tables, go, strict=True):
        order = sorted(table)
        assert written == [_one_key_at_a_time(table, x, order) for x in texts]
        assert written == [_one_key_at_a_time(table, x, order[::-1]) for x in texts]


def test_only_patterns_without_a_literal_start_are_gated() -> None:
    gated = _config()["prompt"]["pii"]["gated"]
    assert [(g["gate"], g["min_gates"]) for g in gated] == [("@", 1)]

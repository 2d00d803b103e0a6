"""The built-in detectors: what each PII kind looks like, as RE2 patterns. specs/policies.yaml can
replace the matchers of any kind; the compiler puts them in the bundle's data.json
(compiler/policy_data.py) and rego/lib/detect.rego runs them.

A matcher:
- `pattern`: RE2 syntax, what OPA's regex builtins accept.
- `view`: the text the pattern runs on. `text` is the text itself. `digits` is the text with every
  digit replaced by 0 (same length, so positions carry over): a pattern that starts with a literal
  there (`000-00-0000`) lets the regex engine jump from digit to digit instead of trying every
  position. All patterns of that view that start with 0 run as one scan.
- `marks`: literals a match starts with, for a pattern on the digits view: there each reads with
  0 for its first character ("AKIA" as "0KIA"), and the pattern is written that way, so every
  pattern of that view starts with 0 and they all run as one scan.
- `gate`: a literal that occurs (at least `min_gates` times) in every match; the policy counts it
  with a plain substring search first and skips the pattern where it is absent. A pattern that
  starts with a literal needs none.
- `word_start`: a match must not start inside a word or a number, as a leading \\b would say
  (a leading \\b would also hide the literal the pattern starts with).
- `lead`: for a pattern that starts at a literal in the middle of what it finds (IPv6 starts at
  its first colon): `pattern` (RE2 with one group, ending in `$`) run on the `window` characters
  before a match; its group is the part of the finding before the match. No match, no finding.
- `check` on the matched text: `luhn` (payment cards), `ssn` (US SSN ranges), `phone` (8 to 15
  digits), `ipv4` (octets up to 255), `ipv6` (a real address, not `std::vector`), or `none`.
"""

from __future__ import annotations

from typing import Any

Matcher = dict[str, Any]


def _on_digits(pattern: str, check: str = "none", marks: tuple[str, ...] = ()) -> Matcher:
    """A matcher on the digits view that must not start inside a word or a number."""
    return {"pattern": pattern, "view": "digits", "word_start": True, "check": check, "marks": list(marks)}


# Words before a number that make it a version, not an IP address ("version 10.2.3.4", "v3.6.0.0").
_VERSION_WORDS = (r"(?i)(?:\bv|\bver\.?|\bversion|\brelease|\bbuild|\bfirmware|\bpatch|\bupdate to|\bupgrade to"
                  r"|\bpython|\bjava|\bnode|\bsdk|\bkernel|\bchrome|\bios|\bandroid)\s*:?\s*$")

PII_PATTERNS: dict[str, list[Matcher]] = {
    "email": [
        {"pattern": r"[\pL\pN._%+-]+@[\pL\pN-]+(?:\.[\pL\pN-]+)*\.\pL{2,}\b", "gate": "@"},
    ],
    "phone": [
        # US/NANP with one separator throughout: 555-123-4567, 555.123.4567, 555 123 4567 (a clause
        # number such as 252.204-7021 mixes them and is not a phone number), (555) 123-4567
        _on_digits(r"000-000-0000\b"),
        _on_digits(r"000\.000\.0000\b"),
        _on_digits(r"000 000 0000\b"),
        _on_digits(r"\(000\) ?000[ .-]0000\b"),
        # international, with the + of E.164: +44 20 7946 0958, +1 (555) 123-4567, +4915112345678
        _on_digits(r"\+0{1,3}(?:[ .-]?\(?0{1,5}\)?){1,5}\b", check="phone"),
    ],
    "ssn": [
        _on_digits(r"000[- ]00[- ]0000\b", check="ssn"),
        # nine digits in a row only where the text says it is one ("SSN: 123456789")
        _on_digits(r"000000000\b", check="ssn") | {"context": {
            "pattern": r"(?i)(?:\bssn|social security(?: number| no\.?)?|\bss#|\bsoc\.? ?sec\.?)\W{0,20}$",
            "window": 48, "want": True}},
    ],
    "credit_card": [
        # 13 to 19 digits in groups of four (spaces, dashes or dots, one or two of them), or
        # 4-6-4/4-6-5 (Diners, Amex); the Luhn check and an issuer's prefix and length decide
        _on_digits(r"0000[ .-]{0,2}0000[ .-]{0,2}0000[ .-]{0,2}0{1,7}\b", check="luhn"),
        _on_digits(r"0000[ .-]{0,2}000000[ .-]{0,2}0{4,5}\b", check="luhn"),
    ],
    "ip_address": [
        _on_digits(r"00{0,2}\.00{0,2}\.00{0,2}\.00{0,2}\b", check="ipv4")
        | {"context": {"pattern": _VERSION_WORDS, "window": 24, "want": False}},
        # IPv6 starts at its first colon, a literal the regex engine can search for: "::" and what
        # follows (compressed), or seven ":group"s (full form); the hex group(s) before it are the
        # match's lead (see `lead`). One pattern for both forms: one scan of the text.
        {"pattern": r":(?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b)?"
                    r"|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){6}\b)", "check": "ipv6",
         "lead": {"pattern": r"(?:^|[^0-9A-Za-z_:])((?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?$", "window": 40}},
    ],
    "secret": [
        # On the digits view too: each marked literal reads with a 0 first there ("AKIA" as
        # "0KIA"), so these join the one scan of that view (see `marks`).
        # AWS access keys are marked by their first three characters: marks ending in the "A"
        # another starts with ("ABIA" and "AKIA" in "ABIAKIA…") would hide each other in the
        # replace_n passes, and a key whose body starts with another prefix would go unseen. The
        # fourth "A" may therefore read as 0 (marked as the start of the body: "0BI0KIA…"); on the
        # text that reads "[A0]" too, which widens nothing real (AWS key ids are base32: no 0).
        _on_digits(r"0(?:KI|SI|BI|CC)[A0][0-9A-Z]{16}\b", marks=("AKI", "ASI", "ABI", "ACC")),
        _on_digits(r"0h[pousr]_[A-Za-z0-9]{36,}\b", marks=("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
        _on_digits(r"0ithub_pat_[A-Za-z0-9_]{60,}\b", marks=("github_pat_",)),
        _on_digits(r"0k-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_-]{20,}", marks=("sk-",)),
        _on_digits(r"0ox[abposr]-[A-Za-z0-9-]{10,}", marks=("xox",)),
        _on_digits(r"0Iza[0-9A-Za-z_-]{35}\b", marks=("AIza",)),
        _on_digits(r"0k_live_[0-9A-Za-z]{20,}\b", marks=("sk_live_", "rk_live_")),
        _on_digits(r"0----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", marks=("-----BEGIN ",)),
    ],
}

# Words that may stand between two words of a jailbreak phrase ("ignore ALL THE previous
# instructions"), at most three at a time.
JAILBREAK_FILLERS: list[str] = [
    "a", "all", "an", "any", "are", "every", "me", "my", "now", "of", "that", "the", "these", "those",
    "to", "us", "you", "your",
]

# A phrase is words separated by spaces; `a|b` means either word. Matching ignores case,
# punctuation, line breaks and repeated whitespace between the words.
JAILBREAK_PHRASES: dict[str, list[str]] = {
    "instruction_override": [
        "ignore|disregard|forget|override|bypass|skip previous|prior|above|earlier|preceding|former|original|initial"
        " instructions|instruction|rules|directions|prompts|prompt|guidelines|directives|commands",
    ],
    "persona_escape": [
        "do anything now",
        "act|acting|pretend|roleplay as dan",
        "you are dan",
        "dan|jailbreak|jailbroken|unrestricted|unfiltered|uncensored mode",
        "developer mode enabled|activated",
        "you have|had no restrictions|limitations|filters|censorship|guidelines",
        "respond|answer|reply|act|talk|speak without restrictions|limitations|filters|censorship|guidelines",
    ],
    "system_prompt_extraction": [
        "reveal|show|print|output|display|repeat|leak|dump|tell|give system prompt|instructions|message",
        "reveal|show|print|output|display|repeat|leak|dump|tell|give initial|hidden|secret prompt|instructions",
        "what is|are|was|were system|initial|hidden|secret prompt|instructions",
        "repeat everything|words above|before",
    ],
    "authority_claim": [],
    "document_injection": [],
    "chat_template": [],
    "weak_signal": [],
}

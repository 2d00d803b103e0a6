"""The built-in detectors: what each PII kind looks like, as RE2 patterns. specs/policies.yaml can
replace the matchers of any kind; the compiler puts them in the bundle's data.json
(compiler/policy_data.py) and rego/lib/detect.rego runs them.

A matcher:
- `pattern`: RE2 syntax, what OPA's regex builtins accept.
- `view`: the text the pattern runs on. `text` is the text itself. `digits` is the text with every
  digit replaced by 0 (same length, so positions carry over): a pattern that starts with a literal
  there (`000-00-0000`) lets the regex engine jump from digit to digit instead of trying every
  position, which is most of the prompt policy's speed. Matches on `digits` never start inside a
  word or a number (the policy checks, as a leading \\b would).
- `gates`: literals of which at least `min_gates` occurrences are in every match (default one of
  them); the policy searches for them first with a plain substring search and skips the pattern
  when they are absent.
- `check` on the matched text: `luhn` (payment cards), `ssn` (US SSN ranges), `phone` (8 to 15
  digits), `ipv4` (octets up to 255), `ipv6` (a real address, not `std::vector`), or `none`.
"""

from __future__ import annotations

from typing import Any

Matcher = dict[str, Any]

PII_PATTERNS: dict[str, list[Matcher]] = {
    "email": [
        {"pattern": r"[\pL\pN._%+-]+@[\pL\pN-]+(?:\.[\pL\pN-]+)*\.\pL{2,}\b", "gates": ["@"]},
    ],
    "phone": [
        # US/NANP: 555-123-4567, 555.123.4567, 555 123 4567, (555) 123-4567
        {"pattern": r"000[ .-]000[ .-]0000\b", "view": "digits"},
        {"pattern": r"\(000\) ?000[ .-]0000\b", "view": "digits"},
        # international, with the + of E.164: +44 20 7946 0958, +1 (555) 123-4567, +4915112345678
        {"pattern": r"\+0{1,3}(?:[ .-]?\(?0{1,5}\)?){1,5}\b", "view": "digits", "check": "phone"},
    ],
    "ssn": [
        {"pattern": r"000[- ]00[- ]0000\b", "view": "digits", "check": "ssn"},
    ],
    "credit_card": [
        # 13 to 19 digits in groups of four, or 4-6-4/4-6-5 (Diners, Amex); the Luhn check decides
        {"pattern": r"0000[ -]?0000[ -]?0000[ -]?0{1,7}\b", "view": "digits", "check": "luhn"},
        {"pattern": r"0000[ -]?000000[ -]?0{4,5}\b", "view": "digits", "check": "luhn"},
    ],
    "ip_address": [
        {"pattern": r"0{1,3}\.0{1,3}\.0{1,3}\.0{1,3}\b", "view": "digits", "check": "ipv4"},
        # compressed (2001:db8::1) where "::" occurs, full (eight groups) where 7 colons do
        {"pattern": r"(?i)\b(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?\b"
                    r"|::[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}\b",
         "gates": ["::"], "check": "ipv6"},
        {"pattern": r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b", "gates": [":"], "min_gates": 7,
         "check": "ipv6"},
    ],
    "secret": [
        {"pattern": r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", "gates": ["AKIA", "ASIA", "ABIA", "ACCA"]},
        {"pattern": r"gh[pousr]_[A-Za-z0-9]{36,}\b", "gates": ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]},
        {"pattern": r"github_pat_[A-Za-z0-9_]{60,}\b", "gates": ["github_pat_"]},
        {"pattern": r"sk-(?:[A-Za-z0-9]+-)?[A-Za-z0-9_-]{20,}", "gates": ["sk-"]},
        {"pattern": r"xox[abposr]-[A-Za-z0-9-]{10,}", "gates": ["xox"]},
        {"pattern": r"AIza[0-9A-Za-z_-]{35}\b", "gates": ["AIza"]},
        {"pattern": r"[rs]k_live_[0-9A-Za-z]{20,}\b", "gates": ["k_live_"]},
        {"pattern": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", "gates": ["-----BEGIN "]},
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
}

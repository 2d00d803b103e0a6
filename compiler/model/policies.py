"""The OPA policies: versions, modes per environment and the data the Rego reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from compiler.model._base import Name, SemVer, StrictModel
from compiler.model.detectors import JAILBREAK_FILLERS, JAILBREAK_PHRASES, PII_PATTERNS

Mode = Literal["enforce", "monitor", "off"]
Severity = Literal["low", "medium", "high", "critical"]
PiiCategory = Literal["email", "phone", "ssn", "credit_card", "ip_address", "secret"]
# Words separated by single spaces; a word may list alternatives: "ignore|disregard previous instructions";
# a word ending in * is a prefix ("instruct*"); "~N" stands for up to N other words ("send ~3 email").
Phrase = Annotated[str, StringConstraints(pattern=r"^[^\s|]+(\|[^\s|]+)*( [^\s|]+(\|[^\s|]+)*)*$")]


def _phrases(family: str) -> Any:
    return Field(default_factory=lambda: list(JAILBREAK_PHRASES[family]),
                 description=f"phrases of the jailbreak_{family} rule")


class Jailbreak(StrictModel):
    """Phrases per family (each family is the Rego rule jailbreak_<family>); matching ignores case,
    punctuation, line breaks, leetspeak, homoglyphs, invisible characters and up to three filler
    words between two words of a phrase."""

    fillers: list[str] = Field(default_factory=lambda: list(JAILBREAK_FILLERS))
    instruction_override: list[Phrase] = _phrases("instruction_override")
    persona_escape: list[Phrase] = _phrases("persona_escape")
    system_prompt_extraction: list[Phrase] = _phrases("system_prompt_extraction")
    authority_claim: list[Phrase] = _phrases("authority_claim")
    document_injection: list[Phrase] = _phrases("document_injection")
    chat_template: list[Phrase] = _phrases("chat_template")
    weak_signal: list[Phrase] = _phrases("weak_signal")


class Lead(StrictModel):
    pattern: str = Field(min_length=1, description="RE2 with one group, ending in $, run on the window before a match")
    window: int = Field(ge=1, le=256, description="how many characters before the match it looks at")


class Context(StrictModel):
    pattern: str = Field(min_length=1, description="RE2 ending in $, run on the window before a match")
    window: int = Field(ge=1, le=256, description="how many characters before the match it looks at")
    want: bool = Field(description="true: a match needs this context; false: a match with it is no finding")


class PiiMatcher(StrictModel):
    """One way a PII kind shows up in text (see compiler/model/detectors.py for the built-in ones)."""

    pattern: str = Field(min_length=1, description="RE2 pattern (OPA's regex syntax)")
    view: Literal["text", "digits"] = Field("text", description="digits: the text with every digit as 0")
    marks: list[Annotated[str, StringConstraints(pattern=r"^[^0-9]")]] = Field(
        default_factory=list, description="view digits: literals a match starts with, read with 0 first")
    gate: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        None, description="a literal in every match: the pattern runs only where it occurs (a fast pre-check)")
    min_gates: int = Field(1, ge=1, description="how many times the gate occurs at least in a match")
    word_start: bool = Field(False, description="a match must not start inside a word or number (a leading \\b "
                                                 "without costing the literal search)")
    lead: Lead | None = Field(None, description="the part of a finding before where the pattern matched")
    context: Context | None = Field(None, description="words wanted (or refused) just before a match")
    check: Literal["none", "luhn", "ssn", "phone", "ipv4", "ipv6"] = "none"


class ModelBudget(StrictModel):
    max_input_tokens: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)


class TokenBudget(StrictModel):
    max_input_tokens: int = Field(8000, ge=1)
    max_output_tokens: int = Field(4096, ge=1)
    per_model: dict[str, ModelBudget] = Field(default_factory=dict)


UnreadableAction = Literal["refuse", "pass"]


class Unreadable(StrictModel):
    """Content a text policy cannot read, by kind: refuse it (an `unreadable_input` violation, which
    blocks in enforce and is reported in monitor) or pass it unread. Images and audio pass by
    default (vision, transcription and image edits would be impossible otherwise); set them to
    refuse, per environment with an overlay, where that matters more."""

    token_ids: UnreadableAction = Field("refuse", description="embeddings or completions input as token arrays")
    file: UnreadableAction = Field("refuse", description="inline file bytes (a PDF in a chat message)")
    image: UnreadableAction = Field("pass", description="inline image bytes (a data: URL, an uploaded image)")
    audio: UnreadableAction = Field("pass", description="inline or uploaded audio")


class Limits(StrictModel):
    """Hard caps per request, so a decision's cost is bounded: over them the policy reports a
    limit_text_size or limit_matches violation (which blocks in enforce) and scans nothing. The
    gateway can refuse over-size input before evaluating (gateway.json, policies.limits)."""

    max_text_chars: int = Field(200_000, ge=1, description="code points of all texts of one request or answer")
    max_matches: int = Field(200, ge=1, description="pattern matches located in one request or answer")


_BLOCK_AT = ("violations of this severity and above block in enforce; weaker ones are only reported "
             "(allow stays true)")


class PromptPolicy(StrictModel):
    version: SemVer = Field(description="policy_version (SDS-047); must match the Rego header")
    mode: dict[Name, Mode] = Field(description="enforcement mode per environment")
    block_at: Severity = Field("low", description=_BLOCK_AT)
    pii: list[PiiCategory] = Field(default_factory=list)
    jailbreak: Jailbreak = Jailbreak()
    token_budget: TokenBudget = TokenBudget()
    unreadable: Unreadable = Unreadable()


class OutputPolicy(StrictModel):
    version: SemVer
    mode: dict[Name, Mode]
    block_at: Severity = Field("low", description=_BLOCK_AT)
    pii: list[PiiCategory] = Field(default_factory=list)
    action: Literal["block", "redact"] = "block"


class Policies(StrictModel):
    prompt: PromptPolicy
    output: OutputPolicy
    limits: Limits = Limits()
    pii_patterns: dict[PiiCategory, list[PiiMatcher]] = Field(
        default_factory=dict,
        description="replace the built-in matchers of a PII kind (compiler/model/detectors.py)")


def builtin_matchers(kind: str) -> list[PiiMatcher]:
    return [PiiMatcher.model_validate(m) for m in PII_PATTERNS[kind]]

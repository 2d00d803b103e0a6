# Policy Version: 3.2.5
# METADATA
# title: Prompt policy
# description: >-
#   Checks what a client sends before it reaches a model: personal data and secrets, jailbreak
#   attempts, token budgets and content it cannot read. Input: the texts of a request as the
#   gateway's endpoint readers list them ({"model", "texts": [{"field", "role", "text"}],
#   "unreadable": [{"field", "kind"}], "output_tokens": {"field", "requested"}}). Patterns,
#   phrases, budgets and the enforcement mode come from data.gateway.config.prompt (compiled
#   from specs/policies.yaml).
# authors:
#   - Platform security <platform-security@example.com>
# custom:
#   version: 3.2.5
package gateway.prompt

import data.gateway.lib.detect

_config := data.gateway.config.prompt

# The package's METADATA (the chain's last entry) holds the version.
policy_version := rego.metadata.chain()[1].annotations.custom.version

# --- the decision ----------------------------------------------------------------------------

decision := {"allow": true, "mode": "off", "policy_version": policy_version, "violations": []} if {
	_config.mode == "off"
} else := {"allow": true, "mode": _config.mode, "policy_version": policy_version, "violations": []} if {
	# the common case, nothing found: the decision without sorting or ranking nothing
	_violations == set()
} else := {
	"allow": allow,
	"mode": _config.mode,
	"policy_version": policy_version,
	"violations": violations,
}

# enforce blocks on a violation at or above the spec's block_at severity; weaker ones are only
# reported (the gateway shows them as monitor). monitor reports and lets the request pass.
default allow := false

allow if _config.mode == "monitor"

allow if {
	every v in violations {
		not detect.blocks(v, _config.block_at)
	}
}

# In text order: by field, then by where the match starts.
violations := [entry[3] | some entry in sort([[v.where.field, object.get(v.where, "start", -1), v.rule, v] |
	some v in _violations
])]

_inner := detect.inside_others(_pii_findings)

_violations contains detect.violation(finding, _rules) if {
	some finding in _text_findings
	not [finding.field, object.get(finding, "start", -1), object.get(finding, "end", -1), finding.kind] in _inner
}

_pii_findings := [f | some f in _text_findings; not startswith(f.kind, "jailbreak_")]

# --- what the policy reads -------------------------------------------------------------------

# [field, text] of each text the request carries, as the gateway's endpoint readers list them
# (runtime/endpoints): input.texts = [{"field": "messages[1].content", "role": "user", "text": …}].
# The field names a text for people ("messages[1].content", "input[0]", "query"). A separator
# character in a text (which would move every finding after it into the next field) reads as a
# space.
_all := [[t.field, replace(t.text, detect.SEP, " ")] | some t in input.texts; is_string(t.text)]

# Jailbreak phrases are looked for in what users (and tools) wrote, not in the operator's own
# system prompt, which may well say "never reveal your system prompt": all texts are scanned
# once, and a jailbreak finding in one of these fields does not count. A text without a role (a
# tool description, a query, a document) is the users' too.
_operator_fields := {t.field |
	some t in input.texts
	is_string(t.text)
	object.get(t, "role", "") in {"system", "developer"}
}

# Over the size cap: one violation, nothing scanned. Over the match cap: one violation, nothing
# located. Nothing found (the common case): no placing, no junctions read.
_text_findings := [{
	"kind": "limit_text_size", "field": "texts",
	"chars": _prepared.chars, "limit": _config.limits.max_text_chars,
}] if {
	_prepared.chars > _config.limits.max_text_chars
} else := [{"kind": "limit_matches", "field": "texts", "phrase_words": _phrase_words, "limit": _config.jailbreak.dense.min_words}] if {
	_dense
} else := [] if {
	_pii_hits == {}
	_jailbreak_hits == {}
	_runs == []
	_junctions == []
} else := [{"kind": "limit_matches", "field": "texts", "limit": _config.limits.max_matches}] if {
	sum([n | some n in _pii_hits]) + sum([n | some n in _jailbreak_hits]) > _config.limits.max_matches
} else := [f | some f in array.concat(_located, _junctions); not _from_operator(f)]

_from_operator(f) if {
	startswith(f.kind, "jailbreak_")
	f.field in _operator_fields
}

_prepared := detect.prepared(_config.fold, _all)

_pii_views := {"text": _prepared.text, "digits": detect.digits_view(_config.pii, _prepared.text)}

_lowered := lower(_prepared.text)

_phrase_views := {"text": v, "marked": v} if v := detect.phrase_view(_config.jailbreak, _lowered)

# The phrase scan tries its pattern at every marked word (~1 µs each, up to ~8 µs in a salad of
# phrase words and fillers): text far denser in them than prose (data: jailbreak.dense; prose has
# one every 20-80 characters) is not scanned but refused as over the match cap, so a request near
# the size cap costs at most ~70 ms here.
_phrase_words := strings.count(_phrase_views.marked, "\u0001")

_dense if {
	_phrase_words > _config.jailbreak.dense.min_words
	_phrase_words * _config.jailbreak.dense.chars_per_word > _prepared.chars
}

# how far the scans count: one past the cap says the cap is crossed
_count_to := _config.limits.max_matches + 1

_pii_hits := detect.gate_hits(_config.pii, _pii_views, _count_to)

_jailbreak_hits := detect.gate_hits(_config.jailbreak, _phrase_views, _count_to)

_located := detect.placed([f[0] | some f in _all], _prepared, array.concat(
	array.concat(detect.spans(_config.pii, _pii_views, _pii_hits), _decoded_pii),
	array.concat(detect.spans(_config.jailbreak, _phrase_views, _jailbreak_hits), _decoded_jailbreak),
))

# A value split over two texts has a digit (or a secret's prefix: "0" in the digits view) a few
# characters before a separator (data: junction.gate): without one, no junction is read.
_junctions := [] if {
	count(_all) < 2
} else := [] if {
	not regex.match(_config.junction.gate, _pii_views.digits)
} else := detect.junction_findings(_config.pii, _all, _config.junction.window)

# Encoded runs (base64, hex, %-encoding, spaced letters), decoded and scanned again: PII inside is
# reported as that PII at the run; jailbreak phrases inside as jailbreak_encoded_payload.
_runs := detect.encoded_runs(_config.decode, _prepared.text, lower(_pii_views.digits))

_decoded_pii := [[run[0], run[1], kind] |
	some run in _runs
	views := {"text": run[2], "digits": detect.digits_view(_config.pii, run[2])}
	kinds := {s[2] | some s in detect.spans(_config.pii, views, detect.gate_hits(_config.pii, views, _count_to))}
	some kind in kinds
]

_decoded_jailbreak := [[run[0], run[1], "jailbreak_encoded_payload"] |
	some run in _runs
	v := detect.phrase_view(_config.jailbreak, lower(run[2]))
	count(detect.gate_hits(_config.jailbreak, {"text": v, "marked": v}, _count_to)) > 0
]

# --- token budgets ---------------------------------------------------------------------------

# The model's budgets (the spec's per_model entry, its gaps filled from the defaults when compiled).
_limits := object.get(_config.token_budget.per_model, object.get(input, "model", ""), _config.token_budget.default)

# An estimate (characters / chars_per_token, rounded up): the model's own tokenizer is not
# available here. Separators between texts are not counted.
estimated_input_tokens := ceil(_prepared.chars / _config.token_budget.chars_per_token)

# The reader names the request's largest output-token field: {"field": "max_tokens", "requested": 100}.
_output_tokens_field := input.output_tokens.field

requested_output_tokens := input.output_tokens.requested if is_number(input.output_tokens.requested)

_violations contains detect.violation(finding, _rules) if {
	estimated_input_tokens > _limits.max_input_tokens
	finding := {
		"kind": "token_budget_input",
		"field": "texts", "estimated_tokens": estimated_input_tokens, "limit": _limits.max_input_tokens,
	}
}

_violations contains detect.violation(finding, _rules) if {
	requested_output_tokens > _limits.max_output_tokens
	finding := {
		"kind": "token_budget_output",
		"field": _output_tokens_field, "requested_tokens": requested_output_tokens, "limit": _limits.max_output_tokens,
	}
}

# --- what the readers could not read ---------------------------------------------------------

# Parts of a request no policy can read (token ids, audio, an image as bytes) are listed by the
# reader as input.unreadable = [{"field", "kind"}]; the spec decides, per kind, whether they are
# refused. A kind the spec does not name is refused.
_violations contains detect.violation(finding, _rules) if {
	some part in input.unreadable
	object.get(_config.unreadable, part.kind, "refuse") == "refuse"
	finding := {"kind": "unreadable_input", "field": part.field, "content": part.kind}
}

# --- the rules -------------------------------------------------------------------------------
# Every violation names one of these rules (or a PII rule of rego/lib/detect.rego), and its
# message, category and severity are that rule's annotations. The jailbreak rules are kinds of
# data.json's scans (compiled from specs/policies.yaml).

_rules := object.union(detect.pii_rules, _own_rules)

# METADATA
# title: attempt to override the instructions
# custom:
#   category: jailbreak
#   severity: high
_own_rules["jailbreak_instruction_override"] := rego.metadata.rule()

# METADATA
# title: persona or role-play escape
# custom:
#   category: jailbreak
#   severity: high
_own_rules["jailbreak_persona_escape"] := rego.metadata.rule()

# METADATA
# title: attempt to extract the system prompt
# custom:
#   category: jailbreak
#   severity: medium
_own_rules["jailbreak_system_prompt_extraction"] := rego.metadata.rule()

# METADATA
# title: claim of authority over the assistant (administrator, developer, owner)
# custom:
#   category: jailbreak
#   severity: medium
_own_rules["jailbreak_authority_claim"] := rego.metadata.rule()

# METADATA
# title: instructions hidden in a document or e-mail for the assistant
# custom:
#   category: jailbreak
#   severity: medium
_own_rules["jailbreak_document_injection"] := rego.metadata.rule()

# METADATA
# title: fake chat-template or role tags (<|im_start|>, [INST], <<SYS>>, </system>)
# custom:
#   category: jailbreak
#   severity: high
_own_rules["jailbreak_chat_template"] := rego.metadata.rule()

# METADATA
# title: a jailbreak phrase inside encoded text (base64, hex, %-encoding, spaced letters)
# custom:
#   category: jailbreak
#   severity: high
_own_rules["jailbreak_encoded_payload"] := rego.metadata.rule()

# METADATA
# title: weak sign of a jailbreak (reported, does not block at the default block_at)
# custom:
#   category: jailbreak
#   severity: low
_own_rules["jailbreak_weak_signal"] := rego.metadata.rule()

# METADATA
# title: content the policy cannot read (token ids, audio, image bytes)
# custom:
#   category: unreadable
#   severity: high
_own_rules["unreadable_input"] := rego.metadata.rule()

# METADATA
# title: estimated input tokens over the budget
# custom:
#   category: token_budget
#   severity: medium
_own_rules["token_budget_input"] := rego.metadata.rule()

# METADATA
# title: requested output tokens over the budget
# custom:
#   category: token_budget
#   severity: low
_own_rules["token_budget_output"] := rego.metadata.rule()

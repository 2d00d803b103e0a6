# Policy Version: 1.0.0
# METADATA
# title: Prompt policy
# description: >-
#   Checks what a client sends before it reaches a model: personal data and secrets, jailbreak
#   attempts, and token budgets. Input: an OpenAI chat-completions request body (messages, model,
#   max_tokens or max_completion_tokens) or {"text": "..."}. Patterns, phrases, budgets and the
#   enforcement mode come from data.gateway.config.prompt (compiled from specs/policies.yaml).
# authors:
#   - Platform security <platform-security@example.com>
# custom:
#   version: 1.0.0
package gateway.prompt

import data.gateway.lib.detect

_config := data.gateway.config.prompt

policy_version := [v | some entry in rego.metadata.chain(); v := entry.annotations.custom.version][0]

# The one document a caller asks for.
decision := {"allow": true, "mode": "off", "policy_version": policy_version, "violations": []} if {
	_config.mode == "off"
}

decision := {
	"allow": allow,
	"mode": _config.mode,
	"policy_version": policy_version,
	"violations": violations,
} if {
	_config.mode != "off"
}

# enforce blocks on any violation; monitor reports and lets the request pass.
default allow := false

allow if _config.mode == "monitor"

allow if count(violations) == 0

# Violations in text order: by field, then by where the match starts.
violations := [v | some entry in sort([[v.where.field, object.get(v.where, "start", -1), v.rule, v] |
	some v in _violations
])
v := entry[3]]

# --- what the policy reads -------------------------------------------------------------------

# field name -> text, for every piece of text the request carries.
texts[field] := input.text if {
	is_string(input.text)
	field := "text"
}

texts[field] := message.content if {
	some i, message in input.messages
	is_string(message.content)
	field := sprintf("messages[%d].content", [i])
}

texts[field] := part.text if {
	some i, message in input.messages
	some j, part in message.content
	part.type == "text"
	field := sprintf("messages[%d].content[%d].text", [i, j])
}

# Jailbreak phrases are looked for in what users (and tools) wrote, not in the operator's own
# system prompt, which may well say "never reveal your system prompt". Lower-cased once: Go's
# lower() maps code point to code point, so offsets stay those of the original text.
_lowered[field] := lower(text) if {
	some field, text in texts
	not _operator_field[field]
}

_operator_field contains field if {
	some i, message in input.messages
	message.role in {"system", "developer"}
	some field, _ in texts
	startswith(field, sprintf("messages[%d].", [i]))
}

_digits[field] := detect.digits_view(text) if some field, text in texts

_view("text", field) := texts[field]

_view("digits", field) := _digits[field]

_pii_found[kind] := [where |
	some matcher in matchers
	some field, text in texts
	some where in detect.find(matcher, field, text, _view(matcher.view, field))
] if {
	some kind, matchers in _config.pii
}

# A match inside a longer one is the same value seen twice ("+4915112345678" is a phone number,
# not also a card number 4915112345678): the longer one is reported.
_pii(kind) := [where | some where in _pii_found[kind]; not _inside_another(where)]

_inside_another(where) if {
	some other in _pii_found[_]
	other.field == where.field
	other.start <= where.start
	where.end <= other.end
	other != where
}

_jailbreak(category) := [where |
	matcher := _config.jailbreak[category]
	some field, text in _lowered
	some where in detect.find(matcher, field, text, text)
]

_violation(rule, annotation, where) := {
	"rule": rule,
	"category": annotation.custom.category,
	"severity": annotation.custom.severity,
	"message": annotation.title,
	"where": where,
}

# --- PII and secrets -------------------------------------------------------------------------

# METADATA
# title: email address
# custom:
#   category: pii
#   severity: medium
_violations contains _violation("pii_email", rego.metadata.rule(), where) if some where in _pii("email")

# METADATA
# title: phone number
# custom:
#   category: pii
#   severity: medium
_violations contains _violation("pii_phone", rego.metadata.rule(), where) if some where in _pii("phone")

# METADATA
# title: US social security number
# custom:
#   category: pii
#   severity: high
_violations contains _violation("pii_ssn", rego.metadata.rule(), where) if some where in _pii("ssn")

# METADATA
# title: payment card number (Luhn-valid)
# custom:
#   category: pii
#   severity: high
_violations contains _violation("pii_credit_card", rego.metadata.rule(), where) if some where in _pii("credit_card")

# METADATA
# title: IP address
# custom:
#   category: pii
#   severity: low
_violations contains _violation("pii_ip_address", rego.metadata.rule(), where) if some where in _pii("ip_address")

# METADATA
# title: secret (access key, API token or private key)
# custom:
#   category: secret
#   severity: critical
_violations contains _violation("secret", rego.metadata.rule(), where) if some where in _pii("secret")

# --- jailbreak attempts ----------------------------------------------------------------------

# METADATA
# title: attempt to override the instructions
# custom:
#   category: jailbreak
#   severity: high
_violations contains v if {
	some where in _jailbreak("instruction_override")
	v := _violation("jailbreak_instruction_override", rego.metadata.rule(), where)
}

# METADATA
# title: persona or role-play escape
# custom:
#   category: jailbreak
#   severity: high
_violations contains v if {
	some where in _jailbreak("persona_escape")
	v := _violation("jailbreak_persona_escape", rego.metadata.rule(), where)
}

# METADATA
# title: attempt to extract the system prompt
# custom:
#   category: jailbreak
#   severity: medium
_violations contains v if {
	some where in _jailbreak("system_prompt_extraction")
	v := _violation("jailbreak_system_prompt_extraction", rego.metadata.rule(), where)
}

# --- token budgets ---------------------------------------------------------------------------

_budget := object.union(_config.token_budget.default, object.get(_config.token_budget.per_model, [_model], {}))

_model := object.get(input, "model", "")

# An estimate (characters / chars_per_token, rounded up): the model's own tokenizer is not
# available here. It errs on the side of counting more.
estimated_input_tokens := ceil(sum([count(text) | some text in texts]) / _config.token_budget.chars_per_token)

# METADATA
# title: estimated input tokens over the budget
# custom:
#   category: token_budget
#   severity: medium
_violations contains _violation("token_budget_input", rego.metadata.rule(), where) if {
	estimated_input_tokens > _budget.max_input_tokens
	where := {"field": "messages", "estimated_tokens": estimated_input_tokens, "limit": _budget.max_input_tokens}
}

_output_tokens_field := "max_completion_tokens" if is_number(input.max_completion_tokens) else := "max_tokens"

requested_output_tokens := input[_output_tokens_field] if is_number(input[_output_tokens_field])

# METADATA
# title: requested output tokens over the budget
# custom:
#   category: token_budget
#   severity: low
_violations contains _violation("token_budget_output", rego.metadata.rule(), where) if {
	requested_output_tokens > _budget.max_output_tokens
	where := {"field": _output_tokens_field, "requested_tokens": requested_output_tokens, "limit": _budget.max_output_tokens}
}

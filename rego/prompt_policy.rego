# Policy Version: 2.0.0
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
#   version: 2.0.0
package gateway.prompt

import data.gateway.lib.detect

_config := data.gateway.config.prompt

# The package's METADATA (the chain's last entry) holds the version.
policy_version := rego.metadata.chain()[1].annotations.custom.version

# --- the decision ----------------------------------------------------------------------------

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

# In text order: by field, then by where the match starts.
violations := [entry[3] | some entry in sort([[v.where.field, object.get(v.where, "start", -1), v.rule, v] |
	some v in _violations
])]

_violations contains detect.violation(finding, _rules) if {
	some finding in array.concat(_pii_findings, _jailbreak_findings)
	not detect.inside_another(finding, _pii_findings)
}

# --- what the policy reads -------------------------------------------------------------------

# [field, text] of each text the request carries, as the gateway's endpoint readers list them
# (runtime/endpoints): input.texts = [{"field": "messages[1].content", "role": "user", "text": …}].
# The field names a text for people ("messages[1].content", "input[0]", "query").
_all := [[t.field, t.text] | some t in input.texts; is_string(t.text)]

_all_text := concat("\n", [f[1] | some f in _all])

# Jailbreak phrases are looked for in what users (and tools) wrote, not in the operator's own
# system prompt, which may well say "never reveal your system prompt".
# A text without a role (a tool description, a query, a document) is the users' too.
_users := [[t.field, t.text] |
	some t in input.texts
	is_string(t.text)
	not object.get(t, "role", "") in {"system", "developer"}
]

# Lower-cased once for all phrases: Go's lower() maps code point to code point, so offsets stay
# those of the original text.
_users_text := lower(concat("\n", [f[1] | some f in _users]))

_pii_findings := detect.findings(_config.pii, _all, {"text": _all_text, "digits": detect.digits_view(_config.pii, _all_text)})

_jailbreak_findings := detect.findings(_config.jailbreak, _users, {
	"text": _users_text,
	"marked": strings.replace_n(_config.jailbreak.marks, _users_text),
})

# --- token budgets ---------------------------------------------------------------------------

_limits := object.union(_config.token_budget.default, object.get(_config.token_budget.per_model, _model, {}))

_model := object.get(input, "model", "")

# An estimate (characters / chars_per_token, rounded up): the model's own tokenizer is not
# available here. The joined text holds one separator between two texts, not counted.
estimated_input_tokens := ceil(((count(_all_text) - count(_all)) + 1) / _config.token_budget.chars_per_token) if {
	_all != []
} else := 0

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
_own_rules.jailbreak_instruction_override := rego.metadata.rule()

# METADATA
# title: persona or role-play escape
# custom:
#   category: jailbreak
#   severity: high
_own_rules.jailbreak_persona_escape := rego.metadata.rule()

# METADATA
# title: attempt to extract the system prompt
# custom:
#   category: jailbreak
#   severity: medium
_own_rules.jailbreak_system_prompt_extraction := rego.metadata.rule()

# METADATA
# title: content the policy cannot read (token ids, audio, image bytes)
# custom:
#   category: unreadable
#   severity: high
_own_rules.unreadable_input := rego.metadata.rule()

# METADATA
# title: estimated input tokens over the budget
# custom:
#   category: token_budget
#   severity: medium
_own_rules.token_budget_input := rego.metadata.rule()

# METADATA
# title: requested output tokens over the budget
# custom:
#   category: token_budget
#   severity: low
_own_rules.token_budget_output := rego.metadata.rule()

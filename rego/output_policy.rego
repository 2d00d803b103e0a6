# Policy Version: 1.0.0
# METADATA
# title: Output policy
# description: >-
#   Checks what a model answered before it reaches the client: personal data and secrets. Input:
#   {"text": "...", "model": "..."}, the completion text (for a stream, the text of one window).
#   With action "redact" an enforcing decision lists the spans to mask; with "block" the answer
#   is withheld. Patterns, the action and the enforcement mode come from
#   data.gateway.config.output (compiled from specs/policies.yaml).
# authors:
#   - Platform security <platform-security@example.com>
# custom:
#   version: 1.0.0
package gateway.output

import data.gateway.lib.detect

_config := data.gateway.config.output

policy_version := [v | some entry in rego.metadata.chain(); v := entry.annotations.custom.version][0]

decision := {
	"allow": true,
	"mode": "off",
	"policy_version": policy_version,
	"violations": [],
	"redactions": [],
} if {
	_config.mode == "off"
}

decision := {
	"allow": allow,
	"mode": _config.mode,
	"policy_version": policy_version,
	"violations": violations,
	"redactions": redactions,
} if {
	_config.mode != "off"
}

# enforce withholds an answer with any violation unless the redactions are applied: a caller that
# cannot redact (say, text already streamed) must block. monitor reports and lets it pass.
default allow := false

allow if _config.mode == "monitor"

allow if count(violations) == 0

violations := [v | some entry in sort([[v.where.start, v.rule, v] | some v in _violations]); v := entry[2]]

# What to mask, in text order, when the action is redact and the mode enforces.
redactions := [{
	"field": v.where.field,
	"start": v.where.start,
	"end": v.where.end,
	"replacement": sprintf("[REDACTED:%s]", [_replacement_kind[v.rule]]),
} |
	_config.action == "redact"
	_config.mode == "enforce"
	some v in violations
]

_replacement_kind := {
	"pii_email": "email",
	"pii_phone": "phone",
	"pii_ssn": "ssn",
	"pii_credit_card": "credit_card",
	"pii_ip_address": "ip_address",
	"secret": "secret",
}

texts["text"] := input.text if is_string(input.text)

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

_violation(rule, annotation, where) := {
	"rule": rule,
	"category": annotation.custom.category,
	"severity": annotation.custom.severity,
	"message": annotation.title,
	"where": where,
}

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

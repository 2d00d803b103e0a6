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

# The package's METADATA (the chain's last entry) holds the version.
policy_version := rego.metadata.chain()[1].annotations.custom.version

# --- the decision ----------------------------------------------------------------------------

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

violations := [entry[2] | some entry in sort([[v.where.start, v.rule, v] | some v in _violations])]

_violations contains detect.violation(finding, detect.pii_rules) if {
	some finding in _findings
	not detect.inside_another(finding, _findings)
}

# What to mask, in text order, when the action is redact and the mode enforces: "[REDACTED:ssn]"
# for a pii_ssn violation, "[REDACTED:secret]" for a secret. The rules are the PII rules of
# rego/lib/detect.rego.
redactions := [{
	"field": v.where.field,
	"start": v.where.start,
	"end": v.where.end,
	"replacement": sprintf("[REDACTED:%s]", [trim_prefix(v.rule, "pii_")]),
} |
	_config.action == "redact"
	_config.mode == "enforce"
	some v in violations
]

# --- what the policy reads -------------------------------------------------------------------

_text := input.text if is_string(input.text) else := ""

_all := [[["text"], _text]]

_findings := detect.findings(_config.pii, _all, {"text": _text, "digits": detect.digits_view(_config.pii, _text)})

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

_violations contains {
	"rule": finding.kind,
	"category": _rules[finding.kind].custom.category,
	"severity": _rules[finding.kind].custom.severity,
	"message": _rules[finding.kind].title,
	"where": object.remove(finding, ["kind"]),
} if {
	some finding in _findings
	not detect.inside_another(finding, _findings)
}

# What to mask, in text order, when the action is redact and the mode enforces.
redactions := [{
	"field": v.where.field,
	"start": v.where.start,
	"end": v.where.end,
	"replacement": sprintf("[REDACTED:%s]", [_rules[v.rule].custom.redact_as]),
} |
	_config.action == "redact"
	_config.mode == "enforce"
	some v in violations
]

# --- what the policy reads -------------------------------------------------------------------

_text := input.text if is_string(input.text) else := ""

_all := [[["text"], _text]]

_findings := detect.findings(_config.pii, _all, {"text": _text, "digits": detect.digits_view(_config.pii, _text)})

# --- the rules -------------------------------------------------------------------------------
# Every violation names one of these rules, and its message, category and severity are that
# rule's annotations; redact_as names the replacement ("[REDACTED:ssn]"). The rules are the kinds
# of data.json's scans (compiled from specs/policies.yaml).

# METADATA
# title: email address
# custom:
#   category: pii
#   severity: medium
#   redact_as: email
_rules.pii_email := rego.metadata.rule()

# METADATA
# title: phone number
# custom:
#   category: pii
#   severity: medium
#   redact_as: phone
_rules.pii_phone := rego.metadata.rule()

# METADATA
# title: US social security number
# custom:
#   category: pii
#   severity: high
#   redact_as: ssn
_rules.pii_ssn := rego.metadata.rule()

# METADATA
# title: payment card number (Luhn-valid)
# custom:
#   category: pii
#   severity: high
#   redact_as: credit_card
_rules.pii_credit_card := rego.metadata.rule()

# METADATA
# title: IP address
# custom:
#   category: pii
#   severity: low
#   redact_as: ip_address
_rules.pii_ip_address := rego.metadata.rule()

# METADATA
# title: secret (access key, API token or private key)
# custom:
#   category: secret
#   severity: critical
#   redact_as: secret
_rules.secret := rego.metadata.rule()

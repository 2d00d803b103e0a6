# Policy Version: 3.2.5
# METADATA
# title: Output policy
# description: >-
#   Checks what a model answered before it reaches the client: personal data and secrets. Input:
#   {"model", "texts": [{"field", "text"}]}, the texts of an answer as the gateway's endpoint
#   readers list them (for a stream, the texts of one window).
#   With action "redact" an enforcing decision lists the spans to mask; with "block" the answer
#   is withheld. Patterns, the action and the enforcement mode come from
#   data.gateway.config.output (compiled from specs/policies.yaml).
# authors:
#   - Platform security <platform-security@example.com>
# custom:
#   version: 3.2.5
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
} else := {
	"allow": true,
	"mode": _config.mode,
	"policy_version": policy_version,
	"violations": [],
	"redactions": [],
} if {
	# the common case, nothing found: the decision without sorting, ranking or redacting nothing
	_findings == []
} else := {
	"allow": allow,
	"mode": _config.mode,
	"policy_version": policy_version,
	"violations": violations,
	"redactions": redactions,
}

# enforce withholds an answer with a violation at or above the spec's block_at severity unless
# the redactions are applied: a caller that cannot redact (say, text already streamed) must block.
# monitor reports and lets it pass.
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

_inner := detect.inside_others(_findings)

_violations contains detect.violation(finding, detect.pii_rules) if {
	some finding in _findings
	not [finding.field, object.get(finding, "start", -1), object.get(finding, "end", -1), finding.kind] in _inner
}

# What to mask, in text order, when the action is redact and the mode enforces: "[REDACTED:ssn]"
# for a pii_ssn violation, "[REDACTED:secret]" for a secret. A value split over two texts has a
# span in each. The rules are the PII rules of rego/lib/detect.rego.
redactions := [{
	"field": v.where.field,
	"start": v.where.start,
	"end": v.where.end,
	"replacement": sprintf("[REDACTED:%s]", [trim_prefix(v.rule, "pii_")]),
} |
	_config.action == "redact"
	_config.mode == "enforce"
	some v in violations
	is_number(v.where.start)
]

# --- what the policy reads -------------------------------------------------------------------

# [field, text] of each text of the answer, as the gateway's endpoint readers list them
# (runtime/endpoints): input.texts = [{"field": "choices[0].message.content", "text": …}]. A
# separator character in a text (which would move every finding after it into the next field)
# reads as a space.
_all := [[t.field, replace(t.text, detect.SEP, " ")] | some t in input.texts; is_string(t.text)]

# Over the size cap: one violation, nothing scanned. Over the match cap: one violation, nothing
# located. Nothing found (the common case): no placing, no junctions read.
_findings := [{
	"kind": "limit_text_size", "field": "texts",
	"chars": _prepared.chars, "limit": _config.limits.max_text_chars,
}] if {
	_prepared.chars > _config.limits.max_text_chars
} else := [] if {
	_hits == {}
	_runs == []
	_junctions == []
} else := [{"kind": "limit_matches", "field": "texts", "limit": _config.limits.max_matches}] if {
	sum([n | some n in _hits]) > _config.limits.max_matches
} else := array.concat(_located, _junctions)

_prepared := detect.prepared(_config.fold, _all)

_views := {"text": _prepared.text, "digits": detect.digits_view(_config.pii, _prepared.text)}

# how far the scans count: one past the cap says the cap is crossed
_hits := detect.gate_hits(_config.pii, _views, _config.limits.max_matches + 1)

_located := detect.placed([f[0] | some f in _all], _prepared, array.concat(detect.spans(_config.pii, _views, _hits), _decoded))

# A value split over two texts has a digit (or a secret's prefix: "0" in the digits view) a few
# characters before a separator (data: junction.gate): without one, no junction is read.
_junctions := [] if {
	count(_all) < 2
} else := [] if {
	not regex.match(_config.junction.gate, _views.digits)
} else := detect.junction_findings(_config.pii, _all, _config.junction.window)

# Encoded runs (base64, hex, %-encoding), decoded and scanned again: PII inside is reported as
# that PII at the run, and redacted whole.
_runs := detect.encoded_runs(_config.decode, _prepared.text, lower(_views.digits))

_decoded := [[run[0], run[1], kind] |
	some run in _runs
	views := {"text": run[2], "digits": detect.digits_view(_config.pii, run[2])}
	kinds := {s[2] | some s in detect.spans(_config.pii, views, detect.gate_hits(_config.pii, views, _config.limits.max_matches + 1))}
	some kind in kinds
]

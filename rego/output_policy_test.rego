# Tests of rego/output_policy.rego against the data the specs compile to (gatewayctl test-policies).
# Every test sets the mode and action it needs, so the environment whose data is loaded does not
# matter. The output policy of the example specs looks for SSNs, payment cards and secrets.
package gateway.output_test

import data.gateway.output

_decide(text, mode, action) := d if {
	d := output.decision with input as _answer(text)
		with data.gateway.config.output.mode as mode
		with data.gateway.config.output.action as action
}

# An answer as the gateway's readers hand it to the policy (runtime/endpoints), one text named "text".
_answer(text) := {"model": "chat-default", "texts": [{"field": "text", "text": text}]}

_rules(text) := {v.rule | some v in _decide(text, "enforce", "redact").violations}

_ssn_violation := {
	"rule": "pii_ssn",
	"category": "pii",
	"severity": "high",
	"message": "US social security number",
	"where": {"field": "text", "start": 13, "end": 24},
}

test_enforce_redact_lists_what_to_mask if {
	_decide("Your SSN is: 123-45-6789.", "enforce", "redact") == {
		"allow": false,
		"mode": "enforce",
		"policy_version": output.policy_version,
		"violations": [_ssn_violation],
		"redactions": [{"field": "text", "start": 13, "end": 24, "replacement": "[REDACTED:ssn]"}],
	}
}

test_enforce_block_withholds_without_redactions if {
	_decide("Your SSN is: 123-45-6789.", "enforce", "block") == {
		"allow": false,
		"mode": "enforce",
		"policy_version": output.policy_version,
		"violations": [_ssn_violation],
		"redactions": [],
	}
}

test_monitor_reports_and_redacts_nothing if {
	d := _decide("Your SSN is: 123-45-6789.", "monitor", "redact")
	d.allow == true
	d.mode == "monitor"
	[v.rule | some v in d.violations] == ["pii_ssn"]
	d.redactions == []
}

test_off_is_not_evaluated if {
	_decide("Your SSN is: 123-45-6789.", "off", "redact") == {
		"allow": true,
		"mode": "off",
		"policy_version": output.policy_version,
		"violations": [],
		"redactions": [],
	}
}

test_clean_answer_is_allowed if {
	_decide("The capital of France is Paris.", "enforce", "redact") == {
		"allow": true,
		"mode": "enforce",
		"policy_version": output.policy_version,
		"violations": [],
		"redactions": [],
	}
}

test_every_match_is_redacted_in_text_order if {
	d := _decide("key AKIAIOSFODNN7EXAMPLE and card 4111 1111 1111 1111", "enforce", "redact")
	d.redactions == [
		{"field": "text", "start": 4, "end": 24, "replacement": "[REDACTED:secret]"},
		{"field": "text", "start": 34, "end": 53, "replacement": "[REDACTED:credit_card]"},
	]
}

test_redaction_spans_are_code_points if {
	d := _decide("Ünïcödé → 123-45-6789", "enforce", "redact")
	d.redactions == [{"field": "text", "start": 10, "end": 21, "replacement": "[REDACTED:ssn]"}]
}

test_secret_split_over_lines_is_still_a_private_key if {
	_rules("here:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE") == {"secret"}
}

test_card_near_misses if {
	_rules("order 4111 1111 1111 1112") == set()
	_rules("call 555-123-4567") == set() # phones are not on the output policy's list
}

test_ssn_near_misses if {
	_rules("ticket 000-12-3456") == set()
	_rules("ref 123-45-67890") == set()
}

test_kinds_come_from_data if {
	d := output.decision with input as _answer("write to a@b.io")
		with data.gateway.config.output.mode as "enforce"
		with data.gateway.config.output.pii as data.gateway.config.prompt.pii
	[v.rule | some v in d.violations] == ["pii_email"]
}

test_each_text_of_an_answer_is_read_and_named if {
	body := {"model": "chat-default", "texts": [
		{"field": "choices[0].message.content", "text": "Done."},
		{"field": "choices[0].message.tool_calls[0].function.arguments", "text": "{\"ssn\": \"123-45-6789\"}"},
	]}
	d := output.decision with input as body
		with data.gateway.config.output.mode as "enforce"
		with data.gateway.config.output.action as "redact"
	d.redactions == [{
		"field": "choices[0].message.tool_calls[0].function.arguments",
		"start": 9, "end": 20, "replacement": "[REDACTED:ssn]",
	}]
}

# A value written with invisible characters, other dashes or other digits is redacted whole, on
# the original text (the invisible characters inside the span).
test_folded_values_are_redacted_on_the_original if {
	_decide("SSN 123-4\u200b5-6789", "enforce", "redact").redactions == [
		{"field": "text", "start": 4, "end": 16, "replacement": "[REDACTED:ssn]"},
	]
	_decide("SSN 123\u201145\u20136789.", "enforce", "redact").redactions == [
		{"field": "text", "start": 4, "end": 15, "replacement": "[REDACTED:ssn]"},
	]
	arabic_indic_card := "card \u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661"
	_decide(arabic_indic_card, "enforce", "redact").redactions == [
		{"field": "text", "start": 5, "end": 24, "replacement": "[REDACTED:credit_card]"},
	]
}

test_encoded_values_are_redacted_as_the_run if {
	# base64 of "123-45-6789"
	_decide("id: MTIzLTQ1LTY3ODk= ok", "enforce", "redact").redactions == [
		{"field": "text", "start": 4, "end": 20, "replacement": "[REDACTED:ssn]"},
	]
	_rules("the build hash is 3f2a9c0d4e5b6a7c8d9e0f1a2b3c4d5e") == set()
}

test_a_value_split_over_two_texts_is_redacted_in_both if {
	body := {"model": "chat-default", "texts": [
		{"field": "choices[0].message.content", "text": "SSN 123-45-"},
		{"field": "choices[1].message.content", "text": "6789 done"},
	]}
	d := output.decision with input as body
		with data.gateway.config.output.mode as "enforce"
		with data.gateway.config.output.action as "redact"
	d.redactions == [
		{"field": "choices[0].message.content", "start": 4, "end": 11, "replacement": "[REDACTED:ssn]"},
		{"field": "choices[1].message.content", "start": 0, "end": 4, "replacement": "[REDACTED:ssn]"},
	]
}

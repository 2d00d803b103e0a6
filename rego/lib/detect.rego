# METADATA
# title: Detection helpers shared by the prompt and output policies
# description: >-
#   Finds where a compiled matcher matches a text. Matchers come from data.json (compiled from
#   specs/policies.yaml): a pattern (RE2), the view of the text it runs on, literal gates, and an
#   optional check of the matched text. Offsets are code points, end exclusive: in Python,
#   text[start:end] is the match.
# authors:
#   - Platform security <platform-security@example.com>
package gateway.lib.detect

# Every digit 0-9 becomes "0" in the digits view. Its length is the text's, so offsets carry
# over, and a pattern that starts with a literal ("000-00-0000\b") lets the regex engine jump
# from digit to digit instead of trying every position of the text.
digits_view(text) := strings.replace_n(
	{"1": "0", "2": "0", "3": "0", "4": "0", "5": "0", "6": "0", "7": "0", "8": "0", "9": "0"},
	text,
)

# Every match of matcher m in one text, as {"field", "start", "end"}. view is the text the pattern
# runs on (the text itself, its digits view or its lower-cased form; all have the text's length).
find(m, field, text, view) := [where |
	_gates_open(m, view)
	some span in _spans_with_boundary(m, view)
	passes(m.check, substring(text, span[0], span[1] - span[0]))
	where := {"field": field, "start": span[0], "end": span[1]}
]

# Gates are literals searched with a plain substring search, which costs next to nothing; the
# pattern runs only when they occur at least min_gates times in all (or when there are none).
_gates_open(m, _) if count(m.gates) == 0

_gates_open(m, view) if {
	m.min_gates == 1
	some gate in m.gates
	contains(view, gate)
}

_gates_open(m, view) if {
	m.min_gates > 1
	sum([strings.count(view, gate) | some gate in m.gates]) >= m.min_gates
}

# Patterns on the digits view start with a literal instead of \b (a leading \b would cost the
# literal search), so a match must not start inside a word or a number: checked here. A match
# that fails the check may hide a real one right after it ("12345 4111 1111 1111 1111"): the
# pattern runs once more on the text after the word the bad match started in.
_spans_with_boundary(m, view) := _spans(m.pattern, view) if m.view != "digits"

_spans_with_boundary(m, view) := array.concat(
	[span | some span in found; _starts_word(view, span[0])],
	[retried | some span in found; not _starts_word(view, span[0]); some retried in _retry(m.pattern, view, span)],
) if {
	m.view == "digits"
	found := _spans(m.pattern, view)
}

_starts_word(_, 0)

_starts_word(view, start) if {
	start > 0
	not regex.match(`[\pL\pN_]`, substring(view, start - 1, 1))
}

_retry(pattern, view, span) := array.slice(_retried(pattern, view, span), 0, 1)

_retried(pattern, view, span) := [[from + s[0], from + s[1]] |
	rest := substring(view, span[0], -1)
	word := regex.find_n(`^[\pL\pN_]+`, rest, 1)[0]
	from := span[0] + count(word)
	some s in _spans(pattern, substring(view, from, (span[1] - span[0]) + 64))
	_starts_word(view, from + s[0])
]

# [start, end] of every non-overlapping match of pattern in text, leftmost first. Rego has no
# regex builtin that reports positions: regex.split gives the text between the matches, so the
# start of match i is the length of everything before it.
_spans(pattern, text) := [[start, start + count(m)] |
	found := regex.find_n(pattern, text, -1)
	count(found) > 0
	between := regex.split(pattern, text)
	some i, m in found
	start := count(concat("", array.slice(between, 0, i + 1))) + count(concat("", array.slice(found, 0, i)))
]

# --- checks on the matched text ----------------------------------------------------------------

default passes(_, _) := false

passes("none", _)

passes("luhn", matched) if luhn(_digits(matched))

passes("ssn", matched) if ssn(_digits(matched))

passes("ipv4", matched) if {
	every octet in split(matched, ".") {
		to_number(octet) <= 255
	}
}

# E.164 allows at most 15 digits; fewer than 8 is a short code or a number in a list.
passes("phone", matched) if {
	n := count(_digits(matched))
	n >= 8
	n <= 15
}

# An IPv6 address has at most eight groups and, in text people write, some decimal digit: this
# keeps C++'s std::vector, Ruby's Foo::Bar and a lone ::1 out.
passes("ipv6", matched) if {
	groups := [g | some g in split(matched, ":"); g != ""]
	count(groups) >= 2
	count(groups) <= 8
	regex.match(`[0-9]`, matched)
}

_digits(s) := regex.replace(s, `[^0-9]`, "")

# The Luhn checksum of payment card numbers: random digit runs fail it nine times out of ten.
luhn(digits) if {
	n := count(digits)
	n >= 12
	total := sum([_luhn_value(to_number(d), n - i) | some i, d in split(digits, "")])
	total % 10 == 0
}

# position counts from the right, starting at 1: every second digit is doubled.
_luhn_value(d, position) := d if position % 2 == 1

_luhn_value(d, position) := (d * 2) - 9 if {
	position % 2 == 0
	d > 4
}

_luhn_value(d, position) := d * 2 if {
	position % 2 == 0
	d <= 4
}

# US SSNs never have area 000, 666 or 9xx, group 00 or serial 0000.
ssn(digits) if {
	count(digits) == 9
	area := substring(digits, 0, 3)
	not area in {"000", "666"}
	not startswith(area, "9")
	substring(digits, 3, 2) != "00"
	substring(digits, 5, 4) != "0000"
}

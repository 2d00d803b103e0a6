# METADATA
# title: Detection shared by the prompt and output policies
# description: >-
#   Runs the compiled scans of data.json over a request's texts and says where they match. The
#   compiler (compiler/policy_data.py) turns the detectors of specs/policies.yaml into scans
#   shaped for OPA's regex engine; this module runs them. Offsets are code points, end
#   exclusive: in Python, text[start:end] is the match.
# authors:
#   - Platform security <platform-security@example.com>
package gateway.lib.detect

# Why the data has this shape. OPA's regex engine (Go's regexp) tries a pattern at every position
# of the text unless the pattern starts with a literal, which it finds with a fast substring
# search; and every Rego expression evaluated costs about as much as scanning a few hundred
# bytes. So:
# - each scan's pattern starts with a literal where it can: the PII patterns on digits run on a
#   copy of the text where every digit is "0" ("000-00-0000\b"), the jailbreak phrases on the
#   lower-cased text start with their first word ("ignore…");
# - a leading \b would hide that literal, so "does not start inside a word" is checked here;
# - the few patterns that cannot start with a literal (an email address) are "gated": they run
#   only when their gate, a plain substring ("@"), occurs (min_gates times);
# - all texts of a request are joined (by "\n") and scanned once, not one by one;
# - the cheapest path, no match at all, is three expressions per scan.

# The digits view: every digit 0-9, and the first character of each mark ("AKIA" → "0KIA"),
# becomes "0" (config.digits, from data.json); same length, so offsets carry over.
digits_view(config, text) := strings.replace_n(config.digits, text)

# Each finding of the scans in the joined text of fields ([field name, text] pairs), as
# {"kind", "field", "start", "end"} relative to its field. config is the data.json shape compiler/policy_data.py writes:
# {"by_view": {view: [pattern]}, "gated": [{"pattern", "view", "gate", "min_gates"}],
#  "scans": {pattern: {"word_start", "lead", "kinds"}}}. views: {"text": …, "digits": …}, the texts the
# scans run on, all as long as the joined text; views.text is what the checks read.
findings(config, fields, views) := array.concat(
	[f |
		some name, patterns in config.by_view
		view := views[name]
		some pattern in patterns
		found := regex.find_n(pattern, view, -1)
		found != []
		some f in _findings(config.scans[pattern], pattern, view, found, fields, views.text)
	],
	[f |
		some scan in config.gated
		strings.count(views.text, scan.gate) >= scan.min_gates
		view := views[scan.view]
		found := regex.find_n(scan.pattern, view, -1)
		found != []
		some f in _findings(config.scans[scan.pattern], scan.pattern, view, found, fields, views.text)
	],
)

_findings(scan, pattern, view, found, fields, text) := [finding |
	some at in _spans(scan.word_start, pattern, view, found)
	some span in _with_lead(scan.lead, at, view)
	some kind in scan.kinds
	_is(kind, span[2])
	passes(kind.check, substring(text, span[0], span[1] - span[0]))
	finding := object.union({"kind": kind.kind}, _in_field(fields, span[0], span[1]))
]

# A PII match inside a longer one is the same value seen twice ("+4915112345678" is a phone
# number, not also a card number 4915112345678): only the longer one counts.
inside_another(finding, findings) if {
	some other in findings
	other.field == finding.field
	other.start <= finding.start
	finding.end <= other.end
	[other.start, other.end] != [finding.start, finding.end]
}

# A pattern that starts in the middle of what it finds (IPv6 at its first colon) has a lead: a
# pattern for what comes before, run on the few characters before the match. No lead, no finding.
_with_lead(null, span, _) := [span]

_with_lead(lead, span, view) := [[span[0] - count(m[1]), span[1], concat("", [m[1], span[2]])] |
	from := max([0, span[0] - lead.window])
	some m in regex.find_all_string_submatch_n(lead.pattern, substring(view, from, span[0] - from), 1)
] if {
	lead != null
}

# A scan that finds several kinds (one pattern for cards, phones, SSNs and IPv4 on the digits
# view) says which one matched with each kind's own anchored pattern.
_is(kind, _) if kind.full == ""

_is(kind, matched) if {
	kind.full != ""
	regex.match(kind.full, matched)
}

# Map an offset of the joined text back to the field it came from; a match that runs over the
# end of its field (a phrase split over two messages) is cut there.
_in_field(fields, start, end) := {"field": fields[i][0], "start": start - first, "end": min([end - first, n])} if {
	lens := [count(f[1]) | some f in fields]
	some i, n in lens
	first := sum(array.slice(lens, 0, i)) + i
	start >= first
	start < (first + n) + 1
}

# [start, end, matched view text, "word" when a word character is just before] of each match,
# leftmost first. Rego has no regex builtin that reports positions: regex.split gives the text
# between the matches, so the start of match i is the length of everything before it.
_positions(pattern, view, found) := [[start, start + found_lens[i], m, _char_before(between, found, i)] |
	between := regex.split(pattern, view)
	between_lens := [count(b) | some b in between]
	found_lens := [count(m) | some m in found]
	some i, m in found
	start := sum(array.slice(between_lens, 0, i + 1)) + sum(array.slice(found_lens, 0, i))
]

_WORD_CHARS := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"

# Is the text just before match i a word character? (ASCII, like RE2's \b.)
_char_before(between, found, i) := "word" if _after_word(between, found, i)

_char_before(between, found, i) := "" if not _after_word(between, found, i)

_after_word(between, _, i) if {
	between[i] != ""
	trim_right(between[i], _WORD_CHARS) != between[i]
}

_after_word(between, found, i) if {
	between[i] == ""
	i > 0
	trim_right(found[i - 1], _WORD_CHARS) != found[i - 1]
}

# The matches that do not start inside a word (when the scan asks for it). A match that does can
# hide a real one that overlaps it ("2345 4111 1111 1111" in "12345 4111 1111 1111 1111"): the
# pattern runs once more, on the text after the rejected match's first character.
_spans(false, pattern, view, found) := _positions(pattern, view, found)

_spans(true, pattern, view, found) := array.concat(
	[p | some p in positions; p[3] != "word"],
	[r | some p in positions; p[3] == "word"; some r in _retry(pattern, view, p)],
) if {
	positions := _positions(pattern, view, found)
}

_retry(pattern, view, p) := array.slice(
	[[from + s[0], from + s[1], s[2], s[3]] |
		some s in _positions(pattern, window, regex.find_n(pattern, window, -1))
		s[3] != "word"
		not _hidden_word_start(s, p[2])
	],
	0, 1,
) if {
	from := p[0] + 1
	window := substring(view, from, (p[1] - p[0]) + 64)
}

# A match at the very start of the retry window follows the first character of the rejected one.
_hidden_word_start(s, rejected) if {
	s[0] == 0
	first := substring(rejected, 0, 1)
	trim_right(first, _WORD_CHARS) != first
}

# --- the PII rules both policies report ------------------------------------------------------
# A finding's kind is the rule that reports it; its message, category and severity are that
# rule's annotations (rego.metadata.rule() is resolved when the policy is compiled).

# METADATA
# title: email address
# custom:
#   category: pii
#   severity: medium
pii_rules.pii_email := rego.metadata.rule()

# METADATA
# title: phone number
# custom:
#   category: pii
#   severity: medium
pii_rules.pii_phone := rego.metadata.rule()

# METADATA
# title: US social security number
# custom:
#   category: pii
#   severity: high
pii_rules.pii_ssn := rego.metadata.rule()

# METADATA
# title: payment card number (Luhn-valid)
# custom:
#   category: pii
#   severity: high
pii_rules.pii_credit_card := rego.metadata.rule()

# METADATA
# title: IP address
# custom:
#   category: pii
#   severity: low
pii_rules.pii_ip_address := rego.metadata.rule()

# METADATA
# title: secret (access key, API token or private key)
# custom:
#   category: secret
#   severity: critical
pii_rules.secret := rego.metadata.rule()

# The violation for a finding ({"kind", "field", "start", "end"}) of one of the rules.
violation(finding, rules) := {
	"rule": finding.kind,
	"category": rules[finding.kind].custom.category,
	"severity": rules[finding.kind].custom.severity,
	"message": rules[finding.kind].title,
	"where": object.remove(finding, ["kind"]),
}

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
# From the right, every second digit is doubled (and 9 taken off above 9); _LUHN_PAIRS holds
# what each pair of digits (read right to left) adds, so a card number is eight lookups.
luhn(digits) if {
	count(digits) >= 12
	pairs := regex.find_n(`..?`, strings.reverse(digits), -1)
	sum([_LUHN_PAIRS[p] | some p in pairs]) % 10 == 0
}

# "ab": a + (2b, less 9 above 9); "a": a, for a last single digit
_LUHN_PAIRS := {
	"0": 0, "00": 0, "01": 2, "02": 4, "03": 6, "04": 8, "05": 1, "06": 3, "07": 5, "08": 7, "09": 9,
	"1": 1, "10": 1, "11": 3, "12": 5, "13": 7, "14": 9, "15": 2, "16": 4, "17": 6, "18": 8, "19": 10,
	"2": 2, "20": 2, "21": 4, "22": 6, "23": 8, "24": 10, "25": 3, "26": 5, "27": 7, "28": 9, "29": 11,
	"3": 3, "30": 3, "31": 5, "32": 7, "33": 9, "34": 11, "35": 4, "36": 6, "37": 8, "38": 10, "39": 12,
	"4": 4, "40": 4, "41": 6, "42": 8, "43": 10, "44": 12, "45": 5, "46": 7, "47": 9, "48": 11, "49": 13,
	"5": 5, "50": 5, "51": 7, "52": 9, "53": 11, "54": 13, "55": 6, "56": 8, "57": 10, "58": 12, "59": 14,
	"6": 6, "60": 6, "61": 8, "62": 10, "63": 12, "64": 14, "65": 7, "66": 9, "67": 11, "68": 13, "69": 15,
	"7": 7, "70": 7, "71": 9, "72": 11, "73": 13, "74": 15, "75": 8, "76": 10, "77": 12, "78": 14, "79": 16,
	"8": 8, "80": 8, "81": 10, "82": 12, "83": 14, "84": 16, "85": 9, "86": 11, "87": 13, "88": 15, "89": 17,
	"9": 9, "90": 9, "91": 11, "92": 13, "93": 15, "94": 17, "95": 10, "96": 12, "97": 14, "98": 16, "99": 18,
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

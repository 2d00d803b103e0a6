# METADATA
# title: Detection shared by the prompt and output policies
# description: >-
#   Normalises a request's texts, runs the compiled scans of data.json over them and says where
#   they match. The compiler (compiler/policy_data.py) turns specs/policies.yaml into scans shaped
#   for OPA's regex engine and into the normalisation tables; this module runs them. Offsets are
#   code points of the ORIGINAL text, end exclusive: in Python, text[start:end] is the match.
# authors:
#   - Platform security <platform-security@example.com>
package gateway.lib.detect

# Why the code has this shape (measured with bench/policy.py; docs/benchmarks.md).
# - OPA's regex engine (Go's regexp) tries an unanchored pattern at every position unless it
#   starts with a literal, which it finds by substring search. So each scan runs on a view where
#   its pattern starts with a literal (digits as "0", the first letter of phrase words marked, base64
#   characters as "a"), and on ordinary prose the engine jumps from one occurrence to the next.
# - A decision costs about 0.3 µs per evaluation step: the common path (nothing found) is a short
#   chain of rules, each ending in an `else` as soon as it knows there is nothing to do (no
#   placing, no junctions, no sorting of no violations).
# - strings.replace_n costs a pass over the text per key of its table, and more per character it
#   replaces: the tables are small (the fold table of ~1,700 entries is used whole only for text
#   with many characters outside ASCII), and plain text skips folding after one trim.
# - Every step is linear in the input. Positions come from one regex.replace that puts a marker
#   before each match and one indexof_n over the result (start of match i = index of marker i
#   minus i); the character before a match and the field a match belongs to come from split and
#   from one sort that merges the matches with the field separators (or the deleted characters),
#   never from a sum or a substring per match over the whole text (that was quadratic).
# - Hard caps (data: limits.max_text_chars, limits.max_matches): over them a request gets one
#   limit violation and no scan at all.

# Separator of the joined texts, marker of matches, mark of deleted characters: control
# characters the fold table deletes from the texts, so they cannot come from the input.
SEP := "\u001e"

_AT := "\u0002"

_GONE := "\u0003"

_WORD_CHARS := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"

# --- normalisation -------------------------------------------------------------------------------

# The texts as the scans read them: {"text": the folded text (as long as joined, but for the
# deleted characters, which are gone), "deleted": where they were (see _unshift), "joined": the
# texts joined by SEP, "chars": how many characters the texts have}. Folding: Unicode
# compatibility forms (fullwidth, mathematical letters and digits), every script's digits, dashes,
# spaces and homoglyphs become ASCII; zero-width, bidi and soft-hyphen characters and control
# characters are deleted (data: fold). Plain text (printable ASCII, tab, line breaks), the common
# case, is read as it is: trim with those characters as the cutset leaves nothing of it.
prepared(fold, fields) := {"text": joined, "deleted": [], "joined": joined, "chars": chars} if {
	joined := concat(SEP, [f[1] | some f in fields])
	trim(joined, fold.plain) == ""
	chars := count(joined) - strings.count(joined, SEP)
} else := {"text": text, "deleted": deleted, "joined": joined, "chars": count(joined) - strings.count(joined, SEP)} if {
	joined := concat(SEP, [f[1] | some f in fields])
	folded := strings.replace_n(_fold_table(fold, trim(joined, fold.plain)), joined)
	deleted := _deleted(folded)
	text := _kept(folded, deleted)
}

# The part of the fold table for the characters a text has outside fold.plain (rest: the text
# from the first to the last of them), or the whole table when there are many: OPA sorts the
# table's keys on every call, and the whole table is ~1,700 entries (~0.2 ms).
_fold_table(fold, rest) := {c: r | some c in found; r := fold.table[c]} if {
	found := regex.find_n(fold.special, rest, fold.small + 1)
	count(found) <= fold.small
} else := fold.table

_deleted(folded) := [] if {
	not contains(folded, _GONE)
} else := [k | some i, d in indexof_n(folded, _GONE); k := d - i]

_kept(folded, []) := folded

_kept(folded, deleted) := replace(folded, _GONE, "") if deleted != []

# The jailbreak view of a folded text, given lower-cased: leetspeak folded (data: leet), the first
# letter of every word a phrase starts with marked (data: marks). Same length as the text.
phrase_view(config, lowered) := replaced(config.marks, strings.replace_n(config.leet, lowered))

# text with each pass of a table (up to 8) applied by strings.replace_n, in order: one rule per
# number of passes, so a table of n passes costs n calls. OPA's Go engine replaces a table's keys
# at once, its WebAssembly target one key after the other: the compiler splits a table into
# passes of keys that cannot touch in any text, where the two agree
# (compiler/replacement_passes.py).
replaced([], text) := text

replaced([p0], text) := strings.replace_n(p0, text)

replaced([p0, p1], text) := strings.replace_n(p1, t0) if {
	t0 := strings.replace_n(p0, text)
}

replaced([p0, p1, p2], text) := strings.replace_n(p2, t1) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
}

replaced([p0, p1, p2, p3], text) := strings.replace_n(p3, t2) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
	t2 := strings.replace_n(p2, t1)
}

replaced([p0, p1, p2, p3, p4], text) := strings.replace_n(p4, t3) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
	t2 := strings.replace_n(p2, t1)
	t3 := strings.replace_n(p3, t2)
}

replaced([p0, p1, p2, p3, p4, p5], text) := strings.replace_n(p5, t4) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
	t2 := strings.replace_n(p2, t1)
	t3 := strings.replace_n(p3, t2)
	t4 := strings.replace_n(p4, t3)
}

replaced([p0, p1, p2, p3, p4, p5, p6], text) := strings.replace_n(p6, t5) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
	t2 := strings.replace_n(p2, t1)
	t3 := strings.replace_n(p3, t2)
	t4 := strings.replace_n(p4, t3)
	t5 := strings.replace_n(p5, t4)
}

replaced([p0, p1, p2, p3, p4, p5, p6, p7], text) := strings.replace_n(p7, t6) if {
	t0 := strings.replace_n(p0, text)
	t1 := strings.replace_n(p1, t0)
	t2 := strings.replace_n(p2, t1)
	t3 := strings.replace_n(p3, t2)
	t4 := strings.replace_n(p4, t3)
	t5 := strings.replace_n(p5, t4)
	t6 := strings.replace_n(p6, t5)
}

# The digits view: every digit, and the first character of each mark ("AKIA" → "0KIA"), is "0";
# then every run of data.long_run zeros is "x"s. A number that long holds no value the scans
# look for, and in a long run of digits the regex engine would try every position with every
# pattern (~1.5 µs a digit: 0.3 s for 200,000 digits); as "x"s they are a word the matches after
# them cannot start inside.
digits_view(config, text) := replace(replaced(config.digits, text), config.long_run[0], config.long_run[1])

# --- scanning ------------------------------------------------------------------------------------

# {pattern: matches} of the scans that find something in their view, each counted up to cap (one
# past limits.max_matches: a request over limits.max_matches is not located at all). config: the data.json shape
# of compiler/policy_data.py: {"run": [{"pattern", "view"}], "gated": [{"pattern", "view", "gate",
# "min_gates"}], "scans": {pattern: {"locate", "locate_view", "word_start", "lead", "kinds"}}}; a
# gated scan runs only where its gate occurs at least min_gates times.
gate_hits(config, views, cap) := _hits(config.run, views, cap) if {
	config.gated == []
} else := object.union(_hits(config.run, views, cap), {scan.pattern: n |
	some scan in config.gated
	strings.count(views.text, scan.gate) >= scan.min_gates
	n := count(regex.find_n(scan.pattern, views[scan.view], cap))
	n > 0
})

_hits(run, views, cap) := {scan.pattern: n |
	some scan in run
	n := count(regex.find_n(scan.pattern, views[scan.view], cap))
	n > 0
}

# [start, end, kind] of every accepted match of the scans that hit: a scan's locate pattern runs
# on its locate view (the folded text for PII, the phrase view for jailbreak phrases) to say
# where and what; the kind's anchored pattern, context and check decide.
spans(config, views, hits) := [s |
	some pattern, _ in hits
	some s in _scan_spans(config.scans[pattern], views)
]

# [start, end, kind] of each accepted match of one scan, in the coordinates of views.text.
_scan_spans(scan, views) := [[span[0], span[1], kind.kind] |
	some at in _spans(scan, views[scan.locate_view])
	some span in _with_lead(scan.lead, at)
	some kind in scan.kinds
	_is(kind, span[2])
	_in_context(kind.context, span[4])
	passes(kind.check, span[2])
]

# A kind may want words before a match ("SSN" before nine bare digits: want true) or refuse them
# ("version" before 10.2.3.4: want false), in the window characters before it.
_in_context(null, _)

_in_context(context, before) if {
	context != null
	n := count(before)
	regex.match(context.pattern, substring(before, max([0, n - context.window]), -1)) == context.want
}

# [start, end, matched text, "word" when a word character is just before, the text before it
# (back to the previous match's start), the text after it (up to the next match)] of each match
# of pattern in view, leftmost first. Linear: see the header.
positions(pattern, view) := [[start, start + count(m), m, _word_before(parts[i]), parts[i], after] |
	found := regex.find_n(pattern, view, -1)
	marked := regex.replace(view, pattern, concat("", [_AT, "${0}"]))
	at := indexof_n(marked, _AT)
	parts := split(marked, _AT)
	count(at) == count(found)
	some i, m in found
	start := at[i] - i
	after := substring(parts[i + 1], count(m), -1)
]

_word_before(before) := "word" if {
	before != ""
	trim_right(before, _WORD_CHARS) != before
} else := ""

# The matches of a scan. A bounded scan's locate pattern is (^|non-word)(value): it starts only
# where a value may start (not inside a word or number), so the regex engine drops a thread after
# one character inside a long number instead of carrying one per start position (a long run of
# digits cost ~1 µs a digit). Other scans that must not start inside a word drop such matches: a
# match that does can hide a real one that overlaps it ("2345 4111 1111 1111" in "12345 4111 1111
# 1111 1111"): the pattern runs once more, on what follows the rejected match's first character.
_spans(scan, view) := _bounded_positions(scan.locate, view) if {
	scan.bounded
} else := positions(scan.locate, view) if {
	not scan.word_start
} else := array.concat(
	[p | some p in located; p[3] != "word"],
	[r | some i, p in located; p[3] == "word"; some r in _retry(scan.locate, p, concat("", [p[5], _next_match(located, i)]))],
) if {
	located := positions(scan.locate, view)
}

# positions() of the value group (the second) of a bounded pattern: the marker goes between the
# boundary and the value.
_bounded_positions(pattern, view) := [[start, start + count(m[2]), m[2], "", parts[i], after] |
	found := regex.find_all_string_submatch_n(pattern, view, -1)
	marked := regex.replace(view, pattern, concat("", ["${1}", _AT, "${2}"]))
	at := indexof_n(marked, _AT)
	parts := split(marked, _AT)
	count(at) == count(found)
	some i, m in found
	start := at[i] - i
	after := substring(parts[i + 1], count(m[2]), -1)
]

_next_match(located, i) := located[i + 1][2] if i + 1 < count(located)

_next_match(located, i) := "" if i + 1 == count(located)

_retry(pattern, p, rest) := array.slice(
	[[from + s[0], from + s[1], s[2], s[3], s[4], s[5]] |
		some s in positions(pattern, window)
		s[3] != "word"
		not _hidden_word_start(s, p[2])
	],
	0, 1,
) if {
	from := p[0] + 1
	window := substring(concat("", [substring(p[2], 1, -1), rest]), 0, count(p[2]) + 63)
}

_hidden_word_start(s, rejected) if {
	s[0] == 0
	first := substring(rejected, 0, 1)
	trim_right(first, _WORD_CHARS) != first
}

# A pattern that starts in the middle of what it finds (IPv6 at its first colon) has a lead: a
# pattern for what comes before, run on the few characters before the match. No lead, no finding.
_with_lead(null, span) := [span]

_with_lead(lead, span) := [[span[0] - count(m[1]), span[1], concat("", [m[1], span[2]]), span[3], span[4], span[5]] |
	before := span[4]
	n := count(before)
	some m in regex.find_all_string_submatch_n(lead.pattern, substring(before, max([0, n - lead.window]), -1), 1)
] if {
	lead != null
}

# A scan that finds several kinds says which one matched with each kind's own anchored pattern.
_is(kind, _) if kind.full == ""

_is(kind, matched) if {
	kind.full != ""

	# regex.find_n, not regex.match: OPA's WebAssembly module compiles the patterns of its own
	# regex builtins anew on every evaluation (their cache lives on the heap each evaluation
	# resets), ~0.1 s for a jailbreak category's; the host's regex.find_n keeps them compiled.
	regex.find_n(kind.full, matched, 1) != []
}

# --- from the scanned text back to the fields -------------------------------------------------------

# Spans ([start, end, kind] in the folded text) as findings in the original fields: deleted
# characters put back, then cut into fields. A match that runs over the end of its field (a
# phrase split over two messages) is reported in the first, cut at its end.
placed(_, _, []) := []

placed(fields, prepared, spans) := [f |
	some s in spans
	start := unshifted[s[0]]
	end := unshifted[s[1] - 1] + 1
	field := fields_of[start]
	first := _field_start(seps, field)
	f := {"kind": s[2], "field": fields[field], "start": start - first, "end": min([end, _field_end(prepared, seps, field)]) - first}
] if {
	spans != []
	seps := indexof_n(prepared.joined, SEP)
	points := {p | some s in spans; some p in [s[0], s[1] - 1]}
	unshifted := _unshift(prepared.deleted, points)
	fields_of := _count_below(seps, {unshifted[p] | some p in points})
}

_field_start(_, 0) := 0

_field_start(seps, i) := seps[i - 1] + 1 if i > 0

_field_end(_, seps, i) := seps[i] if i < count(seps)

_field_end(prepared, seps, i) := count(prepared.joined) if i == count(seps)

# {p: p + the number of deleted characters before kept position p}. deleted holds, for each
# deleted character, the kept position it stood before (ascending).
_unshift([], points) := {p: p | some p in points}

_unshift(deleted, points) := {p: q | some p, n in _count_upto(deleted, points); q := p + n} if deleted != []

# {p: how many marks are <= p} (_count_upto) and {p: how many are < p} (_count_below), for every
# point: one sort merges the points with the (ascending) marks; a point's index in the merge less
# its rank among the points is the number of marks before it.
_count_upto(marks, points) := {e[0]: n |
	sorted := sort(points)
	rank := {p: r | some r, p in sorted}
	merged := sort(array.concat([[m, 0] | some m in marks], [[p, 1] | some p in sorted]))
	some i, e in merged
	e[1] == 1
	n := i - rank[e[0]]
}

_count_below([], points) := {p: 0 | some p in points}

_count_below(marks, points) := {e[0]: n |
	sorted := sort(points)
	rank := {p: r | some r, p in sorted}
	merged := sort(array.concat([[m, 1] | some m in marks], [[p, 0] | some p in sorted]))
	some i, e in merged
	e[1] == 0
	n := i - rank[e[0]]
} if {
	marks != []
}

# A PII match inside a longer one is the same value seen twice ("+4915112345678" is a phone
# number, not also a card number 4915112345678): only the longer one counts. The findings
# inside another, as [field, start, end, kind]: sorted by field, start and longest first, a
# finding is compared with the few before it (matches of values are short and rarely overlap),
# not with every other one.
inside_others(findings) := {[f.field, f.start, f.end, f.kind] |
	sorted := sort([[g.field, g.start, 0 - g.end, g.kind, g] | some g in findings])
	some i, e in sorted
	f := e[4]
	some j in numbers.range(max([0, i - 8]), i - 1)
	other := sorted[j][4]
	other.field == f.field
	other.start <= f.start
	f.end <= other.end
	[other.start, other.end] != [f.start, f.end]
}

# --- values split over two texts -------------------------------------------------------------------

# Texts that follow each other are read together at their junction: the last and first
# data.junction characters of two neighbours, glued, are scanned again for the values of the digits
# view (numbers and keys, not e-mail addresses), and a value that crosses
# the junction ("123-45-" then "6789") is reported in both texts, each its own part.
junction_findings(config, fields, window) := [] if {
	count(fields) < 2
} else := [] if {
	window == 0
} else := [f |
	some i in numbers.range(1, count(fields) - 1)
	a := fields[i - 1][1]
	tail := substring(a, max([0, count(a) - window]), -1)
	glued := concat("", [tail, substring(fields[i][1], 0, window)])

	# a value there has a digit, or starts with a secret's prefix (data: starts)
	regex.match(config.starts, glued)
	views := {"text": glued, "digits": digits_view(config, glued)}
	some s in spans(config, views, gate_hits({"run": config.junction_run, "gated": []}, views, 17))
	s[0] < count(tail)
	s[1] > count(tail)
	some f in [
		{"kind": s[2], "field": fields[i - 1][0], "start": (count(a) - count(tail)) + s[0], "end": count(a)},
		{"kind": s[2], "field": fields[i][0], "start": 0, "end": s[1] - count(tail)},
	]
]

# --- decode and scan again -------------------------------------------------------------------------

# Runs that may hide text (base64, hex, %-encoding, letters spaced out), decoded and scanned
# again: a finding inside is reported at the run. [[start, end, decoded text]] of at most
# decode.max_runs runs in all, each decoded from its first decode.max_run_chars characters (what
# a run hides further on is not read: the work per request stays bounded). data: decode =
# {"shape", "runs": [{"gate", "view", "locate"}], "max_runs", "max_run_chars"}
# (compiler/policy_data.py): each kind's gate runs on the shape of the text, where it starts with
# a literal, so ordinary prose costs one replace_n and a substring search per kind.
encoded_runs(decode, text, lowered_digits) := [] if {
	decode.runs == []
} else := [[p[0], p[1], d] |
	shape := strings.replace_n(decode.shape, lowered_digits)
	found := [p |
		some run in decode.runs
		regex.match(run.gate, shape)
		some p in array.slice(positions(run.locate, {"shape": shape, "text": text}[run.view]), 0, decode.max_runs)
	]
	some p in array.slice(found, 0, decode.max_runs)
	d := _decoded(substring(text, p[0], min([p[1] - p[0], decode.max_run_chars])))
	d != ""
	_is_text(d)
]

# Decoded bytes that are UTF-8 text without U+FFFD: binary (a key, an image) hides no words, and
# OPA's WebAssembly target aborts on such bytes where its Go engine reads each as U+FFFD. The two
# regexes say the same in both engines: Go matches any byte with "." and a bad one as U+FFFD, the
# module's RE2 matches no bad byte with ".".
_is_text(d) if {
	regex.match(`^(?s:.)*$`, d)
	not regex.match(`\x{fffd}`, d)
}

_decoded(run) := base64.decode(run) if {
	regex.match(`^[A-Za-z0-9+/]+={0,2}$`, run)
	count(run) % 4 == 0
	base64.is_valid(run)
} else := hex.decode(run) if {
	regex.match(`^(?:[0-9A-Fa-f]{2})+$`, run)
} else := hex.decode(replace(run, `\x`, "")) if {
	regex.match(`^(?:\\x[0-9A-Fa-f]{2})+$`, run)
} else := urlquery.decode(run) if {
	contains(run, "%")
	regex.match(`^(?:[^%]|%[0-9A-Fa-f]{2})+$`, run)
} else := replace(replace(replace(replace(run, "   ", "  "), "  ", "\u0004"), " ", ""), "\u0004", " ") if {
	regex.match(`^(?:[A-Za-z] {1,3})+[A-Za-z]$`, run)
} else := ""

# --- the PII rules both policies report ------------------------------------------------------
# A finding's kind is the rule that reports it; its message, category and severity are that
# rule's annotations (rego.metadata.rule() is resolved when the policy is compiled).

# METADATA
# title: email address
# custom:
#   category: pii
#   severity: medium
pii_rules["pii_email"] := rego.metadata.rule()

# METADATA
# title: phone number
# custom:
#   category: pii
#   severity: medium
pii_rules["pii_phone"] := rego.metadata.rule()

# METADATA
# title: US social security number
# custom:
#   category: pii
#   severity: high
pii_rules["pii_ssn"] := rego.metadata.rule()

# METADATA
# title: payment card number (Luhn-valid)
# custom:
#   category: pii
#   severity: high
pii_rules["pii_credit_card"] := rego.metadata.rule()

# METADATA
# title: IP address
# custom:
#   category: pii
#   severity: low
pii_rules["pii_ip_address"] := rego.metadata.rule()

# METADATA
# title: secret (access key, API token or private key)
# custom:
#   category: secret
#   severity: critical
pii_rules["secret"] := rego.metadata.rule()

# METADATA
# title: more text than the policy reads in one request
# custom:
#   category: limits
#   severity: high
pii_rules["limit_text_size"] := rego.metadata.rule()

# METADATA
# title: more matches than the policy locates in one request
# custom:
#   category: limits
#   severity: high
pii_rules["limit_matches"] := rego.metadata.rule()

# The violation for a finding ({"kind", "field", "start", "end"}) of one of the rules.
violation(finding, rules) := {
	"rule": finding.kind,
	"category": rules[finding.kind].custom.category,
	"severity": rules[finding.kind].custom.severity,
	"message": rules[finding.kind].title,
	"where": object.remove(finding, ["kind"]),
}

_SEVERITY_RANK := {"low": 1, "medium": 2, "high": 3, "critical": 4}

# Does a violation block? Those at or above the policy's block_at severity do; the others are
# only reported (the decision allows when no blocking one is left).
blocks(v, block_at) if _SEVERITY_RANK[v.severity] >= _SEVERITY_RANK[block_at]

# --- checks on the matched text ----------------------------------------------------------------

default passes(_, _) := false

passes("none", _)

passes("luhn", matched) if {
	digits := _digits(matched)
	luhn(digits)
	card_prefix(digits)
}

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

passes("ipv6", matched) if {
	groups := [g | some g in split(matched, ":"); g != ""]
	count(groups) >= 2
	count(groups) <= 8
	regex.match(`[0-9]`, matched)
}

_digits(s) := regex.replace(s, `[^0-9]`, "")

# Card numbers: a length and a prefix an issuer uses (Visa 4, 13/16/19; Mastercard 51-55 and
# 2221-2720, 16; Amex 34/37, 15; Discover 6011/64/65, 16-19; Diners 36/38/300-305, 14-16; JCB
# 3528-3589, 16-19; UnionPay 62, 16-19; Maestro 50/56-58/6, 12-19). An ISBN-13 (978/979) and
# other digit runs that happen to pass Luhn do not.
card_prefix(d) if {
	some rule in _CARD_PREFIXES
	regex.match(rule[0], d)
	count(d) in rule[1]
}

_CARD_PREFIXES := [
	[`^4`, {13, 16, 19}],
	[`^(?:5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)`, {16}],
	[`^3[47]`, {15}],
	[`^(?:6011|64[4-9]|65)`, {16, 17, 18, 19}],
	[`^(?:36|38|30[0-5])`, {14, 15, 16}],
	[`^35(?:2[89]|[3-8])`, {16, 17, 18, 19}],
	[`^62`, {16, 17, 18, 19}],
	[`^(?:50|5[6-8])`, {12, 13, 14, 15, 16, 17, 18, 19}],
]

# The Luhn checksum of payment card numbers: random digit runs fail it nine times out of ten.
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

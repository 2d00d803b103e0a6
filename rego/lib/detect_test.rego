package gateway.lib.detect_test

import data.gateway.lib.detect

# A table of n passes (none to eight) is applied pass after pass, in order: pass i turns "i" into
# "i+1", so "0" reads "n" only when every pass ran after the one before it.
test_a_table_of_passes_is_applied_in_order if {
	every n in numbers.range(0, 8) {
		passes := [{format_int(i, 10): format_int(i + 1, 10)} | some i in numbers.range(0, 7); i < n]
		detect.replaced(passes, "0 and 0") == sprintf("%d and %d", [n, n])
	}
}

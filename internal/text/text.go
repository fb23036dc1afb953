// Package text holds the string helpers several packages share.
package text

import "unicode/utf8"

// Truncate returns the longest prefix of s of at most n bytes that ends on
// a rune boundary, so valid UTF-8 stays valid (a database column or a log
// field never receives half a character). n < 0 counts as 0.
func Truncate(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

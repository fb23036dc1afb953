package strictcsv

import (
	"math"
	"strconv"
)

// ParseInt parses a decimal integer: an optional '-' then 1 to 18 ASCII
// digits, nothing else (no '+', spaces, underscores, exponent or decimal
// point). It reports false for anything else, so "1.0" and " 1" are not
// integers.
func ParseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

// ParseFloat parses a finite decimal number: an optional sign, digits with
// an optional fraction (".5" and "5." are accepted), and an optional
// exponent. It rejects what strconv.ParseFloat would also accept but a
// spreadsheet would not write: "inf", "nan", hexadecimal, underscores and
// surrounding spaces; and values that overflow to infinity.
func ParseFloat(b []byte) (float64, bool) {
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		i++
	}
	digits := 0
	for i < len(b) && b[i]-'0' <= 9 {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i]-'0' <= 9 {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			i++
		}
		exp := 0
		for i < len(b) && b[i]-'0' <= 9 {
			i++
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

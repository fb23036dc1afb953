package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"mid two-byte rune", "aé", 2, "a"},
		{"after two-byte rune", "aéb", 3, "aé"},
		{"mid four-byte rune", "x😀y", 3, "x"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
		{"long non-ASCII file name", strings.Repeat("é", 200), 255, strings.Repeat("é", 127)},
	}
	for _, tc := range tests {
		if got := Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("%s: Truncate(%q, %d) = %q, want %q", tc.name, tc.s, tc.n, got, tc.want)
		}
	}
}

// FuzzTruncate: the result is a prefix of at most n bytes, valid UTF-8
// whenever the input is, and (for valid input) short of n by less than one
// rune.
func FuzzTruncate(f *testing.F) {
	f.Add("aé😀", 3)
	f.Add(strings.Repeat("ü", 300), 255)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Truncate(s, n)
		if !strings.HasPrefix(s, got) || len(got) > max(n, 0) && len(got) != len(s) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q is not valid UTF-8", s, n, got)
		}
		if utf8.ValidString(s) && n > 0 && len(s) > n && len(got) < n-utf8.UTFMax+1 {
			t.Fatalf("Truncate(%q, %d) = %q cut more than one rune", s, n, got)
		}
	})
}

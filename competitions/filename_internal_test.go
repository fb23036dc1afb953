package competitions

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A long non-ASCII file name is shortened on a character boundary, so the
// stored name stays valid UTF-8 (it was cut by bytes once, mid-character).
func TestCleanFilenameKeepsUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"preds.csv", "preds.csv"},
		{`C:\Users\ana\préds.csv`, "préds.csv"},
		{"../../etc/passwd", "passwd"},
		{"bad\xffname.csv", "submission.csv"},
		{strings.Repeat("é", 200) + ".csv", strings.Repeat("é", 127)},
	}
	for _, tc := range tests {
		got := cleanFilename(tc.in)
		if got != tc.want || !utf8.ValidString(got) || len(got) > 255 {
			t.Errorf("cleanFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

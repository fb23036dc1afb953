package humanize

import "testing"

func TestBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"zero", 0, "0 B"},
		{"below a KiB", 1023, "1023 B"},
		{"one KiB", 1024, "1.0 KiB"},
		{"training file", 26317, "25.7 KiB"},
		{"one MiB", 1 << 20, "1.0 MiB"},
		{"GiB", 5 << 29, "2.5 GiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Bytes(tc.n); got != tc.want {
				t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}

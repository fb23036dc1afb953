// Package humanize formats numbers for people, identically in the web UI and
// the CLI.
package humanize

import "fmt"

// Bytes formats n with a binary unit and one decimal: "512 B", "25.7 KiB",
// "1.0 MiB", "2.5 GiB".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

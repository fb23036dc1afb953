package strictcsv

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a CSV file, precise enough for a
// participant to find and fix it.
type Problem struct {
	// Row is the 1-based record number, the header being row 1; it equals
	// the line number unless a quoted field spans lines. 0 means the
	// problem concerns the file as a whole.
	Row int `json:"row,omitempty"`
	// Column is the column's name from the header, or "" when the problem
	// is not about one column.
	Column string `json:"column,omitempty"`
	// Value is the offending value, shortened and quoted for display, or
	// "" when there is none.
	Value string `json:"value,omitempty"`
	// Message says what is wrong, in lowercase, without the location.
	Message string `json:"message"`
}

// String renders the problem as "row 5, column "Survived", value "2": must
// be 0 or 1".
func (p Problem) String() string {
	var b strings.Builder
	if p.Row > 0 {
		fmt.Fprintf(&b, "row %d", p.Row)
	}
	if p.Column != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "column %q", p.Column)
	}
	if p.Value != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("value ")
		b.WriteString(p.Value)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// maxShown is how many bytes of an offending value a Problem shows.
const maxShown = 48

// Show renders an offending value for Problem.Value: Go-quoted (so invalid
// UTF-8 and control characters are visible) and cut to a readable length.
func Show(v []byte) string {
	if len(v) > maxShown {
		return strconv.Quote(string(v[:maxShown])) + "..."
	}
	return strconv.Quote(string(v))
}

// DefaultMaxProblems is how many problems a Problems collects unless told
// otherwise.
const DefaultMaxProblems = 20

// Problems collects problems up to a cap and counts the ones beyond it.
// The zero value is not usable; call NewProblems.
type Problems struct {
	list    []Problem
	max     int
	dropped int
	stopped bool
}

// NewProblems returns a collector that keeps at most max problems (at
// least 1; DefaultMaxProblems when max <= 0).
func NewProblems(max int) *Problems {
	if max <= 0 {
		max = DefaultMaxProblems
	}
	return &Problems{max: max}
}

// Add records p, or counts it as dropped when the collector is full.
func (ps *Problems) Add(p Problem) {
	if len(ps.list) >= ps.max {
		ps.dropped++
		return
	}
	ps.list = append(ps.list, p)
}

// Len is the number of problems kept.
func (ps *Problems) Len() int { return len(ps.list) }

// Full reports whether the cap is reached, so a caller may stop looking.
func (ps *Problems) Full() bool { return len(ps.list) >= ps.max }

// SortByRow orders the problems by row, stably, with problems about the
// whole file (row 0) last.
func (ps *Problems) SortByRow() {
	key := func(p Problem) int {
		if p.Row == 0 {
			return math.MaxInt
		}
		return p.Row
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return key(ps.list[i]) < key(ps.list[j]) })
}

// Stop records that the search stopped at the cap, so the error says there
// may be more problems.
func (ps *Problems) Stop() { ps.stopped = true }

// Err returns nil when no problem was added, else an *InvalidError holding
// them in the order they were added.
func (ps *Problems) Err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &InvalidError{Problems: append([]Problem(nil), ps.list...), More: ps.dropped, Stopped: ps.stopped}
}

// InvalidError reports that a file breaks the rules. Its problems are safe
// to show to whoever supplied the file: they quote only that file's own
// content and the column names of the format.
type InvalidError struct {
	Problems []Problem
	// More counts the problems found beyond the cap and not listed. The
	// reader may stop looking once the cap is reached, so it is a lower
	// bound.
	More int
	// Stopped is true when checking stopped once the cap was reached, so
	// the rest of the file was not checked.
	Stopped bool
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid file: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "; and %d more", e.More)
	}
	if e.Stopped {
		fmt.Fprintf(&b, " (stopped after %d problems)", len(e.Problems))
	}
	return b.String()
}

// Lines renders one problem per line, for a terminal.
func (e *InvalidError) Lines() string {
	var b strings.Builder
	for _, p := range e.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "... and %d more problems\n", e.More)
	}
	if e.Stopped {
		fmt.Fprintf(&b, "... stopped after %d problems; the rest of the file was not checked\n", len(e.Problems))
	}
	return b.String()
}

// Command testsum reads `go test -json` on stdin and prints what a person
// reads from plain `go test` (each package's ok/FAIL line, the full output
// of every failed test, and the reason of every skipped one) followed by one closing tally line:
//
//	tests: N passed, N failed, N skipped
//
// It exits 1 when any test or package failed, or when no test ran at all, so
// `make test` cannot pass on an empty run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	ok, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// summarize copies the readable part of the event stream r to w, ends with
// the tally line, and reports whether the run passed: no failure and at
// least one passing test.
func summarize(r io.Reader, w io.Writer) (bool, error) {
	var passed, failed, skipped int
	pkgFailed := false
	outputs := map[string][]string{} // package/test -> output lines, kept until the test ends
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not JSON: a build error or similar, printed as is.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "output":
			if e.Test == "" {
				// Package-level lines: keep ok/FAIL/build output visible.
				if s := strings.TrimRight(e.Output, "\n"); strings.HasPrefix(s, "ok") || strings.HasPrefix(s, "FAIL") ||
					strings.HasPrefix(s, "---") || strings.HasPrefix(s, "panic") || strings.Contains(s, "[no test files]") {
					fmt.Fprintln(w, s)
				}
				continue
			}
			outputs[key] = append(outputs[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(outputs, key)
		case "skip":
			if e.Test != "" {
				// A skip says why; show it so a skip is never silent.
				skipped++
				fmt.Fprintf(w, "skipped %s %s:\n%s", e.Package, e.Test, strings.Join(outputs[key], ""))
			}
			delete(outputs, key)
		case "fail":
			if e.Test == "" {
				pkgFailed = true
				continue
			}
			failed++
			fmt.Fprint(w, strings.Join(outputs[key], ""))
			delete(outputs, key)
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read go test -json: %w", err)
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return failed == 0 && !pkgFailed && passed > 0, nil
}

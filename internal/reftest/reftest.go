// Package reftest locates the pandas + sklearn reference scorer
// (../shared/bench/reference_score.py beside the repository) for tests that
// check MedForge's scores against it.
//
// Under `make test` (MEDFORGE_TEST_STRICT=1) a missing reference or a missing
// /usr/bin/python3 fails the test, so the agreement checks can never be
// skipped silently in CI; elsewhere the test is skipped with the reason.
package reftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Python is the interpreter the reference runs under (Debian's, which has
// python3-pandas and python3-sklearn).
const Python = "/usr/bin/python3"

// Script returns the path of reference_score.py, or ends the test (see the
// package doc) when it or Python is missing.
func Script(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	p := filepath.Join(root, "..", "shared", "bench", "reference_score.py")
	missing := func(format string, args ...any) {
		tb.Helper()
		if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
			tb.Fatalf(format+" (MEDFORGE_TEST_STRICT is set: make test needs it)", args...)
		}
		tb.Skipf(format, args...)
	}
	if _, err := os.Stat(p); err != nil {
		missing("reference scorer not found: %v", err)
	}
	if _, err := os.Stat(Python); err != nil {
		missing("%s not found (apt-get install python3-pandas python3-sklearn)", Python)
	}
	return p
}

// Sklearn ends the test (as Script does) unless Python can import
// sklearn, and returns Python. Tests pair it with a reference script the
// repository keeps in its own testdata.
func Sklearn(tb testing.TB) string {
	tb.Helper()
	missing := func(format string, args ...any) {
		tb.Helper()
		if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
			tb.Fatalf(format+" (MEDFORGE_TEST_STRICT is set: make test needs it)", args...)
		}
		tb.Skipf(format, args...)
	}
	if _, err := os.Stat(Python); err != nil {
		missing("%s not found (apt-get install python3-sklearn)", Python)
	}
	if out, err := exec.Command(Python, "-c", "import sklearn.metrics").CombinedOutput(); err != nil {
		missing("%s cannot import sklearn (apt-get install python3-sklearn): %v: %s", Python, err, out)
	}
	return Python
}

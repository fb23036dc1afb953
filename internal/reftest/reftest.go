// Package reftest runs MedForge's own pandas + sklearn reference scorer
// (reference.py, embedded here) for tests that check MedForge's scores
// against an independent implementation.
//
// The repository holds everything these tests need: the reference lives in
// this package, not beside the repository. The outside pandas peer
// (reference_score.py in the shared bench folder) is for `make bench` only.
//
// Under `make test` (MEDFORGE_TEST_STRICT=1) a missing /usr/bin/python3,
// pandas or sklearn fails the test, so the agreement checks can never be
// skipped silently in CI; elsewhere the test is skipped with the reason.
package reftest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Python is the interpreter the reference runs under (Debian's, which has
// python3-pandas and python3-sklearn).
const Python = "/usr/bin/python3"

//go:embed reference.py
var script []byte

// Job is one data set to score: a built-in competition slug and the paths of
// its holdout CSV and a submission CSV.
type Job struct {
	Competition, Holdout, Submission string
}

// Answer is the reference's verdict on one Job: a primary score and the
// scored row count, or the reason it rejected the submission.
type Answer struct {
	Score *float64 `json:"score"`
	Rows  int      `json:"rows"`
	Error string   `json:"error"`
}

// Score scores every job in one Python process (pandas loads once) and
// returns the answers in job order. It ends the test (see the package doc)
// when Python, pandas or sklearn is missing.
func Score(tb testing.TB, jobs []Job) []Answer {
	tb.Helper()
	if _, err := os.Stat(Python); err != nil {
		missing(tb, "%s not found (apt-get install python3-pandas python3-sklearn)", Python)
	}
	path := filepath.Join(tb.TempDir(), "reference.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		tb.Fatal(err)
	}
	var in bytes.Buffer
	for _, j := range jobs {
		for _, f := range []string{j.Competition, j.Holdout, j.Submission} {
			if strings.ContainsAny(f, "\t\n") {
				tb.Fatalf("reftest: job field %q holds a tab or newline", f)
			}
		}
		fmt.Fprintf(&in, "%s\t%s\t%s\n", j.Competition, j.Holdout, j.Submission)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python, path)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "ModuleNotFoundError") {
			missing(tb, "reference scorer needs pandas and sklearn (apt-get install python3-pandas python3-sklearn): %s", lastLine(stderr.String()))
		}
		tb.Fatalf("reference scorer: %v: %s", err, stderr.String())
	}
	var answers []Answer
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var a Answer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			tb.Fatalf("reference scorer answered %q: %v", sc.Text(), err)
		}
		answers = append(answers, a)
	}
	if len(answers) != len(jobs) {
		tb.Fatalf("reference scorer answered %d of %d jobs: %s", len(answers), len(jobs), stderr.String())
	}
	return answers
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
		tb.Fatalf(format+" (MEDFORGE_TEST_STRICT is set: make test needs it)", args...)
	}
	tb.Skipf(format, args...)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Sklearn ends the test (as Score does) unless Python can import
// sklearn, and returns Python. Tests pair it with a reference script the
// repository keeps in its own testdata.
func Sklearn(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(Python); err != nil {
		missing(tb, "%s not found (apt-get install python3-sklearn)", Python)
	}
	if out, err := exec.Command(Python, "-c", "import sklearn.metrics").CombinedOutput(); err != nil {
		missing(tb, "%s cannot import sklearn (apt-get install python3-sklearn): %v: %s", Python, err, out)
	}
	return Python
}

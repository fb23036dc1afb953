package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/scorers/scorertest"
)

type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stacktest.Bin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return cliRun{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestScoreCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	f, err := synth.Generate(spec.Titanic, 3, 418)
	require.NoError(t, err)
	hold := write("holdout.csv", f.Holdout)
	sub := write("sub.csv", f.Submission(4, synth.SubmissionOptions{Noise: 0.25, Shuffle: true}))
	perfect := write("perfect.csv", f.Submission(4, synth.SubmissionOptions{}))
	bad := write("bad.csv", []byte("PassengerId,Survived\n890,2\n9999,1\n"))
	acc := scorertest.Build(t, "accuracy")
	notWasm := write("bad.wasm", []byte("not a module"))
	arrow := filepath.Join(dir, "holdout.arrow")

	imp := runCLI(t, "holdout", "import", "--competition", spec.Titanic, hold, arrow)
	require.Equal(t, 0, imp.code, imp.stderr)
	var impOut struct {
		Units  int    `json:"units"`
		Digest string `json:"digest"`
	}
	require.NoError(t, json.Unmarshal([]byte(imp.stdout), &impOut))
	require.Equal(t, 418, impOut.Units)

	score := func(holdout, submission string, extra ...string) cliRun {
		args := append([]string{"score", "--competition", spec.Titanic, "--holdout", holdout, "--submission", submission, "--cache-dir", cache, "--scorer", acc}, extra...)
		return runCLI(t, args...)
	}
	type result struct {
		Primary       *float64 `json:"primary_score"`
		Rows          int      `json:"rows"`
		HoldoutDigest string   `json:"holdout_digest"`
		ScorerDigest  string   `json:"scorer_digest"`
		EngineVersion string   `json:"engine_version"`
	}
	parse := func(r cliRun) result {
		var res result
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stdout), "\n")+1, "one JSON line: %q", r.stdout)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		require.NotNil(t, res.Primary)
		return res
	}

	fromCSV := parse(score(hold, sub))
	fromArrow := parse(score(arrow, sub))
	require.Equal(t, *fromCSV.Primary, *fromArrow.Primary)
	require.Equal(t, 418, fromCSV.Rows)
	require.Equal(t, impOut.Digest, fromCSV.HoldoutDigest)
	require.Equal(t, impOut.Digest, fromArrow.HoldoutDigest)
	require.True(t, strings.HasPrefix(fromCSV.ScorerDigest, "sha256:"))
	require.Equal(t, "medforge-engine/1", fromCSV.EngineVersion)
	require.Equal(t, 1.0, *parse(score(hold, perfect)).Primary)
	// An author's module via --scorer: the C build of accuracy agrees.
	fromC := parse(runCLI(t, "score", "--competition", spec.Titanic, "--holdout", hold, "--submission", sub, "--cache-dir", cache,
		"--scorer", scorertest.Build(t, "accuracy-c")))
	require.Equal(t, *fromCSV.Primary, *fromC.Primary)
	require.NotEqual(t, fromCSV.ScorerDigest, fromC.ScorerDigest)

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"invalid submission", []string{"score", "--competition", spec.Titanic, "--holdout", hold, "--submission", bad, "--cache-dir", cache, "--scorer", acc}, 2,
			[]string{`row 2, column "Survived", value "2": must be 0 or 1`, `row 3, column "PassengerId", value "9999": unknown id`, "ids of the test set are missing"}},
		{"empty submission", []string{"score", "--competition", spec.Titanic, "--holdout", hold, "--submission", write("empty.csv", nil), "--cache-dir", cache, "--scorer", acc}, 2, []string{"file is empty"}},
		{"missing submission file", []string{"score", "--competition", spec.Titanic, "--holdout", hold, "--submission", filepath.Join(dir, "nope.csv"), "--cache-dir", cache, "--scorer", acc}, 2, []string{"open submission"}},
		{"unknown competition", []string{"score", "--competition", "nope", "--holdout", hold, "--submission", sub}, 2, []string{"unknown competition"}},
		{"missing flags", []string{"score", "--competition", spec.Titanic}, 2, []string{"required"}},
		{"missing holdout", []string{"score", "--competition", spec.Titanic, "--holdout", filepath.Join(dir, "nope.arrow"), "--submission", sub, "--cache-dir", cache, "--scorer", acc}, 1, []string{"read holdout"}},
		{"holdout of another competition", []string{"score", "--competition", spec.CIFAR, "--holdout", arrow, "--submission", sub, "--cache-dir", cache, "--scorer", acc}, 1, []string{"arrow field"}},
		{"module rejected", []string{"score", "--competition", spec.Titanic, "--holdout", hold, "--submission", sub, "--cache-dir", cache, "--scorer", notWasm}, 1, []string{"load scorer"}},
		{"invalid holdout import", []string{"holdout", "import", "--competition", spec.Titanic, write("badhold.csv", []byte("PassengerId,Survived\n1,0\n1,1\n")), filepath.Join(dir, "x.arrow")}, 2, []string{`row 3, column "PassengerId", value "1": duplicate id, first seen at row 2`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			require.Equal(t, tc.code, r.code, "stdout %q stderr %q", r.stdout, r.stderr)
			require.Empty(t, r.stdout)
			for _, w := range tc.stderr {
				require.Contains(t, r.stderr, w)
			}
		})
	}
}

// TestScoreCommandBuiltinModules scores each competition without --scorer,
// taking the built-in module from $MEDFORGE_SCORERS_DIR as `make test`
// sets it.
func TestScoreCommandBuiltinModules(t *testing.T) {
	t.Parallel()
	if os.Getenv("MEDFORGE_SCORERS_DIR") == "" {
		if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
			t.Fatal("MEDFORGE_SCORERS_DIR is not set, and MEDFORGE_TEST_STRICT says make test runs this")
		}
		t.Skip("MEDFORGE_SCORERS_DIR is not set (make test sets it)")
	}
	for _, slug := range spec.BuiltinSlugs() {
		dir := t.TempDir()
		f, err := synth.Generate(slug, 5, 100)
		require.NoError(t, err)
		hold, sub := filepath.Join(dir, "h.csv"), filepath.Join(dir, "s.csv")
		require.NoError(t, os.WriteFile(hold, f.Holdout, 0o600))
		require.NoError(t, os.WriteFile(sub, f.Submission(6, synth.SubmissionOptions{Noise: 0.2}), 0o600))
		r := runCLI(t, "score", "--competition", slug, "--holdout", hold, "--submission", sub, "--cache-dir", filepath.Join(dir, "cache"))
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, `"primary_score":`)
	}
}

// medforge score scores breast-cancer-diagnosis like the built-in
// competitions: its contract (id,malignant, roc-auc, higher is better) with
// the built-in roc-auc module from the scorers folder.
func TestScoreBreastCancer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, sample, hold, err := bundle.BreastCancerFiles()
	require.NoError(t, err)
	hp, sp := filepath.Join(dir, "holdout.csv"), filepath.Join(dir, "sub.csv")
	require.NoError(t, os.WriteFile(hp, hold, 0o600))
	require.NoError(t, os.WriteFile(sp, sample, 0o600))
	perfect := filepath.Join(dir, "perfect.csv")
	require.NoError(t, os.WriteFile(perfect, hold, 0o600))
	for file, want := range map[string]float64{sp: 0.5, perfect: 1} {
		r := runCLI(t, "score", "--competition", spec.BreastCancer, "--holdout", hp, "--submission", file,
			"--scorer", scorertest.Build(t, "roc-auc"), "--cache-dir", filepath.Join(dir, "cache"))
		require.Equal(t, 0, r.code, r.stderr)
		var res struct {
			Primary float64 `json:"primary_score"`
			Rows    int     `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		require.Equal(t, want, res.Primary)
		require.Equal(t, 170, res.Rows)
	}
}

// TestScoreRelativeCacheDir: `medforge score --cache-dir` with a relative
// path (as ops/bench/bench-score.sh passes) works although the sandbox's
// worker processes confine themselves from another working directory.
func TestScoreRelativeCacheDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := synth.Generate(spec.Titanic, 5, 50)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "h.csv"), f.Holdout, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s.csv"), f.Submission(6, synth.SubmissionOptions{}), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stacktest.Bin(t), "score", "--competition", spec.Titanic, "--holdout", "h.csv",
		"--submission", "s.csv", "--cache-dir", "cache", "--scorer", scorertest.Build(t, "accuracy"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `"primary_score":1`)
}

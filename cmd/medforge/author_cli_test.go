package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

// TestAuthorCLI authors a competition with medforge author against a
// served stack: a non-author is refused (exit 3); create, upload the
// holdout and public files, a broken scorer whose report fails (exit 9,
// the failing check printed) and whose publish is refused (exit 9); the
// fixed scorer is certified and the competition published. The server
// answers every request that needs a module run with 202 at once
// (MEDFORGE_SANDBOX_JOB_WAIT=0): the CLI polls the sandbox job, which the
// embedded worker runs, and asks again.
func TestAuthorCLI(t *testing.T) {
	t.Parallel()
	s := startCompetitorStack(t, "MEDFORGE_SANDBOX_JOB_WAIT=0")
	c := s.cli
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	d := bundle.BreastCancerDraft()
	d.Slug, d.Metric = "cli-cancer", "my-auc"
	dj, _ := json.Marshal(d)
	draft := write("draft.json", dj)
	if _, err := s.st.DB().Exec(`UPDATE users SET can_author = TRUE WHERE display_name = 'CLI Tester'`); err != nil {
		t.Fatal(err)
	}
	plain := testdb.APIToken(t, s.st, testdb.User(t, s.st, testdb.UserOpts{}).User)
	env := c.env
	c.env = append(append([]string(nil), env...), "MEDFORGE_TOKEN="+plain)
	if out, code := c.run("", "author", "create", draft); code != exitAuth || !strings.Contains(out, "can_author") {
		t.Fatalf("non-author create: exit %d: %s", code, out)
	}
	c.env = env
	out, code := c.run("", "author", "create", draft)
	if code != 0 || !strings.Contains(out, "Created draft cli-cancer") {
		t.Fatalf("create: exit %d: %s", code, out)
	}
	train, test, sample, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	out = c.ok("", "author", "upload", "--competition", "cli-cancer", "--kind", "holdout", write("holdout.csv", hold))
	if !strings.Contains(out, "Holdout version 1 of cli-cancer: 170 rows") || strings.Contains(out, string(hold[13:60])) {
		t.Fatalf("holdout: %s", out)
	}
	c.ok("", "author", "upload", "-c", "cli-cancer", "--kind", "training", write("train.csv", train))
	c.ok("", "author", "upload", "-c", "cli-cancer", "--kind", "public_eval", write("test.csv", test))
	c.ok("", "author", "upload", "-c", "cli-cancer", "--kind", "sample_submission", write("sample_submission.csv", sample))
	if out, code := c.run("", "author", "upload", "-c", "cli-cancer", "--kind", "answers", write("x.csv", sample)); code != exitUsage {
		t.Fatalf("bad kind: exit %d: %s", code, out)
	}
	c.ok("", "author", "scorer", "-c", "cli-cancer", "--version", "0.1", scorertest.BuildGo(t, "scorers/testdata/bad-inverted"))
	out, code = c.run("", "author", "report", "-c", "cli-cancer")
	if code != exitNotCertified || !strings.Contains(out, "FAIL  perfect") || !strings.Contains(out, "PASS  determinism") {
		t.Fatalf("report of a broken module: exit %d: %s", code, out)
	}
	out, code = c.run("", "author", "publish", "-c", "cli-cancer")
	if code != exitNotCertified || !strings.Contains(out, "check perfect") {
		t.Fatalf("publish of a broken module: exit %d: %s", code, out)
	}
	c.ok("", "author", "scorer", "-c", "cli-cancer", scorertest.Build(t, "roc-auc"))
	out = c.ok("", "author", "report", "-c", "cli-cancer", "--json")
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil || !rep.OK || len(rep.Checks) != 7 {
		t.Fatalf("report --json: %v: %s", err, out)
	}
	if out := c.ok("", "author", "publish", "-c", "cli-cancer"); !strings.Contains(out, "Published cli-cancer") {
		t.Fatalf("publish: %s", out)
	}
	var jobs int
	if err := s.st.DB().QueryRow(`SELECT COUNT(*) FROM sandbox_jobs WHERE kind = 'certify' AND status = 'done'`).Scan(&jobs); err != nil || jobs != 2 {
		t.Fatalf("certify jobs done: %d, %v (one per module, run by the worker)", jobs, err)
	}
}

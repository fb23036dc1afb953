package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/client"
	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

// competitorStack is bin/medforge serving a fresh seeded database, and a
// competitor with an API token.
type competitorStack struct {
	st    store.Store
	cli   *cli
	url   string
	token string
	dir   string
}

// startCompetitorStack serves a seeded database; env adds settings of the
// server (seeding runs with the defaults).
func startCompetitorStack(t *testing.T, env ...string) *competitorStack {
	t.Helper()
	st, dsn := testdb.FreshNamed(t, false)
	c := newCLI(t, dsn)
	c.env = append(c.env, "MEDFORGE_SCORING_WORKERS=1", "MEDFORGE_WORKER_POLL=200ms", "MEDFORGE_SESSIONS=off")
	c.ok("", "migrate", "up")
	c.ok("", "seed", "--admin-password-file", filepath.Join(t.TempDir(), "pw"))
	url := stacktest.Serve(t, c.bin, append(c.env, env...), 60*time.Second).URL
	u := testdb.User(t, st, testdb.UserOpts{DisplayName: "CLI Tester"})
	tok := testdb.APIToken(t, st, u.User)
	// A small cap so the over-cap answer is quick to reach.
	if _, err := st.DB().Exec(`UPDATE competitions SET daily_cap = 2 WHERE slug = 'titanic-survival'`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The CLI gets its server and token from the environment only, and a
	// config dir of its own so that a developer's file is never read.
	c.env = append(c.env, "MEDFORGE_API_URL="+url, "MEDFORGE_TOKEN="+tok, "XDG_CONFIG_HOME="+dir, "MEDFORGE_CONFIG=")
	return &competitorStack{st: st, cli: c, url: url, token: tok, dir: dir}
}

// runDir is the served process's MEDFORGE_RUN_DIR (its data roots): the
// last setting in the environment wins, as it does for the process, so a
// MEDFORGE_RUN_DIR that make exports is overridden by the test's own.
func (s *competitorStack) runDir() string {
	dir := ""
	for _, kv := range s.cli.env {
		if v, ok := strings.CutPrefix(kv, "MEDFORGE_RUN_DIR="); ok {
			dir = v
		}
	}
	return dir
}

func (s *competitorStack) sample(t *testing.T) string {
	t.Helper()
	res, err := http.Get(s.url + "/api/v2/datasets/titanic-survival/files/sample_submission.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	p := filepath.Join(s.dir, "predictions.csv")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompetitorCLI runs medforge submit, submissions and leaderboard
// against a served stack: a scored submission, human and JSON output, a
// rejected file, a bad token, an unknown competition, the daily cap and
// usage errors, each with its documented exit code.
func TestCompetitorCLI(t *testing.T) {
	t.Parallel()
	s := startCompetitorStack(t)
	c := s.cli
	good := s.sample(t)

	out := c.ok("", "submit", "--competition", "titanic-survival", "--wait", good)
	if !strings.Contains(out, "Submitted predictions.csv to titanic-survival as #") || !strings.Contains(out, "1 of 2 submissions left today") || !strings.Contains(out, "Scored: 0.") {
		t.Fatalf("submit --wait:\n%s", out)
	}

	out = c.ok("", "submissions", "titanic-survival")
	if !strings.Contains(out, "predictions.csv") || !strings.Contains(out, "scored") || !strings.Contains(out, "1 of 2 submissions left today") {
		t.Fatalf("submissions:\n%s", out)
	}
	out = c.ok("", "submissions", "titanic-survival", "--json")
	var mine client.MySubmissions
	if err := json.Unmarshal([]byte(out), &mine); err != nil || len(mine.Submissions) != 1 || mine.Submissions[0].Status != "scored" || mine.Submissions[0].PrimaryScore == nil {
		t.Fatalf("submissions --json (%v):\n%s", err, out)
	}

	out = c.ok("", "leaderboard", "titanic-survival")
	if !strings.Contains(out, "CLI Tester") || !strings.Contains(out, "RANK") || !strings.Contains(out, fmt.Sprintf("%.4f", *mine.Submissions[0].PrimaryScore)) {
		t.Fatalf("leaderboard:\n%s", out)
	}
	out = c.ok("", "leaderboard", "--json", "--limit", "5", "titanic-survival")
	var lb client.Leaderboard
	if err := json.Unmarshal([]byte(out), &lb); err != nil || len(lb.Entries) != 1 || lb.Entries[0].DisplayName != "CLI Tester" {
		t.Fatalf("leaderboard --json (%v):\n%s", err, out)
	}

	bad := filepath.Join(s.dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("id,label\n1,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"invalid file", nil, []string{"submit", "--competition", "titanic-survival", bad}, exitInvalid, "not a valid submission"},
		{"bad token", []string{"MEDFORGE_TOKEN=mfp_not-a-real-token"}, []string{"leaderboard", "titanic-survival"}, exitAuth, "MEDFORGE_TOKEN"},
		{"no token", []string{"MEDFORGE_TOKEN="}, []string{"submissions", "titanic-survival"}, exitUsage, "no API token"},
		{"unknown competition", nil, []string{"submissions", "no-such-competition"}, exitNotFound, "not found"},
		{"unreachable server", []string{"MEDFORGE_API_URL=http://127.0.0.1:1"}, []string{"leaderboard", "titanic-survival"}, exitUnreachable, "cannot reach"},
		{"missing file", nil, []string{"submit", "--competition", "titanic-survival", filepath.Join(s.dir, "nope.csv")}, exitUsage, "cannot read"},
		{"missing competition flag", nil, []string{"submit", good}, exitUsage, "--competition"},
		{"bad flag", nil, []string{"leaderboard", "--frobnicate", "titanic-survival"}, exitUsage, "frobnicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cc := &cli{t: t, bin: c.bin, env: append(append([]string(nil), c.env...), tc.env...)}
			out, code := cc.run("", tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("medforge %v: exit %d (want %d), output:\n%s", tc.args, code, tc.code, out)
			}
		})
	}

	// The second submission uses the cap of 2; the third is refused with
	// the cap's exit code, and --json puts the problem on stdout.
	c.ok("", "submit", "-c", "titanic-survival", good)
	out, code := c.run("", "submit", "--json", "--competition", "titanic-survival", good)
	if code != exitCapReached || !strings.Contains(out, `"code": "daily_cap_reached"`) || !strings.Contains(out, "retry after") {
		t.Fatalf("over the cap: exit %d:\n%s", code, out)
	}
}

// TestCompetitorConfigFile reads the API URL and token from the config
// file when the environment has none, and warns when others can read it.
func TestCompetitorConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "medforge", "config.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"api_url": "http://example.invalid:9/api/v2/", "token": "mfp_x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"XDG_CONFIG_HOME": dir}
	cfg, err := client.LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.APIURL != "http://example.invalid:9" || cfg.Token != "mfp_x" || cfg.Path != p || len(cfg.Warnings) != 1 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	env["MEDFORGE_TOKEN"], env["MEDFORGE_API_URL"] = "mfp_env", "https://api.medforge.example.org"
	cfg, err = client.LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.APIURL != "https://api.medforge.example.org" || cfg.Token != "mfp_env" {
		t.Fatalf("environment does not override the file: %+v, %v", cfg, err)
	}
	if err := os.WriteFile(p, []byte(`{"api_url": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("a broken config file must be an error naming it: %v", err)
	}
}

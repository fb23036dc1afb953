package httpcomp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/competitions/httpcomp"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunWorker()
	os.Exit(m.Run())
}

type tenv struct {
	*apitest.Env
	svc   *competitions.Service
	roots competitions.Roots
	slug  string
	b     *competitions.Bundle
	admin string // bearer tokens
	alice string
}

var (
	poolOnce sync.Once
	pool     *sandbox.Pool
)

func scorersDir(t *testing.T) string {
	dir := t.TempDir()
	for _, n := range []string{"accuracy", "accuracy-c"} {
		data, err := os.ReadFile(scorertest.Build(t, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".wasm"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs a real server with the competitions routes, an embedded worker,
// and one synthetic titanic-format competition.
func start(t *testing.T, cap int) *tenv { return startWith(t, cap, competitions.ScoringSettings{}) }

// startWith is start with the competition's scoring settings.
func startWith(t *testing.T, cap int, settings competitions.ScoringSettings) *tenv {
	t.Helper()
	return startDeps(t, cap, settings, nil)
}

// startDeps is startWith with a hook that adjusts the service's Deps.
func startDeps(t *testing.T, cap int, settings competitions.ScoringSettings, deps func(*competitions.Deps)) *tenv {
	t.Helper()
	return startFull(t, cap, settings, deps, nil)
}

// startFull is startDeps with a hook that adjusts the server's
// configuration.
func startFull(t *testing.T, cap int, settings competitions.ScoringSettings, deps func(*competitions.Deps), cfg func(*config.Config)) *tenv {
	t.Helper()
	poolOnce.Do(func() {
		var err error
		if pool, err = sandbox.New(sandbox.Options{Workers: 2}); err != nil {
			t.Fatal(err)
		}
	})
	st := testdb.Fresh(t)
	roots := competitions.Under(t.TempDir())
	d := competitions.Deps{Store: st, Engine: scoring.New(pool, submission.Limits{}), Roots: roots}
	if deps != nil {
		deps(&d)
	}
	svc, err := competitions.New(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := svc.NewWorker(competitions.WorkerOptions{Poll: 50 * time.Millisecond})
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	env := apitest.New(t, apitest.Options{Store: st, Config: cfg, Mount: func(s *httpapi.Server) {
		if err := httpcomp.Mount(s, svc, w); err != nil {
			t.Fatal(err)
		}
	}})
	sp, _ := spec.Builtin(spec.Titanic)
	sp.Slug = testdb.Unique("t")
	b, err := bundle.Synthetic(sp, "Titanic test", "synthetic data", 418, cap, scorersDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ictx, icancel := context.WithTimeout(context.Background(), time.Minute)
	defer icancel()
	b.Scoring = settings
	if _, err := svc.Install(ictx, 0, b); err != nil {
		t.Fatal(err)
	}
	te := &tenv{Env: env, svc: svc, roots: roots, slug: sp.Slug, b: b}
	te.admin = te.token(t, testdb.UserOpts{Admin: true, DisplayName: "admin"})
	te.alice = te.token(t, testdb.UserOpts{DisplayName: "alice"})
	return te
}

func (e *tenv) token(t *testing.T, o testdb.UserOpts) string {
	u := testdb.User(t, e.Store, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, secret, err := e.Server.Identity().CreateToken(ctx, u.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// upload posts a multipart form with file (and extra fields).
func (e *tenv) upload(t *testing.T, path, token, filename string, file []byte, fields map[string]string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(file)
	mw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response, want int, v any) []byte {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
	}
	if v != nil {
		var env struct{ Data json.RawMessage }
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Data, v); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestQuickstartOverHTTP(t *testing.T) {
	e := start(t, 20)
	// A competitor finds the competition, downloads the sample submission…
	var comp competitions.Competition
	e.Do(t, "GET", "/api/v2/competitions/"+e.slug, nil).Data(t, 200, &comp)
	if comp.DatasetSlug != e.slug || comp.DailyCap != 20 || comp.ScoringMode != "single_realtime_hidden" {
		t.Fatalf("competition %+v", comp)
	}
	var ds competitions.Dataset
	e.Do(t, "GET", "/api/v2/datasets/"+comp.DatasetSlug, nil).Data(t, 200, &ds)
	url := ""
	for _, f := range ds.Files {
		if f.Name == "sample_submission.csv" {
			url = f.URL
		}
	}
	resp := e.Do(t, "GET", url, nil)
	if resp.Status != 200 || !bytes.HasPrefix(resp.Body, []byte("PassengerId,Survived")) {
		t.Fatalf("download: %d %.80s", resp.Status, resp.Body)
	}
	// …submits it…
	var res competitions.SubmitResult
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", e.alice, "sample_submission.csv", resp.Body, nil), 201, &res)
	if res.RemainingToday != 19 || res.DailyCap != 20 || res.Submission.Status != "queued" {
		t.Fatalf("submit result %+v", res)
	}
	// …sees it scored…
	deadline := time.Now().Add(20 * time.Second)
	var mine httpcomp.MySubmissions
	for {
		mine = httpcomp.MySubmissions{}
		e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/submissions/me", nil, apitest.Bearer(e.alice)).Data(t, 200, &mine)
		if len(mine.Submissions) == 1 && mine.Submissions[0].Status == "scored" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not scored: %+v", mine)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// …and on the leaderboard.
	var lb competitions.Leaderboard
	e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/leaderboard", nil).Data(t, 200, &lb)
	if len(lb.Entries) != 1 || lb.Entries[0].DisplayName != "alice" || lb.Entries[0].Score != *mine.Submissions[0].PrimaryScore {
		t.Fatalf("leaderboard %+v", lb)
	}
}

func TestSubmissionProblems(t *testing.T) {
	e := start(t, 1)
	path := "/api/v2/competitions/" + e.slug + "/submissions"
	sample := e.b.Files[0].Data
	for _, f := range e.b.Files {
		if f.Kind == competitions.KindSampleSubmission {
			sample = f.Data
		}
	}
	t.Run("anonymous", func(t *testing.T) {
		resp := e.upload(t, path, "", "s.csv", sample, nil)
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("invalid file lists problems and keeps the cap", func(t *testing.T) {
		resp := e.upload(t, path, e.alice, "s.csv", []byte("PassengerId,Survived\n892,2\n"), nil)
		b := decode(t, resp, 422, nil)
		var p apitest.Problem
		json.Unmarshal(b, &p)
		if resp.Header.Get("Content-Type") != "application/problem+json" || p.Code != "invalid_submission" || len(p.Errors) == 0 {
			t.Fatalf("problem %s", b)
		}
		if !strings.Contains(string(b), "Survived") {
			t.Fatalf("problems do not name the column: %s", b)
		}
	})
	t.Run("missing file field", func(t *testing.T) {
		resp := e.upload(t, path, e.alice, "s.csv", nil, nil)
		if resp.StatusCode != 422 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("cap then 429 with Retry-After", func(t *testing.T) {
		decode(t, e.upload(t, path, e.alice, "s.csv", sample, nil), 201, nil)
		resp := e.upload(t, path, e.alice, "s.csv", sample, nil)
		b := decode(t, resp, 429, nil)
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 86400 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(string(b), "cap of 1") {
			t.Fatalf("detail lacks the cap: %s", b)
		}
	})
	t.Run("unknown competition", func(t *testing.T) {
		resp := e.upload(t, "/api/v2/competitions/nope/submissions", e.alice, "s.csv", sample, nil)
		if resp.StatusCode != 404 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestNoEndpointServesHoldoutBytes(t *testing.T) {
	e := start(t, 20)
	// Every holdout file on disk, and the holdout's distinctive lines.
	var holdouts [][]byte
	filepath.Walk(e.roots.Holdouts, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			holdouts = append(holdouts, b)
		}
		return nil
	})
	if len(holdouts) == 0 {
		t.Fatal("no holdout on disk")
	}
	names := []string{}
	filepath.Walk(e.roots.Holdouts, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			rel, _ := filepath.Rel(e.roots.Holdouts, p)
			names = append(names, filepath.Base(p), rel)
		}
		return nil
	})
	probes := []string{"holdout.csv", "holdout.arrow", "..%2F..%2Ftest-holdouts", "../test-holdouts/" + e.slug,
		"%2e%2e%2f%2e%2e%2ftest-holdouts", "train.csv%00", ".", "..", "sample_submission.csv/../train.csv"}
	for _, n := range names {
		probes = append(probes, n, strings.ReplaceAll(n, "/", "%2F"), "..%2F..%2Ftest-holdouts%2F"+strings.ReplaceAll(n, "/", "%2F"))
	}
	for _, p := range probes {
		for _, tok := range []string{"", e.admin} {
			var opts []apitest.ReqOpt
			if tok != "" {
				opts = append(opts, apitest.Bearer(tok))
			}
			resp := e.Do(t, "GET", "/api/v2/datasets/"+e.slug+"/files/"+p, nil, opts...)
			if resp.Status != 404 {
				t.Errorf("GET files/%s: status %d, want 404", p, resp.Status)
			}
			for _, h := range holdouts {
				if len(resp.Body) > 64 && bytes.Contains(h, resp.Body[:64]) {
					t.Errorf("GET files/%s returned holdout bytes", p)
				}
			}
		}
	}
	// Every GET route the API knows, with this competition's parameters.
	for _, r := range e.Server.Routes() {
		if r.Method != "GET" {
			continue
		}
		path := strings.NewReplacer(":slug", e.slug, ":name", "train.csv", ":id", "1", ":job", "1").Replace(r.Path)
		resp := e.Do(t, "GET", path, nil, apitest.Bearer(e.admin))
		for _, h := range holdouts {
			if len(resp.Body) >= 32 && bytes.Contains(resp.Body, h[:min(len(h), 256)]) {
				t.Errorf("GET %s returned holdout bytes", path)
			}
		}
		if bytes.Contains(resp.Body, []byte(e.roots.Holdouts)) {
			t.Errorf("GET %s reveals the holdouts directory", path)
		}
	}
}

func TestInternalCompetitionIs404(t *testing.T) {
	e := start(t, 20)
	e.b.Exposure = "INTERNAL"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.svc.Install(ctx, 0, e.b); err != nil {
		t.Fatal(err)
	}
	insider := e.token(t, testdb.UserOpts{CanUseInternal: true})
	for _, p := range []string{"/api/v2/competitions/" + e.slug, "/api/v2/competitions/" + e.slug + "/leaderboard",
		"/api/v2/datasets/" + e.slug, "/api/v2/datasets/" + e.slug + "/files/train.csv"} {
		e.Do(t, "GET", p, nil).Problem(t, 404, "not_found")
		e.Do(t, "GET", p, nil, apitest.Bearer(e.alice)).Problem(t, 404, "not_found")
		if r := e.Do(t, "GET", p, nil, apitest.Bearer(insider)); r.Status != 200 {
			t.Fatalf("insider GET %s: %d", p, r.Status)
		}
	}
}

func TestAdminRescoreAndScorerUpload(t *testing.T) {
	e := start(t, 20)
	var sample []byte
	for _, f := range e.b.Files {
		if f.Kind == competitions.KindSampleSubmission {
			sample = f.Data
		}
	}
	var res competitions.SubmitResult
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", e.alice, "s.csv", sample, nil), 201, &res)
	id := strconv.FormatInt(res.Submission.ID, 10)
	// Admin gate.
	e.Do(t, "POST", "/api/v2/admin/submissions/"+id+"/score", nil, apitest.Bearer(e.alice)).Problem(t, 403, "")
	var sub competitions.Submission
	// Score now (the worker may hold it for a moment).
	for i := 0; ; i++ {
		r := e.Do(t, "POST", "/api/v2/admin/submissions/"+id+"/score", nil, apitest.Bearer(e.admin))
		if r.Status == 409 && i < 100 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		r.Data(t, 200, &sub)
		break
	}
	if sub.Status != "scored" || sub.PrimaryScore == nil {
		t.Fatalf("scored %+v", sub)
	}
	var job competitions.RescoreJob
	e.Do(t, "POST", "/api/v2/admin/competitions/"+e.slug+"/rescore", map[string]string{"reason": "test"}, apitest.Bearer(e.admin)).Data(t, 202, &job)
	if job.Total != 1 {
		t.Fatalf("job %+v", job)
	}
	deadline := time.Now().Add(20 * time.Second)
	for job.State != "finished" {
		if time.Now().After(deadline) {
			t.Fatalf("rescore stuck: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
		e.Do(t, "GET", fmt.Sprintf("/api/v2/admin/competitions/%s/rescore/%d", e.slug, job.ID), nil, apitest.Bearer(e.admin)).Data(t, 200, &job)
	}
	// Scorer upload: users who do not own the competition may not.
	wasm, _ := os.ReadFile(scorertest.Build(t, "accuracy-c"))
	up := e.upload(t, "/api/v2/competitions/"+e.slug+"/scorers", e.alice, "s.wasm", wasm, map[string]string{"name": "acc", "version": "2"})
	if up.StatusCode != 403 {
		t.Fatalf("non-owner upload: %d", up.StatusCode)
	}
	bad := e.upload(t, "/api/v2/competitions/"+e.slug+"/scorers", e.admin, "s.wasm", []byte("\x00asm junk"), map[string]string{"name": "acc", "version": "2"})
	if b := decode(t, bad, 422, nil); !strings.Contains(string(b), "scorer_rejected") {
		t.Fatalf("bad module: %s", b)
	}
	var out competitions.ScorerUpload
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/scorers", e.admin, "s.wasm", wasm, map[string]string{"name": "acc", "version": "2"}), 201, &out)
	if !out.Report.OK || out.Rescore == nil {
		t.Fatalf("upload %+v", out)
	}
	var admin competitions.AdminSubmission
	deadline = time.Now().Add(20 * time.Second)
	for {
		admin = competitions.AdminSubmission{}
		e.Do(t, "GET", "/api/v2/admin/submissions/"+id, nil, apitest.Bearer(e.admin)).Data(t, 200, &admin)
		if len(admin.Scores) == 2 && !admin.Rescoring {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rescored: %+v", admin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	official := 0
	for _, s := range admin.Scores {
		if s.Official {
			official++
			if s.ScorerDigest != out.Digest {
				t.Fatalf("official score is from %s, want the new scorer", s.ScorerDigest)
			}
		}
	}
	if official != 1 {
		t.Fatalf("%d official scores", official)
	}
}

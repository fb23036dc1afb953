package httpcomp_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/competitions/httpcomp"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

// radiusPredictions is what a competitor might submit for test.csv: the
// mean radius scaled into [0, 1] (a strong single predictor).
func radiusPredictions(t *testing.T, test []byte, noise int) []byte {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(test)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("id,malignant\n")
	for i, r := range recs[1:] {
		v, _ := strconv.ParseFloat(r[1], 64)
		p := min(1, max(0, (v-6)/23))
		if noise > 0 && i%noise == 0 {
			p = 1 - p
		}
		fmt.Fprintf(&b, "%s,%.6f\n", r[0], p)
	}
	return b.Bytes()
}

// TestAuthorJourneyOverHTTP authors breast-cancer-diagnosis over real HTTP:
// a non-author gets 403 and another author 404 on the draft; a broken
// module fails the report (which names the failing check) and publishing
// is refused; the fixed roc-auc module passes and the competition is
// published; a competitor submits and is scored; the owner sees every
// submission; a new holdout version rescores and reports rank moves; and
// no GET route, author routes included, returns holdout bytes.
func TestAuthorJourneyOverHTTP(t *testing.T) {
	e := startDeps(t, 20, competitions.ScoringSettings{}, func(d *competitions.Deps) {
		d.Limits = competitions.ScoringLimits{Timeout: 60 * time.Second, MemoryBytes: 1 << 30}
		d.SandboxJobs = true // as the API server: modules run only in the (embedded) worker
	})
	author := e.token(t, testdb.UserOpts{CanAuthor: true, DisplayName: "dr-author"})
	rival := e.token(t, testdb.UserOpts{CanAuthor: true, DisplayName: "rival-author"})
	bob := e.token(t, testdb.UserOpts{DisplayName: "bob"})
	const slug = "breast-cancer-diagnosis"
	base := "/api/v2/author/competitions"
	as := apitest.Bearer

	d := bundle.BreastCancerDraft()
	d.Metric = "roc-auc" // a label: the test dir has no built-in roc-auc, so the author uploads it
	e.Do(t, "POST", base, d, as(bob)).Problem(t, 403, "not_author")
	var ac competitions.AuthorCompetition
	e.Do(t, "POST", base, d, as(author)).Data(t, 201, &ac)
	if ac.Published || ac.Scorer != nil || ac.Slug != slug {
		t.Fatalf("created %+v", ac)
	}
	e.Do(t, "POST", base, d, as(rival)).Problem(t, 409, "slug_taken")
	// The draft is secret.
	e.Do(t, "GET", base+"/"+slug, nil, as(bob)).Problem(t, 403, "not_author")
	e.Do(t, "GET", base+"/"+slug, nil, as(rival)).Problem(t, 404, "not_found")
	e.Do(t, "GET", base+"/"+slug+"/report", nil, as(rival)).Problem(t, 404, "not_found")
	e.Do(t, "POST", base+"/"+slug+"/publish", nil, as(rival)).Problem(t, 404, "not_found")
	for _, tok := range []string{"", bob, rival} {
		var opts []apitest.ReqOpt
		if tok != "" {
			opts = append(opts, as(tok))
		}
		for _, p := range []string{"/api/v2/competitions/" + slug, "/api/v2/datasets/" + slug, "/api/v2/competitions/" + slug + "/leaderboard"} {
			if r := e.Do(t, "GET", p, nil, opts...); r.Status != 404 {
				t.Errorf("GET %s as a stranger: %d", p, r.Status)
			}
		}
	}

	train, test, sample, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	var hi competitions.HoldoutInfo
	hb := decode(t, e.upload(t, base+"/"+slug+"/holdout", author, "holdout.csv", hold, nil), 201, &hi)
	if hi.Rows != 170 || len(hi.Digest) != 64 || bytes.Contains(hb, hold[13:80]) {
		t.Fatalf("holdout answer: %s", hb)
	}
	decode(t, e.upload(t, base+"/"+slug+"/holdout", rival, "holdout.csv", hold, nil), 404, nil)
	for _, f := range []struct {
		kind, name string
		data       []byte
	}{
		{"training", "train.csv", train}, {"public_eval", "test.csv", test}, {"sample_submission", "sample_submission.csv", sample}} {
		decode(t, e.upload(t, base+"/"+slug+"/files", author, f.name, f.data, map[string]string{"kind": f.kind}), 201, nil)
	}

	// A broken module: the report names the failing check, publishing is refused.
	bad, _ := os.ReadFile(scorertest.BuildGo(t, "scorers/testdata/bad-inverted"))
	decode(t, e.upload(t, base+"/"+slug+"/scorer", author, "auc.wasm", bad, map[string]string{"version": "0.1"}), 201, nil)
	// The report runs as a sandbox job in the worker: without waiting the
	// answer is 202 with the job to poll, then the same GET answers 200.
	var pend struct {
		Pending bool                    `json:"pending"`
		Job     competitions.SandboxJob `json:"job"`
	}
	r202 := e.Do(t, "GET", base+"/"+slug+"/report?wait=0", nil, as(author))
	r202.Data(t, 202, &pend)
	if !pend.Pending || pend.Job.Kind != "certify" || pend.Job.ID == 0 ||
		r202.Header.Get("Location") != fmt.Sprintf("/api/v2/author/competitions/%s/jobs/%d", slug, pend.Job.ID) || r202.Header.Get("Retry-After") == "" {
		t.Fatalf("202 answer: %+v %v", pend, r202.Header)
	}
	e.Do(t, "GET", fmt.Sprintf("%s/%s/jobs/%d", base, slug, pend.Job.ID), nil, as(rival)).Problem(t, 404, "not_found")
	e.Do(t, "GET", base+"/"+slug+"/report?wait=61", nil, as(author)).Problem(t, 422, "validation_failed")
	var job competitions.SandboxJob
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		e.Do(t, "GET", fmt.Sprintf("%s/%s/jobs/%d", base, slug, pend.Job.ID), nil, as(author)).Data(t, 200, &job)
		if job.Status == "done" || job.Status == "failed" || time.Now().After(deadline) {
			break
		}
	}
	if job.Status != "done" || job.FinishedAt == nil {
		t.Fatalf("certify job: %+v", job)
	}
	var rep competitions.CertificationReport
	e.Do(t, "GET", base+"/"+slug+"/report?wait=0", nil, as(author)).Data(t, 200, &rep)
	if rep.OK || strings.Join(rep.Failed(), ",") != "perfect,permuted" {
		t.Fatalf("report of the broken module: ok=%t failed=%v", rep.OK, rep.Failed())
	}
	p := e.Do(t, "POST", base+"/"+slug+"/publish", nil, as(author)).Problem(t, 409, "not_certified")
	if !strings.Contains(string(e.Do(t, "POST", base+"/"+slug+"/publish", nil, as(author)).Body), "check perfect") || p.Detail == "" {
		t.Fatalf("publish refusal does not name the check: %+v", p)
	}
	// Fixed: the real roc-auc module.
	good, _ := os.ReadFile(scorertest.Build(t, "roc-auc"))
	decode(t, e.upload(t, base+"/"+slug+"/scorer", author, "roc-auc.wasm", good, map[string]string{"version": "1"}), 201, nil)
	e.Do(t, "GET", base+"/"+slug+"/report", nil, as(author)).Data(t, 200, &rep)
	if !rep.OK || rep.Adversarial.Total != competitions.AdversarialCases || *rep.Scores.Perfect != 1 {
		t.Fatalf("report of roc-auc: ok=%t failed=%v %+v", rep.OK, rep.Failed(), rep.Scores)
	}
	e.Do(t, "POST", base+"/"+slug+"/publish", nil, as(author)).Data(t, 200, &ac)
	if !ac.Published || !ac.Certified || ac.PublishedAt == nil {
		t.Fatalf("published %+v", ac)
	}

	// A competitor submits and is scored.
	var sub competitions.SubmitResult
	decode(t, e.upload(t, "/api/v2/competitions/"+slug+"/submissions", bob, "radius.csv", radiusPredictions(t, test, 0), nil), 201, &sub)
	var got competitions.Submission
	e.Do(t, "GET", fmt.Sprintf("/api/v2/submissions/%d?wait=20s", sub.Submission.ID), nil, as(bob)).Data(t, 200, &got)
	if got.Status != "scored" || got.PrimaryScore == nil || *got.PrimaryScore < 0.8 || *got.PrimaryScore > 1 {
		t.Fatalf("scored %+v", got)
	}
	// An admin's score now goes through the scoring worker: ?wait=0
	// answers 202 with the submission to poll (unless the worker was
	// quicker than the answer), the default wait the scored submission.
	scoreNow := fmt.Sprintf("/api/v2/admin/submissions/%d/score", sub.Submission.ID)
	e.Do(t, "POST", scoreNow+"?wait=x", nil, as(e.admin)).Problem(t, 422, "")
	if r := e.Do(t, "POST", scoreNow+"?wait=0", nil, as(e.admin)); r.Status == 202 {
		var p httpcomp.ScorePending
		r.Data(t, 202, &p)
		if !p.Pending || p.Submission.ID != sub.Submission.ID || r.Header.Get("Location") != fmt.Sprintf("/api/v2/admin/submissions/%d", sub.Submission.ID) {
			t.Fatalf("202 of score now: %+v, Location %q", p, r.Header.Get("Location"))
		}
	} else if r.Status != 200 && r.Status != 409 {
		t.Fatalf("score now ?wait=0: %d %s", r.Status, r.Body)
	}
	for i := 0; ; i++ {
		r := e.Do(t, "POST", scoreNow, nil, as(e.admin))
		if r.Status == 409 && i < 200 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		r.Data(t, 200, &got)
		break
	}
	if got.Status != "scored" || got.PrimaryScore == nil || got.Rescoring {
		t.Fatalf("score now: %+v", got)
	}
	alice := e.alice
	decode(t, e.upload(t, "/api/v2/competitions/"+slug+"/submissions", alice, "noisy.csv", radiusPredictions(t, test, 7), nil), 201, &sub)
	e.Do(t, "GET", fmt.Sprintf("/api/v2/submissions/%d?wait=20s", sub.Submission.ID), nil, as(alice)).Data(t, 200, &got)
	// A probability outside [0, 1] is refused by the module, with the id.
	badSub := append([]byte(nil), radiusPredictions(t, test, 0)...)
	badSub = regexp.MustCompile(`\n(\d+),[0-9.]+\n`).ReplaceAll(badSub, []byte("\n$1,1.5\n"))
	decode(t, e.upload(t, "/api/v2/competitions/"+slug+"/submissions", alice, "bad.csv", badSub, nil), 201, &sub)
	e.Do(t, "GET", fmt.Sprintf("/api/v2/submissions/%d?wait=20s", sub.Submission.ID), nil, as(alice)).Data(t, 200, &got)
	if got.Status != "failed" || !strings.Contains(got.Error, "has 1.5") {
		t.Fatalf("out-of-range probability: %+v", got)
	}

	// The owner sees every submission, with the scorer's errors.
	var subs []competitions.OwnerSubmission
	e.Do(t, "GET", base+"/"+slug+"/submissions", nil, as(author)).Data(t, 200, &subs)
	if len(subs) != 3 || subs[2].DisplayName != "bob" || subs[2].Status != "scored" || subs[0].Status != "failed" {
		t.Fatalf("owner's view: %+v", subs)
	}
	e.Do(t, "GET", base+"/"+slug+"/submissions", nil, as(rival)).Problem(t, 404, "not_found")
	e.Do(t, "GET", base+"/"+slug+"/submissions", nil, as(bob)).Problem(t, 403, "not_author")

	// A new holdout version (ten labels corrected) rescores everything.
	hold2 := flipLabels(hold, 10)
	decode(t, e.upload(t, base+"/"+slug+"/holdout", author, "holdout-v2.csv", hold2, nil), 201, &hi)
	if hi.Version != 2 || hi.Rescore == nil || hi.Rescore.Total != 3 {
		t.Fatalf("second holdout: %+v", hi)
	}
	var ar competitions.AuthorRescore
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.Do(t, "GET", fmt.Sprintf("%s/%s/rescore/%d", base, slug, hi.Rescore.ID), nil, as(author)).Data(t, 200, &ar)
		if ar.State == "finished" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ar.State != "finished" || ar.Moves == nil {
		t.Fatalf("rescore: %+v", ar)
	}

	// No GET route returns holdout bytes, whoever asks.
	holdouts := [][]byte{hold, hold2}
	filepath.Walk(e.roots.Holdouts, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			holdouts = append(holdouts, b)
		}
		return nil
	})
	labels := labelPattern(hold)
	for _, r := range e.Server.Routes() {
		if r.Method != "GET" {
			continue
		}
		path := strings.NewReplacer(":slug", slug, ":name", "train.csv", ":id", strconv.FormatInt(sub.Submission.ID, 10),
			":job", strconv.FormatInt(hi.Rescore.ID, 10)).Replace(r.Path)
		for _, tok := range []string{author, e.admin, bob} {
			resp := e.Do(t, "GET", path, nil, as(tok))
			for _, h := range holdouts {
				if bytes.Contains(resp.Body, h[:min(len(h), 128)]) || bytes.Contains(resp.Body, h[max(0, len(h)-128):]) {
					t.Errorf("GET %s returned holdout bytes", path)
				}
			}
			if labels.Match(resp.Body) {
				t.Errorf("GET %s returned the holdout's label sequence", path)
			}
		}
	}
}

// flipLabels corrects (flips) the first n labels of a holdout CSV.
func flipLabels(hold []byte, n int) []byte {
	lines := strings.Split(strings.TrimSuffix(string(hold), "\n"), "\n")
	for i := 1; i <= n && i < len(lines); i++ {
		id, v, _ := strings.Cut(lines[i], ",")
		lines[i] = id + "," + map[string]string{"0": "1", "1": "0"}[v]
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// labelPattern matches the holdout's first 40 labels in order, whatever
// separates them: a response leaking the truth as a list would match.
func labelPattern(hold []byte) *regexp.Regexp {
	var parts []string
	for _, line := range strings.Split(strings.TrimSpace(string(hold)), "\n")[1:41] {
		_, v, _ := strings.Cut(line, ",")
		parts = append(parts, v)
	}
	return regexp.MustCompile(strings.Join(parts, `[^0-9]{1,3}`))
}

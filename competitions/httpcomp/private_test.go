package httpcomp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/store/testdb"
)

// TestNoCompetitorRouteShowsPrivateScores walks every GET operation of the
// OpenAPI document as a competitor (and anonymously), with this
// competition's slug and the competitor's own submission ids, plain and
// with ?board=private: before the reveal no body holds a private score,
// its interval, or a private_* field. After the owner's reveal the private
// board shows them, which proves the probe would have seen them.
func TestNoCompetitorRouteShowsPrivateScores(t *testing.T) {
	e := startWith(t, 20, competitions.ScoringSettings{Mode: competitions.ModePublicPrivate})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bob := e.token(t, testdb.UserOpts{DisplayName: "bob"})
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	var ids []int64
	for i, tok := range []string{e.alice, e.alice, bob} {
		var res struct{ Submission competitions.Submission }
		decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", tok, "s.csv",
			f.Submission(uint64(i+1), synth.SubmissionOptions{Noise: 0.1 * float64(i+1)}), nil), 201, &res)
		ids = append(ids, res.Submission.ID)
		r := e.Do(t, "GET", fmt.Sprintf("/api/v2/submissions/%d?wait=15s", res.Submission.ID), nil, apitest.Bearer(tok))
		if !bytes.Contains(r.Body, []byte(`"status":"scored"`)) {
			t.Fatalf("submission not scored: %s", r.Body)
		}
	}
	// What must not leak: every private figure, in the forms a response
	// could carry it (JSON's shortest form, display rounding, fixed 4 and
	// 6 decimals), unless the same text is also a public figure.
	public := map[string]bool{}
	var secret []string
	add := func(set func(string), v float64) {
		for _, s := range []string{strconv.FormatFloat(v, 'g', -1, 64), strconv.FormatFloat(v, 'g', 5, 64),
			strconv.FormatFloat(v, 'f', 4, 64), strconv.FormatFloat(v, 'f', 6, 64)} {
			set(s)
		}
	}
	for _, id := range ids {
		a, err := e.svc.AdminSubmission(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		add(func(s string) { public[s] = true }, *a.PrimaryScore)
		if a.CILow != nil {
			add(func(s string) { public[s] = true }, *a.CILow)
			add(func(s string) { public[s] = true }, *a.CIHigh)
		}
	}
	for _, id := range ids {
		a, _ := e.svc.AdminSubmission(ctx, id)
		vals := []float64{*a.PrivateScore}
		sub, _ := e.Store.GetSubmission(ctx, id)
		if sub.PrivateCiLow.Valid {
			vals = append(vals, sub.PrivateCiLow.Float64, sub.PrivateCiHigh.Float64)
		}
		for _, v := range vals {
			add(func(s string) {
				if !public[s] && len(s) >= 4 {
					secret = append(secret, s)
				}
			}, v)
		}
	}
	if len(secret) == 0 {
		t.Fatal("no private figure differs from the public ones; the probe would prove nothing")
	}
	privateField := regexp.MustCompile(`"private_(score|ci_low|ci_high|units)":\s*-?[0-9]`)
	number := regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`)
	leaks := func(body []byte) string {
		if privateField.Match(body) {
			return "a private score field"
		}
		// Compare whole numbers, so 0.81 is not found inside 0.8123.
		nums := map[string]bool{}
		for _, m := range number.FindAll(body, -1) {
			nums[string(m)] = true
		}
		for _, s := range secret {
			if nums[s] {
				return s
			}
		}
		return ""
	}
	doc := e.Do(t, "GET", "/api/v2/openapi.json", nil)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc.Body, &spec); err != nil || len(spec.Paths) == 0 {
		t.Fatalf("openapi: %v", err)
	}
	walked := 0
	for path, ops := range spec.Paths {
		if _, ok := ops["get"]; !ok {
			continue
		}
		if !strings.HasPrefix(path, "/api/v2") {
			path = "/api/v2" + path
		}
		var targets []string
		for _, id := range ids[:2] { // the competitor's own submissions
			targets = append(targets, strings.NewReplacer("{slug}", e.slug, "{name}", "train.csv", "{id}", strconv.FormatInt(id, 10), "{job}", "1").Replace(path))
		}
		for _, p := range targets {
			for _, q := range []string{"", "?board=private", "?board=private&limit=1000"} {
				for _, tok := range []string{e.alice, ""} {
					var opts []apitest.ReqOpt
					if tok != "" {
						opts = append(opts, apitest.Bearer(tok))
					}
					r := e.Do(t, "GET", p+q, nil, opts...)
					walked++
					if what := leaks(r.Body); what != "" {
						t.Errorf("GET %s%s as a competitor shows %s: %.300s", p, q, what, r.Body)
					}
					if strings.HasSuffix(path, "/leaderboard") && strings.Contains(q, "private") && r.Status != 404 {
						t.Errorf("GET %s%s before the reveal: %d, want 404", p, q, r.Status)
					}
				}
			}
		}
	}
	if walked < 20 {
		t.Fatalf("walked only %d requests", walked)
	}
	// The owner's and admins' view has them; after the reveal everyone's.
	r := e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/leaderboard?board=private", nil, apitest.Bearer(e.admin))
	if r.Status != 200 || leaks(r.Body) == "" {
		t.Fatalf("admin's private board shows no private figure: %d %.300s", r.Status, r.Body)
	}
	if r := e.Do(t, "POST", "/api/v2/competitions/"+e.slug+"/reveal", nil, apitest.Bearer(e.alice)); r.Status != 403 {
		t.Fatalf("a competitor revealed: %d", r.Status)
	}
	if r := e.Do(t, "POST", "/api/v2/competitions/"+e.slug+"/reveal", nil, apitest.Bearer(e.admin)); r.Status != 200 {
		t.Fatalf("reveal: %d %s", r.Status, r.Body)
	}
	r = e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/leaderboard?"+url.Values{"board": {"private"}}.Encode(), nil, apitest.Bearer(e.alice))
	if r.Status != 200 || leaks(r.Body) == "" {
		t.Fatalf("revealed private board: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/leaderboard?board=secret", nil); r.Status != 422 && r.Status != 400 {
		t.Fatalf("unknown board: %d", r.Status)
	}
}

// TestFinalSelectionOverHTTP marks and unmarks finals through the API.
func TestFinalSelectionOverHTTP(t *testing.T) {
	e := startWith(t, 20, competitions.ScoringSettings{Mode: competitions.ModePublicPrivate, FinalLimit: 1})
	var res struct{ Submission competitions.Submission }
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", e.alice, "s.csv", e.sample(), nil), 201, &res)
	id := res.Submission.ID
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", e.alice, "s.csv", e.sample(), nil), 201, &res)
	other := res.Submission.ID
	final := fmt.Sprintf("/api/v2/competitions/%s/submissions/%d/final", e.slug, id)
	r := e.Do(t, "PUT", final, nil, apitest.Bearer(e.alice))
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"is_final":true`)) {
		t.Fatalf("PUT final: %d %s", r.Status, r.Body)
	}
	r = e.Do(t, "PUT", fmt.Sprintf("/api/v2/competitions/%s/submissions/%d/final", e.slug, other), nil, apitest.Bearer(e.alice))
	if r.Status != 409 || !bytes.Contains(r.Body, []byte("final_limit_reached")) {
		t.Fatalf("second final over a limit of 1: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "PUT", final, nil, apitest.Bearer(e.admin)); r.Status != 404 {
		t.Fatalf("someone else's submission: %d", r.Status)
	}
	if r := e.Do(t, "PUT", final, nil); r.Status != 401 {
		t.Fatalf("anonymous: %d", r.Status)
	}
	r = e.Do(t, "DELETE", final, nil, apitest.Bearer(e.alice))
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"is_final":false`)) {
		t.Fatalf("DELETE final: %d %s", r.Status, r.Body)
	}
}

func (e *tenv) sample() []byte {
	for _, f := range e.b.Files {
		if f.Kind == competitions.KindSampleSubmission {
			return f.Data
		}
	}
	return nil
}

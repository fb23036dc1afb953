package main

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/store/testdb"
)

// TestScoreCLIAndServerAgree: `medforge score` and a served stack give the
// same result bytes for the same submission, holdout and module. The
// server scores an uploaded file through its worker; the CLI scores the
// same file against the holdout the server stored and the same built-in
// module; the admin view's recorded result and the CLI's stdout are equal
// byte for byte (engine version and digests included).
func TestScoreCLIAndServerAgree(t *testing.T) {
	t.Parallel()
	s := startCompetitorStack(t)
	sample := s.sample(t)
	out := s.cli.ok("", "submit", "--competition", "titanic-survival", "--wait", "--json", sample)
	var submitted struct {
		Submission struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"submission"`
	}
	err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &submitted)
	sub := submitted.Submission
	if err != nil || sub.Status != "scored" {
		t.Fatalf("submit --wait --json: %v\n%s", err, out)
	}

	u := testdb.User(t, s.st, testdb.UserOpts{Admin: true, DisplayName: "admin"})
	admin := testdb.APIToken(t, s.st, u.User)
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v2/admin/submissions/"+strconv.FormatInt(sub.ID, 10), nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var view struct {
		Data struct {
			Scores []struct {
				Official bool            `json:"is_official"`
				Result   json.RawMessage `json:"result"`
			} `json:"scores"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &view); err != nil || len(view.Data.Scores) != 1 {
		t.Fatalf("admin submission view: %v\n%s", err, body)
	}
	server := view.Data.Scores[0].Result

	var holdouts []string
	filepath.WalkDir(filepath.Join(s.runDir(), "data", "test-holdouts"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			holdouts = append(holdouts, p)
		}
		return nil
	})
	var cli []byte
	for _, h := range holdouts {
		if o, code := s.cli.run("", "score", "--competition", "titanic-survival", "--holdout", h, "--submission", sample); code == 0 &&
			strings.Contains(o, `"competition":"titanic-survival"`) {
			cli = bytes.TrimSpace([]byte(o))
		}
	}
	if cli == nil {
		t.Fatalf("medforge score found no titanic holdout among %v", holdouts)
	}
	if !bytes.Equal(cli, server) {
		t.Fatalf("result bytes differ:\nmedforge score: %s\nserver:         %s", cli, server)
	}
}

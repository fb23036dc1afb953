package httpcomp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/store/testdb"
)

// uploadOutcomes posts the files concurrently (one goroutine each, all
// released at once) and counts the answers by status and problem code.
func (e *tenv) uploadOutcomes(t *testing.T, tokens []string, files [][]byte) map[string]int {
	t.Helper()
	path := "/api/v2/competitions/" + e.slug + "/submissions"
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range files {
		wg.Go(func() {
			<-start
			resp := e.upload(t, path, tokens[i%len(tokens)], "s.csv", files[i], nil)
			b, _ := io.ReadAll(resp.Body)
			var p apitest.Problem
			json.Unmarshal(b, &p)
			key := strconv.Itoa(resp.StatusCode) + " " + p.Code
			if resp.StatusCode == http.StatusTooManyRequests && p.Code == "rate_limited" {
				secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
				if err != nil || secs < 1 || secs > 60 {
					t.Errorf("rate_limited with Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			mu.Lock()
			got[key]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return got
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestUploadRateLimitPerUser: 24 concurrent uploads by one user, valid or
// not, pass the limit of 6 exactly 6 times; the rest get 429 rate_limited
// with Retry-After, before any of their body is read. Invalid files among
// them still never use the daily cap, and another user is not affected.
func TestUploadRateLimitPerUser(t *testing.T) {
	e := startFull(t, 20, competitions.ScoringSettings{}, nil, func(c *config.Config) {
		c.UploadsPerUser, c.UploadsPerIP, c.UploadWindow = 6, 0, time.Minute
	})
	invalid := []byte("PassengerId,Survived\n892,7\n")
	got := e.uploadOutcomes(t, []string{e.alice}, repeat(invalid, 24))
	if got["422 invalid_submission"] != 6 || got["429 rate_limited"] != 18 || len(got) != 2 {
		t.Fatalf("24 concurrent invalid uploads under a limit of 6: %v", got)
	}
	// Valid uploads count too, and the invalid ones used no cap.
	bob := e.token(t, testdb.UserOpts{DisplayName: "bob"})
	got = e.uploadOutcomes(t, []string{bob}, repeat(e.sample(), 10))
	if got["201 "] != 6 || got["429 rate_limited"] != 4 || len(got) != 2 {
		t.Fatalf("10 concurrent valid uploads by another user under a limit of 6: %v", got)
	}
	var mine struct {
		RemainingToday int `json:"remaining_today"`
	}
	e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/submissions/me", nil, apitest.Bearer(e.alice)).Data(t, 200, &mine)
	if mine.RemainingToday != 20 {
		t.Fatalf("alice's invalid uploads used the daily cap: %d of 20 left", mine.RemainingToday)
	}
	// Other routes are not rate limited.
	for range 10 {
		e.Do(t, "GET", "/api/v2/competitions/"+e.slug+"/submissions/me", nil, apitest.Bearer(e.alice)).Data(t, 200, nil)
	}
}

// TestUploadRateLimitPerIP: users who share an address share its limit.
func TestUploadRateLimitPerIP(t *testing.T) {
	e := startFull(t, 20, competitions.ScoringSettings{}, nil, func(c *config.Config) {
		c.UploadsPerUser, c.UploadsPerIP, c.UploadWindow = 100, 8, time.Minute
	})
	tokens := []string{e.alice}
	for range 3 {
		tokens = append(tokens, e.token(t, testdb.UserOpts{}))
	}
	got := e.uploadOutcomes(t, tokens, repeat([]byte("not,a\nsubmission\n"), 20))
	if got["422 invalid_submission"] != 8 || got["429 rate_limited"] != 12 || len(got) != 2 {
		t.Fatalf("20 concurrent uploads from one address under a limit of 8: %v", got)
	}
}

// TestRefusedUploadKeepsTheNextRequest: a refused upload (422 invalid,
// 429 rate limited) closes its connection after a linger, and its answer
// says "Connection: close", so a keep-alive client or proxy (Caddy's
// upstream pool) sends its next request on a new connection. Before, the
// next POST went to the lingering connection, which swallowed it: the
// client read EOF, and Caddy answered the browser 502.
func TestRefusedUploadKeepsTheNextRequest(t *testing.T) {
	e := startFull(t, 20, competitions.ScoringSettings{}, nil, func(c *config.Config) {
		c.UploadsPerUser, c.UploadsPerIP, c.UploadWindow = 3, 0, time.Minute
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	e.Client = &http.Client{Transport: tr}
	path := "/api/v2/competitions/" + e.slug + "/submissions"
	for i, c := range []struct {
		file []byte
		want int
	}{
		{[]byte("PassengerId,Survived\n892,7\n"), http.StatusUnprocessableEntity},
		{e.sample(), http.StatusCreated},
		{[]byte("not,a\nsubmission\n"), http.StatusUnprocessableEntity},
		{e.sample(), http.StatusTooManyRequests},
		{e.sample(), http.StatusTooManyRequests},
	} {
		resp := e.upload(t, path, e.alice, "s.csv", c.file, nil)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != c.want {
			t.Fatalf("upload %d: %d, want %d", i, resp.StatusCode, c.want)
		}
		if refused := c.want != http.StatusCreated; refused != resp.Close {
			t.Fatalf("upload %d (%d): Connection: close is %v", i, resp.StatusCode, resp.Close)
		}
	}
	e.Do(t, "GET", path+"/me", nil, apitest.Bearer(e.alice)).Data(t, 200, nil)
}

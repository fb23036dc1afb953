package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/client"
)

// The upload is streamed with an exact Content-Length, progress reaches
// the file size, and the file arrives intact in the multipart field "file".
// (The CLI tests in cmd/medforge run the same client against the real
// server.)
func TestSubmitStreamsWithProgress(t *testing.T) {
	t.Parallel()
	content := strings.Repeat("id,label\n", 50000)
	p := filepath.Join(t.TempDir(), "preds.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer mfp_t" || r.URL.Path != "/api/v2/competitions/c%2Fx/submissions" && r.URL.RawPath != "/api/v2/competitions/c%2Fx/submissions" {
			t.Errorf("auth %q path %q raw %q", r.Header.Get("Authorization"), r.URL.Path, r.URL.RawPath)
		}
		if r.ContentLength <= int64(len(content)) {
			t.Errorf("Content-Length %d", r.ContentLength)
		}
		f, fh, err := r.FormFile("file")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		if string(got) != content || fh.Filename != "preds.csv" {
			t.Errorf("file %q, %d bytes", fh.Filename, len(got))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"data":{"submission":{"id":7,"status":"queued"},"daily_cap":5,"remaining_today":4},"meta":{}}`)
	}))
	defer srv.Close()
	c := &client.Client{BaseURL: srv.URL, Token: "mfp_t"}
	var last, calls int64
	res, err := c.Submit(context.Background(), "c/x", p, func(sent, total int64) {
		if sent < last || total != int64(len(content)) {
			t.Errorf("progress %d/%d after %d", sent, total, last)
		}
		last = sent
		calls++
	})
	if err != nil || res.Submission.ID != 7 || res.RemainingToday != 4 {
		t.Fatalf("%+v, %v", res, err)
	}
	if last != int64(len(content)) || calls < 2 {
		t.Fatalf("progress ended at %d after %d calls", last, calls)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		header  map[string]string
		code    string
		retry   time.Duration
		nFields int
	}{
		{"problem with fields", 422, `{"status":422,"code":"invalid_submission","detail":"bad","errors":[{"field":"file","message":"row 2: x"}]}`, nil, "invalid_submission", 0, 1},
		{"cap with Retry-After", 429, `{"status":429,"code":"daily_cap_reached","detail":"cap"}`, map[string]string{"Retry-After": "30"}, "daily_cap_reached", 30 * time.Second, 0},
		{"not a problem body", 502, `<html>bad gateway</html>`, nil, "http_502", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := (&client.Client{BaseURL: srv.URL, Token: "x"}).Leaderboard(context.Background(), "s", 5)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.RetryAfter != tc.retry || len(e.Errors) != tc.nFields {
				t.Fatalf("%#v", err)
			}
			if client.StatusOf(err) != tc.status {
				t.Fatalf("StatusOf %d", client.StatusOf(err))
			}
		})
	}
	_, err := (&client.Client{BaseURL: "http://127.0.0.1:1"}).Leaderboard(context.Background(), "s", 5)
	var ne *client.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("unreachable: %#v", err)
	}
}

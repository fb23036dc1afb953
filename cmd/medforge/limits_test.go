package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medforge/medforge/httpapi"
)

// TestUploadLimitIsOneSetting: MEDFORGE_BODY_LIMIT bounds an uploaded
// submission at every layer of a served stack. A file within it is accepted;
// one byte over is refused by the handler with a 422 that names the limit
// (not a bare 413 from the HTTP layer, and not a larger limit further in);
// a body past the limit plus httpapi.BodySlack never reaches a handler.
func TestUploadLimitIsOneSetting(t *testing.T) {
	t.Parallel()
	const limit = 4096
	s := startCompetitorStack(t, "MEDFORGE_BODY_LIMIT=4096")
	sample, err := os.ReadFile(s.sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(sample) >= limit {
		t.Fatalf("sample is %d bytes; the test needs one under %d", len(sample), limit)
	}
	post := func(file []byte) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "p.csv")
		fw.Write(file)
		mw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/v2/competitions/titanic-survival/submissions", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			// The server may refuse an oversized body before the client
			// finishes sending it, closing the connection.
			if len(file) > limit+httpapi.BodySlack && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
				return http.StatusRequestEntityTooLarge, err.Error()
			}
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, b := post(sample); code != http.StatusCreated {
		t.Fatalf("a %d-byte file under the %d-byte limit: %d %s", len(sample), limit, code, b)
	}
	over := append(bytes.Clone(sample), bytes.Repeat([]byte("\n"), limit+1-len(sample))...)
	if code, b := post(over); code != http.StatusUnprocessableEntity || !strings.Contains(b, "at most 4096 bytes") {
		t.Fatalf("a file one byte over the limit: %d %s", code, b)
	}
	if code, b := post(make([]byte, limit+httpapi.BodySlack+1)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body past the limit and the framing slack: %d %s", code, b)
	}
}

package httpcomp_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

// streamUpload posts a multipart body whose file part is written by gen as
// the request goes out (through a pipe), so the client holds none of it.
func (e *tenv) streamUpload(t *testing.T, token string, gen func(w io.Writer) error) *http.Response {
	t.Helper()
	return e.streamTo(t, "/api/v2/competitions/"+e.slug+"/submissions", token, gen)
}

// streamTo is streamUpload to another upload route.
func (e *tenv) streamTo(t *testing.T, path, token string, gen func(w io.Writer) error) *http.Response {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", "big.csv")
		if err == nil {
			err = gen(fw)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+path, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func stagingFiles(t *testing.T, e *tenv) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.roots.Submissions, ".staging"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	return names
}

// TestUploadIsStreamedNotBuffered: a 48 MiB upload (chunked, so the server
// cannot know its size in advance) is written to the submission store's
// staging folder as it arrives. The server allocates a small fraction of
// the file while it reads, stores and validates it; before, the handler
// read the whole multipart file into memory (and fasthttp's form parser
// spilled it to /tmp first).
func TestUploadIsStreamedNotBuffered(t *testing.T) {
	e := startDeps(t, 20, competitions.ScoringSettings{}, func(d *competitions.Deps) { d.MaxSubmissionBytes = 64 << 20 })
	const size = 48 << 20
	line := []byte("892,0\n")
	gen := func(w io.Writer) error {
		// A valid header, then far more rows than the holdout has: the
		// validator reads every byte (through the mapping of the staged
		// file) and refuses it with row-level problems.
		if _, err := io.WriteString(w, "PassengerId,Survived\n"); err != nil {
			return err
		}
		buf := []byte(strings.Repeat(string(line), 64<<10/len(line)))
		for n := 0; n < size; n += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := e.streamUpload(t, e.alice, gen)
	b := decode(t, resp, 422, nil)
	runtime.ReadMemStats(&after)
	if !strings.Contains(string(b), "duplicate id") {
		t.Fatalf("problems %s", b)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d MiB upload allocated %d MiB in the process (server and client)", size>>20, alloc>>20)
	if alloc > size/4 {
		t.Fatalf("a %d MiB upload allocated %d MiB: the body is buffered", size>>20, alloc>>20)
	}
	if left := stagingFiles(t, e); len(left) != 0 {
		t.Fatalf("staging files left behind: %v", left)
	}
}

// TestUploadStoredByDigestWhileStreamed: an accepted upload is stored
// under the SHA-256 computed while it streamed, byte for byte, with
// nothing left in the staging folder.
func TestUploadStoredByDigestWhileStreamed(t *testing.T) {
	e := start(t, 20)
	sample := e.sample()
	var res competitions.SubmitResult
	decode(t, e.upload(t, "/api/v2/competitions/"+e.slug+"/submissions", e.alice, "s.csv", sample, nil), 201, &res)
	sum := sha256.Sum256(sample)
	if res.Submission.SHA256 != hex.EncodeToString(sum[:]) || res.Submission.SizeBytes != int64(len(sample)) {
		t.Fatalf("submission %+v, want digest %x size %d", res.Submission, sum, len(sample))
	}
	d := res.Submission.SHA256
	stored, err := os.ReadFile(filepath.Join(e.roots.Submissions, "sha256", d[:2], d))
	if err != nil || string(stored) != string(sample) {
		t.Fatalf("stored file: %v (%d bytes)", err, len(stored))
	}
	fi, err := os.Stat(filepath.Join(e.roots.Submissions, "sha256", d[:2], d))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file mode: %v %v", fi.Mode(), err)
	}
	if left := stagingFiles(t, e); len(left) != 0 {
		t.Fatalf("staging files left behind: %v", left)
	}
}

// TestChunkedUploadStopsAtTheLimit: the service's limit (MEDFORGE_BODY_LIMIT)
// stops a chunked upload, whose size the server cannot refuse up front,
// once it passes the limit: 422 naming the limit, the connection closed
// rather than read to its end, nothing staged or stored.
func TestChunkedUploadStopsAtTheLimit(t *testing.T) {
	const limit = 256 << 10
	e := startDeps(t, 20, competitions.ScoringSettings{}, func(d *competitions.Deps) { d.MaxSubmissionBytes = limit })
	resp := e.streamUpload(t, e.alice, func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(zeros{}, 4*limit))
		return err
	})
	b := decode(t, resp, 422, nil)
	if !strings.Contains(string(b), fmt.Sprint(limit)) {
		t.Fatalf("the refusal does not name the limit: %s", b)
	}
	if left := stagingFiles(t, e); len(left) != 0 {
		t.Fatalf("staging files left behind: %v", left)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.roots.Submissions, "sha256")); len(ents) != 0 {
		t.Fatalf("an oversized upload was stored: %v", ents)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestBrokenUploadIs400: a body cut off inside the file part is the
// client's failure (400), never a 500, and leaves nothing staged.
func TestBrokenUploadIs400(t *testing.T) {
	e := start(t, 20)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\nPassengerId,Survived\n892,0\n"
	fmt.Fprintf(conn, "POST /api/v2/competitions/%s/submissions HTTP/1.1\r\nHost: api.medforge.localhost\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s", e.slug, e.alice, len(body), body)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if left := stagingFiles(t, e); len(left) != 0 {
		t.Fatalf("staging files left behind: %v", left)
	}
}

// TestKeepAliveAfterUpload: an accepted upload leaves its connection
// usable for the next request (the rest of the multipart body is read,
// not parsed as a request).
func TestKeepAliveAfterUpload(t *testing.T) {
	e := start(t, 20)
	path := "/api/v2/competitions/" + e.slug + "/submissions"
	for range 3 {
		decode(t, e.upload(t, path, e.alice, "s.csv", e.sample(), nil), 201, nil)
	}
	e.Do(t, "GET", "/api/v2/competitions/"+e.slug, nil).Data(t, 200, nil)
}

// selfRSS is this process's resident set in bytes.
func selfRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc: RSS cannot be measured here")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestHeldUploadsCostLittle: 64 authenticated uploads that announce
// 64 MiB bodies, send the start of the file and then stall are each being
// streamed to a staging file, holding only their buffers: the process's
// RSS stays within 64 MiB of where it was.
func TestHeldUploadsCostLittle(t *testing.T) {
	e := startFull(t, 20, competitions.ScoringSettings{}, nil, func(c *config.Config) {
		c.UploadsPerUser, c.UploadsPerIP = 0, 0
	})
	addr := strings.TrimPrefix(e.URL, "http://")
	runtime.GC()
	debug.FreeOSMemory()
	before := selfRSS(t)
	part := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\nPassengerId,Survived\n" + strings.Repeat("892,0\n", 4000)
	for range 64 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /api/v2/competitions/%s/submissions HTTP/1.1\r\nHost: api.medforge.localhost\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s", e.slug, e.alice, 64<<20, part)
	}
	// Every upload is being staged.
	deadline := time.Now().Add(30 * time.Second)
	for len(stagingFiles(t, e)) < 64 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 64 uploads are being staged", len(stagingFiles(t, e)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	after := selfRSS(t)
	t.Logf("RSS %d MiB -> %d MiB with 64 stalled 64 MiB uploads", before>>20, after>>20)
	if grew := (after - before) >> 20; grew > 64 {
		t.Fatalf("RSS grew by %d MiB, want at most 64", grew)
	}
	// The server still answers.
	e.Do(t, "GET", "/api/v2/competitions/"+e.slug, nil).Data(t, 200, nil)
}

// TestScorerUploadBoundedWhenChunked: the routes that need a whole file in
// memory (scorer modules, authors' files) read the multipart stream
// themselves, so a chunked body stops at the route's limit: 422 naming
// it, not an unbounded spill to a temporary folder (fasthttp's form
// parser, used before, had no size limit for a chunked body).
func TestScorerUploadBoundedWhenChunked(t *testing.T) {
	e := start(t, 20)
	tmpBefore, _ := os.ReadDir(os.TempDir())
	resp := e.streamTo(t, "/api/v2/competitions/"+e.slug+"/scorers", e.admin, func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(zeros{}, 3*competitions.MaxScorerBytes))
		return err
	})
	b := decode(t, resp, 422, nil)
	if !strings.Contains(string(b), fmt.Sprintf("at most %d bytes", competitions.MaxScorerBytes)) {
		t.Fatalf("the refusal does not name the limit: %s", b)
	}
	tmpAfter, _ := os.ReadDir(os.TempDir())
	for _, a := range tmpAfter {
		if strings.HasPrefix(a.Name(), "multipart-") && !slices.ContainsFunc(tmpBefore, func(b os.DirEntry) bool { return b.Name() == a.Name() }) {
			t.Fatalf("the upload spilled to %s", filepath.Join(os.TempDir(), a.Name()))
		}
	}
}

// TestManyBoxesUploadsOverHTTP is the user-facing memory finding: a 60 MiB
// RSNA file with about 1750 boxes on each row and one id missing took
// about 1.7 GiB to validate, and being invalid it was free of the daily
// cap, so it could be repeated in parallel. Now four such uploads at once
// are refused (422, the row and column named, no cap used) while the whole
// process allocates a small fraction of one file, and the upload rate
// limit bounds how often they can be repeated.
func TestManyBoxesUploadsOverHTTP(t *testing.T) {
	e := startFull(t, 20, competitions.ScoringSettings{}, nil, func(c *config.Config) {
		c.UploadsPerUser, c.UploadsPerIP = 0, 0
	})
	dir := t.TempDir()
	wasm, err := os.ReadFile(scorertest.Build(t, "map-iou"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "map-iou.wasm"), wasm, 0o644)
	sp, _ := spec.Builtin(spec.RSNA)
	sp.Slug = testdb.Unique("r")
	b, err := bundle.Synthetic(sp, "RSNA test", "synthetic data", 3000, 10, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := e.svc.Install(ctx, 0, b); err != nil {
		t.Fatal(err)
	}
	row := strings.TrimSpace(strings.Repeat("0.5 1 1 1 1 ", 1750))
	gen := func(w io.Writer) error {
		if _, err := io.WriteString(w, "patientId,PredictionString\n"); err != nil {
			return err
		}
		for u := 1; u < b.Holdout.Units(); u++ { // unit 0 missing
			if _, err := fmt.Fprintf(w, "%s,%s\n", b.Holdout.ID(u), row); err != nil {
				return err
			}
		}
		return nil
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	bodies := make([][]byte, 4)
	for i := range bodies {
		wg.Go(func() {
			resp := e.streamTo(t, "/api/v2/competitions/"+sp.Slug+"/submissions", e.alice, gen)
			bodies[i], _ = io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("upload %d: status %d: %.300s", i, resp.StatusCode, bodies[i])
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	for i, body := range bodies {
		if !strings.Contains(string(body), `row 2, column \"PredictionString\"`) || !strings.Contains(string(body), "accepts at most 100 boxes per row") {
			t.Fatalf("upload %d: %.400s", i, body)
		}
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("4 concurrent 60 MiB many-boxes uploads: %d MiB allocated in the process", alloc>>20)
	if alloc > 128<<20 {
		t.Fatalf("4 concurrent 60 MiB uploads allocated %d MiB", alloc>>20)
	}
	var mine struct {
		RemainingToday int `json:"remaining_today"`
	}
	e.Do(t, "GET", "/api/v2/competitions/"+sp.Slug+"/submissions/me", nil, apitest.Bearer(e.alice)).Data(t, 200, &mine)
	if mine.RemainingToday != 10 {
		t.Fatalf("refused uploads used the daily cap: %d of 10 left", mine.RemainingToday)
	}
}

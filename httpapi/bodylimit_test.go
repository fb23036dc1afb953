package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/httpapi/apitest"
)

// selfRSS is this process's resident set in bytes.
func selfRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc: RSS cannot be measured here")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// announce opens a connection that sends request headers announcing a
// 64 MiB body, then one byte of it, and keeps the connection open.
func announce(t *testing.T, addr, contentType string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/v2/auth/login HTTP/1.1\r\nHost: medforge.localhost\r\nOrigin: http://medforge.localhost:8000\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\n\r\n{", contentType, 64<<20)
	return conn
}

// TestAnnouncedBodiesCostNothing is the memory finding: connections that
// announce 64 MiB bodies and send one byte used to make the server allocate
// the whole announced body before any handler, login or origin check ran.
// Now bodies are streamed: a JSON or an upload-shaped (multipart) request
// holds only the first few KiB while it waits, and a JSON body over the
// default limit is refused from its announced length once the handler
// runs. 64 connections of each kind leave the process within 64 MiB of
// where it was.
func TestAnnouncedBodiesCostNothing(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	addr := strings.TrimPrefix(env.URL, "http://")
	runtime.GC()
	debug.FreeOSMemory()
	before := selfRSS(t)

	// One byte of each: the server waits for more, holding a few KiB.
	for range 64 {
		announce(t, addr, "application/json")
		announce(t, addr, "multipart/form-data; boundary=x")
	}
	// JSON with the first 16 KiB sent: refused from the announced length,
	// without waiting for the rest.
	for i := range 16 {
		conn := announce(t, addr, "application/json")
		conn.Write([]byte(strings.Repeat(" ", 16<<10)))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("connection %d: status %d, want 413", i, resp.StatusCode)
		}
	}
	time.Sleep(2 * time.Second)
	after := selfRSS(t)
	grew := (after - before) >> 20
	t.Logf("RSS %d MiB -> %d MiB with 128 held connections", before>>20, after>>20)
	if grew > 64 {
		t.Fatalf("RSS grew by %d MiB, want at most 64", grew)
	}
	// The server still answers.
	env.Do(t, "GET", "/healthz", nil)
}

// TestChunkedBodyOverTheLimit: a chunked JSON body cannot get past the
// default limit by not announcing its length.
func TestChunkedBodyOverTheLimit(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v2/auth/login HTTP/1.1\r\nHost: medforge.localhost\r\nOrigin: http://medforge.localhost:8000\r\n"+
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("a", 64<<10)
	go func() {
		for range 40 { // 2.5 MiB
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				return
			}
		}
		fmt.Fprint(conn, "0\r\n\r\n")
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

// TestCompressedBodyRefused: a gzip body would be inflated without bound.
func TestCompressedBodyRefused(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	r := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": "a@b.c"},
		apitest.Origin("http://medforge.localhost:8000"), apitest.Header("Content-Encoding", "gzip"))
	r.Problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
}

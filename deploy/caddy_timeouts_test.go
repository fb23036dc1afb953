package deploy_test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/internal/stacktest"
)

// TestCaddyCutsSlowHeaders: Caddy, the production entry point, closes
// connections that trickle their request headers (slowloris) once its
// header timeout passes (MEDFORGE_CADDY_READ_HEADER, 10 s in production,
// 1 s here), whatever the upstream would do, and keeps answering others.
func TestCaddyCutsSlowHeaders(t *testing.T) {
	if _, err := exec.LookPath("caddy"); err != nil {
		t.Skip("caddy is not installed (ops/dev/deps.sh installs it)")
	}
	t.Setenv("MEDFORGE_CADDY_READ_HEADER", "1s")
	// The upstream answers everything at once; it is never reached by the
	// slow clients.
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	addr, _ := stacktest.StartCaddy(t, ln.Addr().String())

	const n = 16
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			req := "GET /api/v2/competitions HTTP/1.1\r\nHost: medforge.localhost\r\nX-Slow: " + strings.Repeat("a", 200)
			for j := range len(req) {
				if _, err := conn.Write([]byte{req[j]}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		wg.Go(func() {
			start := time.Now()
			conn.SetReadDeadline(start.Add(8 * time.Second))
			io.Copy(io.Discard, conn)
			took[i] = time.Since(start)
		})
	}
	// Meanwhile an ordinary request goes through.
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v2/competitions", nil)
	req.Host = "medforge.localhost:" + strings.Split(addr, ":")[1]
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("an ordinary request among slow clients: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("an ordinary request among slow clients: %d %q", resp.StatusCode, b)
	}
	wg.Wait()
	for i, d := range took {
		if d < 800*time.Millisecond || d > 4*time.Second {
			t.Errorf("slow connection %d ended after %s, want about the 1 s header timeout", i, d)
		}
	}
}

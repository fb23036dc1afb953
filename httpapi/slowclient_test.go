package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi/apitest"
)

// slowEnv is a server with short connection timeouts: headers 1 s, body
// 4 s, keep-alive idle 2 s.
func slowEnv(t *testing.T) (*apitest.Env, string) {
	t.Helper()
	env := apitest.New(t, apitest.Options{Config: func(c *config.Config) {
		c.HeaderTimeout, c.ReadTimeout, c.IdleTimeout = time.Second, 4*time.Second, 2*time.Second
	}})
	return env, strings.TrimPrefix(env.URL, "http://")
}

// closedWithin reports how long the server took to end conn (a read that
// returns an error or EOF), failing the test past limit. Whatever the
// server answers before closing (fasthttp may say 408) is read and dropped.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return took
}

// TestSlowHeadersAreCutOff is the slowloris defence: connections that
// trickle their headers a byte at a time, or send nothing at all, are
// closed once the header timeout passes, although bytes keep coming; the
// server keeps answering everyone else meanwhile.
func TestSlowHeadersAreCutOff(t *testing.T) {
	env, addr := slowEnv(t)
	const n = 64
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if i%2 == 0 { // a byte every 100 ms, never finishing the headers
			go func() {
				req := "GET /healthz HTTP/1.1\r\nHost: medforge.localhost\r\nX-Slow: " + strings.Repeat("a", 1000)
				for j := range len(req) {
					if _, err := conn.Write([]byte{req[j]}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
		} // odd: connected, silent
		wg.Go(func() { took[i] = closedWithin(t, conn, 6*time.Second) })
	}
	// Meanwhile, an ordinary client is served at once.
	start := time.Now()
	env.Do(t, "GET", "/healthz", nil)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("an ordinary request took %s among slow clients", d)
	}
	wg.Wait()
	for i, d := range took {
		if d < 800*time.Millisecond || d > 3*time.Second {
			t.Errorf("connection %d closed after %s, want about the 1 s header timeout", i, d)
		}
	}
}

// TestSlowBodyGetsTheBodyTimeout: once the headers are in, the body has
// the (longer) read timeout, not the header timeout: a body sent over 2 s
// (twice the header timeout) is read and answered, and one that is still
// coming after the 4 s body timeout is cut off.
func TestSlowBodyGetsTheBodyTimeout(t *testing.T) {
	_, addr := slowEnv(t)
	send := func(body string, gap time.Duration) net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /api/v2/auth/login HTTP/1.1\r\nHost: medforge.localhost\r\nOrigin: http://medforge.localhost:8000\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		go func() {
			for i := range len(body) {
				time.Sleep(gap)
				if _, err := conn.Write([]byte{body[i]}); err != nil {
					return
				}
			}
		}()
		return conn
	}
	body := `{"email":"nobody@example.org","password":"wrong password"}`
	conn := send(body, 2*time.Second/time.Duration(len(body)))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a body sent over 2 s was not answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 for a wrong password", resp.StatusCode)
	}
	// A byte every 200 ms: the 58-byte body would need 11.6 s.
	took := closedWithin(t, send(body, 200*time.Millisecond), 9*time.Second)
	if took < 3*time.Second || took > 7*time.Second {
		t.Fatalf("a body still arriving was cut off after %s, want about the 4 s body timeout", took)
	}
}

// TestIdleKeepAliveClosed: a keep-alive connection that sends nothing after
// its request is closed after the idle timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	_, addr := slowEnv(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: medforge.localhost\r\n\r\n")
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	conn.SetReadDeadline(start.Add(6 * time.Second))
	_, err = br.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle keep-alive connection stayed open for 6 s")
	}
	if d := time.Since(start); d < 1500*time.Millisecond || d > 4*time.Second {
		t.Fatalf("idle connection closed after %s, want about the 2 s idle timeout", d)
	}
}

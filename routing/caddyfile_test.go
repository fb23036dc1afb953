package routing_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateway is a scripted stand-in for the API's session-proxy answer, so
// the Caddy configuration's fail-closed paths can be driven, including
// answers the real endpoint never gives (2xx without X-Upstream). The
// original path (X-Forwarded-Uri) picks the answer.
type gateway struct {
	upstream string
	mu       sync.Mutex
	seen     []http.Header
	bodies   []int
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.seen = append(g.seen, r.Header.Clone())
	g.bodies = append(g.bodies, len(body))
	g.mu.Unlock()
	if r.URL.Path != "/api/v2/auth/session-proxy" {
		http.NotFound(w, r)
		return
	}
	uri := r.Header.Get("X-Forwarded-Uri")
	switch {
	case strings.HasPrefix(uri, "/ok"):
		w.Header().Set("X-Upstream", g.upstream)
		w.WriteHeader(200)
	case strings.HasPrefix(uri, "/no-upstream"):
		w.WriteHeader(200)
	case strings.HasPrefix(uri, "/empty-upstream"):
		w.Header().Set("X-Upstream", "")
		w.WriteHeader(204)
	case strings.HasPrefix(uri, "/bad-upstream"):
		w.Header().Set("X-Upstream", "http://evil.example/x")
		w.WriteHeader(200)
	default:
		w.Header().Set("X-Upstream", g.upstream) // must not leak on a refusal
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"status":401}`)
	}
}

func (g *gateway) last() http.Header {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		return nil
	}
	return g.seen[len(g.seen)-1]
}

// TestCaddyfileFailsClosed drives deploy/caddy's session route with a
// scripted gateway and a header-echoing upstream on loopback.
func TestCaddyfileFailsClosed(t *testing.T) {
	t.Parallel()
	var hits sync.Map
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "header": r.Header, "method": r.Method, "body_len": len(body)})
	}))
	t.Cleanup(echo.Close)
	gw := &gateway{upstream: strings.TrimPrefix(echo.URL, "http://")}
	api := httptest.NewServer(gw)
	t.Cleanup(api.Close)
	addr, _ := startCaddy(t, strings.TrimPrefix(api.URL, "http://"))
	s := &stack{t: t, caddy: addr}
	_, port, _ := net.SplitHostPort(s.caddy)
	host := "s-abc.external.medforge.localhost:" + port

	t.Run("upstream gets Host, no credentials, no upstream headers", func(t *testing.T) {
		r := s.get(host, "/ok", "", map[string]string{
			"Cookie": "theme=dark; medforge_session=mfs_secret-value; lang=en", "Authorization": "Bearer mft_x",
			"X-Upstream": "10.9.9.9:1", "X-Medforge-Upstream": "10.9.9.9:2",
		})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var got struct {
			Host   string
			Header http.Header
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Host != host {
			t.Errorf("upstream Host %q, want %q", got.Host, host)
		}
		ck := strings.Join(got.Header.Values("Cookie"), "; ")
		if strings.Contains(ck, "medforge_session") || strings.Contains(ck, "mfs_secret") || !strings.Contains(ck, "theme=dark") || !strings.Contains(ck, "lang=en") {
			t.Errorf("upstream Cookie %q: the MedForge cookie must go, the others stay", ck)
		}
		if got.Header.Get("X-Upstream") != "" || got.Header.Get("X-Medforge-Upstream") != "" {
			t.Errorf("upstream saw upstream headers: %v", got.Header)
		}
		auth := gw.last()
		if auth.Get("Authorization") != "" {
			t.Errorf("Authorization reached the auth endpoint")
		}
		if !strings.Contains(auth.Get("Cookie"), "medforge_session=mfs_secret-value") {
			t.Errorf("the auth endpoint did not get the cookie: %q", auth.Get("Cookie"))
		}
		if auth.Get("X-Upstream") != "" || auth.Get("X-Medforge-Upstream") != "" {
			t.Errorf("client upstream headers reached the auth endpoint: %v", auth)
		}
	})

	t.Run("a request body goes to the IDE, not to the auth endpoint", func(t *testing.T) {
		const n = 256 << 10
		req, _ := http.NewRequestWithContext(ctxT(t, 30*time.Second), http.MethodPost, "http://"+host+"/ok-upload", strings.NewReader(strings.Repeat("x", n)))
		resp, err := s.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Method  string
			BodyLen int `json:"body_len"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		if got.Method != http.MethodPost || got.BodyLen != n {
			t.Fatalf("the IDE got %s with %d body bytes, want POST with %d", got.Method, got.BodyLen, n)
		}
		gw.mu.Lock()
		last := gw.bodies[len(gw.bodies)-1]
		gw.mu.Unlock()
		if last != 0 {
			t.Fatalf("the auth endpoint received %d body bytes", last)
		}
	})

	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"2xx without X-Upstream", "/no-upstream", nil, 502},
		{"2xx without X-Upstream, client supplies it", "/no-upstream", map[string]string{"X-Upstream": gw.upstream}, 502},
		{"2xx without X-Upstream, client supplies the copied name", "/no-upstream", map[string]string{"X-Medforge-Upstream": gw.upstream}, 502},
		{"2xx with an empty X-Upstream", "/empty-upstream", map[string]string{"X-Medforge-Upstream": gw.upstream}, 502},
		{"2xx with a malformed X-Upstream", "/bad-upstream", nil, 502},
		{"refusal is passed through", "/refused", map[string]string{"X-Upstream": gw.upstream}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(host, tc.path, "", tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if _, hit := hits.Load(tc.path); hit {
				t.Fatalf("the upstream was reached")
			}
			if r.header.Get("X-Upstream") != "" || r.header.Get("X-Medforge-Upstream") != "" {
				t.Fatalf("upstream header reached the client: %v", r.header)
			}
		})
	}

	t.Run("API down is 502", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		deadAddr, _ := startCaddy(t, dead)
		d := &stack{t: t, caddy: deadAddr}
		_, dport, _ := net.SplitHostPort(d.caddy)
		start := time.Now()
		r := d.get("s-abc.external.medforge.localhost:"+dport, "/ok", "", map[string]string{"X-Upstream": gw.upstream})
		if r.status != 502 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if _, hit := hits.Load("/ok-dead"); hit || time.Since(start) > 20*time.Second {
			t.Fatalf("unexpected")
		}
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// The binary end to end, as `make run` wires it: serve with the session
// runtime and the session-proxy endpoint, Caddy with Caddyfile.local in
// front. A user signs in through Caddy, starts a session, reaches it on
// its session host, stops it, and the host answers 404.
func TestServeRoutesSessionsThroughCaddy(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("caddy"); err != nil {
		t.Fatal("caddy is missing (ops/dev/deps.sh installs it)")
	}
	_, dsn := testdb.FreshNamed(t, false)
	c := newCLI(t, dsn)
	instance := "serve-routing-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { stacktest.RemoveInstance(instance) })
	c.ok("", "migrate", "up")
	const email, pw = "router@example.org", "a-long-enough-password"
	c.ok(pw+"\n", "user", "create", "--email", email, "--password-stdin")

	api := stacktest.FreeAddr(t)
	serve := startProc(t, c, []string{"MEDFORGE_SESSIONS=on", "MEDFORGE_GPUS=0", "MEDFORGE_SESSION_INSTANCE=" + instance,
		"MEDFORGE_SESSION_CPUS=1", "MEDFORGE_SESSION_MEMORY=256m", "MEDFORGE_LOG_LEVEL=info"}, "serve", "--listen", api)
	_ = serve
	caddyAddr, _ := stacktest.StartCaddy(t, api)
	_, port, _ := net.SplitHostPort(caddyAddr)

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, caddyAddr)
		}}}
	site := "http://medforge.localhost:" + port
	// do is a browser's request: page loads of a session host go through the
	// handshake with medforge.localhost (the identity cookie is host-only).
	do := func(method, url, body string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if method == http.MethodGet {
			req.Header.Set("Sec-Fetch-Mode", "navigate")
			req.Header.Set("Accept", "text/html")
		}
		req.Header.Set("Origin", site)
		res, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// serve is up once the session runtime built the stand-in and /healthz answers.
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if code, _ := do("GET", site+"/healthz", ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never answered /healthz through Caddy")
		}
	}
	if code, body := do("POST", site+"/api/v2/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)); code != 200 {
		t.Fatalf("login through Caddy: %d %s", code, body)
	}
	code, body := do("POST", site+"/api/v2/external/sessions", "{}")
	if code != 201 {
		t.Fatalf("create session: %d %s", code, body)
	}
	var created struct {
		Data sessions.Session `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	host := "http://s-" + created.Data.Slug + ".external.medforge.localhost:" + port + "/"
	var ide string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		code, ide = do("GET", host, "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session host never answered 200 (last %d %s)", code, ide)
		}
	}
	if !strings.Contains(ide, `"ide":"medforge-standin"`) {
		t.Fatalf("session host answered %s", ide)
	}
	if code, body := do("POST", fmt.Sprintf("%s/api/v2/external/sessions/%d/stop", site, created.Data.ID), ""); code != 202 {
		t.Fatalf("stop: %d %s", code, body)
	}
	if code, body := do("GET", host, ""); code != 404 {
		t.Fatalf("after the stop request the session host answered %d %s", code, body)
	}
}

package routing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/gorilla/websocket"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// ideHostname is the hostname the stand-in IDE of a session reports (its
// container's short id), so a test can tell which container answered.
func ideHostname(t *testing.T, slug string) string {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	info, err := cli.ContainerInspect(ctxT(t, 30*time.Second), sessions.ContainerName(slug))
	if err != nil {
		t.Fatal(err)
	}
	return info.Config.Hostname
}

// ide decodes a stand-in IDE answer; ok is false when the body is not one.
func ide(body string) (host string, ok bool) {
	var v struct{ IDE, Hostname string }
	if json.Unmarshal([]byte(body), &v) != nil || v.IDE != "medforge-standin" {
		return "", false
	}
	return v.Hostname, true
}

// TestRoutingThroughCaddy is the access matrix of the issue, on real
// MariaDB, Docker, stand-in IDE containers, the API and Caddy.
func TestRoutingThroughCaddy(t *testing.T) {
	s := newStack(t)
	owner := testdb.User(t, s.st, testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 2})
	other := testdb.User(t, s.st, testdb.UserOpts{})
	admin := testdb.User(t, s.st, testdb.UserOpts{Admin: true})
	ownerCookie := testdb.SessionCookie(t, s.st, owner.User)
	otherCookie := testdb.SessionCookie(t, s.st, other.User)
	adminCookie := testdb.SessionCookie(t, s.st, admin.User)

	mine := s.running(owner.ID, sessions.External)
	theirs := s.running(other.ID, sessions.External)
	internal := s.running(owner.ID, sessions.Internal)
	mineHost, theirsHost := s.sessionHost(mine.Slug, sessions.External), s.sessionHost(theirs.Slug, sessions.External)
	mineIDE, theirsIDE, internalIDE := ideHostname(t, mine.Slug), ideHostname(t, theirs.Slug), ideHostname(t, internal.Slug)
	mineRoute, ok := s.table.Lookup(mine.Slug)
	if !ok {
		t.Fatalf("running session %s is not in the routing table", mine.Slug)
	}
	theirsRoute, _ := s.table.Lookup(theirs.Slug)
	_, port, _ := net.SplitHostPort(s.caddy)
	apiAddr := strings.TrimPrefix(s.api.URL, "http://")

	tests := []struct {
		name   string
		host   string
		path   string
		cookie string
		hdr    map[string]string
		status int
		ide    string // the IDE that must answer; "" means none may
	}{
		{name: "anonymous", host: mineHost, path: "/", status: 401},
		{name: "garbage cookie", host: mineHost, path: "/", cookie: "mfs_not-a-real-token", status: 401},
		{name: "non-owner", host: mineHost, path: "/", cookie: otherCookie, status: 403},
		{name: "owner", host: mineHost, path: "/", cookie: ownerCookie, status: 200, ide: mineIDE},
		{name: "owner deep path", host: mineHost, path: "/static/x.js?q=1", cookie: ownerCookie, status: 200, ide: mineIDE},
		{name: "admin", host: mineHost, path: "/", cookie: adminCookie, status: 200, ide: mineIDE},
		{name: "owner upper-case host", host: strings.ToUpper(mineHost), path: "/", cookie: ownerCookie, status: 200, ide: mineIDE},
		{name: "non-owner upper-case host", host: strings.ToUpper(mineHost), path: "/", cookie: otherCookie, status: 403},
		{name: "unknown slug", host: s.sessionHost("zzzzzzzzzz", sessions.External), path: "/", cookie: ownerCookie, status: 404},
		{name: "exposure mismatch", host: s.sessionHost(mine.Slug, sessions.Internal), path: "/", cookie: ownerCookie, status: 404},
		{name: "internal owner", host: s.sessionHost(internal.Slug, sessions.Internal), path: "/", cookie: ownerCookie, status: 200, ide: internalIDE},
		{name: "internal as external", host: s.sessionHost(internal.Slug, sessions.External), path: "/", cookie: ownerCookie, status: 404},
		{name: "internal non-owner", host: s.sessionHost(internal.Slug, sessions.Internal), path: "/", cookie: otherCookie, status: 403},
		{name: "extra label before the session label", host: "x." + mineHost, path: "/", cookie: ownerCookie, status: 404},

		// Client upstream hints are ignored.
		{name: "client X-Upstream to another session", host: theirsHost, path: "/", cookie: otherCookie,
			hdr: map[string]string{"X-Upstream": mineRoute.Upstream}, status: 200, ide: theirsIDE},
		{name: "client X-Upstream to the API", host: theirsHost, path: "/api/v2/me", cookie: otherCookie,
			hdr: map[string]string{"X-Upstream": apiAddr}, status: 200, ide: theirsIDE},
		{name: "client copied-header name", host: theirsHost, path: "/", cookie: otherCookie,
			hdr: map[string]string{"X-Medforge-Upstream": mineRoute.Upstream}, status: 200, ide: theirsIDE},
		{name: "client X-Upstream on a refused host", host: mineHost, path: "/", cookie: otherCookie,
			hdr: map[string]string{"X-Upstream": mineRoute.Upstream, "X-Medforge-Upstream": mineRoute.Upstream}, status: 403},
		{name: "anonymous with X-Upstream", host: mineHost, path: "/", hdr: map[string]string{"X-Upstream": theirsRoute.Upstream}, status: 401},
		{name: "X-Forwarded-Host of another session", host: theirsHost, path: "/", cookie: otherCookie,
			hdr: map[string]string{"X-Forwarded-Host": mineHost}, status: 200, ide: theirsIDE},
		{name: "X-Forwarded-Host on a refused host", host: mineHost, path: "/", cookie: otherCookie,
			hdr: map[string]string{"X-Forwarded-Host": theirsHost}, status: 403},
		{name: "bearer token does not count", host: mineHost, path: "/", hdr: map[string]string{"Authorization": "Bearer " + testdb.APIToken(t, s.st, owner.User)}, status: 401},

		// The endpoint is not reachable on a session host.
		{name: "session-proxy on a wildcard host", host: mineHost, path: "/api/v2/auth/session-proxy", cookie: ownerCookie, status: 403},
		{name: "session-proxy upper-case on a wildcard host", host: mineHost, path: "/API/V2/AUTH/SESSION-PROXY", cookie: ownerCookie, status: 403},
		{name: "session-proxy double slash on a wildcard host", host: mineHost, path: "//api//v2/auth/session-proxy?x=1", cookie: ownerCookie, status: 403},
		{name: "session-proxy anonymous on a wildcard host", host: mineHost, path: "/api/v2/auth/session-proxy", status: 403},

		// The API host answers the endpoint only for session hosts.
		{name: "session-proxy on the API host", host: "api.medforge.localhost:" + port, path: "/api/v2/auth/session-proxy", cookie: ownerCookie, status: 404},
		{name: "unknown host", host: "evil.example:" + port, path: "/", cookie: ownerCookie, status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(tc.host, tc.path, tc.cookie, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			got, isIDE := ide(r.body)
			if tc.ide == "" && isIDE {
				t.Fatalf("an IDE (%s) answered a refused request", got)
			}
			if tc.ide != "" && got != tc.ide {
				t.Fatalf("IDE %q answered, want %q (body %s)", got, tc.ide, r.body)
			}
			if r.header.Get(routing.HeaderUpstream) != "" || r.header.Get("X-Medforge-Upstream") != "" {
				t.Fatalf("an upstream header reached the client: %v", r.header)
			}
		})
	}

	// Absolute-form request targets and conflicting Host headers: whatever
	// host the proxy decides on, the other user's cookie never reaches the
	// owner's IDE.
	t.Run("no host trick reaches another user's IDE", func(t *testing.T) {
		reqs := []string{
			fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", mineHost, theirsHost, httpapi.CookieName, otherCookie),
			fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", theirsHost, mineHost, httpapi.CookieName, otherCookie),
			fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nHost: %s\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", theirsHost, mineHost, httpapi.CookieName, otherCookie),
			fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s.\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", mineHost, httpapi.CookieName, otherCookie),
			fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nX-Upstream: %s\r\nX-Upstream: %s\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", theirsHost, mineRoute.Upstream, mineRoute.Upstream, httpapi.CookieName, otherCookie),
			fmt.Sprintf("GET /..%%2f..%%2f HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nConnection: close\r\n\r\n", mineHost, httpapi.CookieName, otherCookie),
		}
		for _, req := range reqs {
			_, body := s.raw(req)
			if got, ok := ide(body); ok && got != theirsIDE {
				t.Fatalf("request %q reached IDE %s (the owner's is %s)", req, got, mineIDE)
			}
		}
	})

	t.Run("websocket upgrade answers 101 and echoes", func(t *testing.T) {
		d := websocket.Dialer{
			HandshakeTimeout: 10 * time.Second,
			NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, s.caddy)
			},
		}
		hdr := http.Header{}
		hdr.Set("Cookie", httpapi.CookieName+"="+ownerCookie)
		hdr.Set("Origin", "http://"+mineHost)
		c, resp, err := d.DialContext(ctxT(t, 20*time.Second), "ws://"+mineHost+"/ws", hdr)
		if err != nil {
			t.Fatalf("dial: %v (response %+v)", err, resp)
		}
		defer c.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for i := 0; i < 3; i++ {
			msg := fmt.Sprintf("hello %d", i)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.ReadMessage()
			if err != nil || string(got) != msg {
				t.Fatalf("echo %q, %v; want %q", got, err, msg)
			}
		}
		// Another user's upgrade is refused before it reaches the IDE.
		hdr.Set("Cookie", httpapi.CookieName+"="+otherCookie)
		_, resp, err = d.DialContext(ctxT(t, 20*time.Second), "ws://"+mineHost+"/ws", hdr)
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("non-owner upgrade: err %v, response %+v", err, resp)
		}
	})

	t.Run("endpoint answers 200 with X-Upstream and no body", func(t *testing.T) {
		// An empty body keeps Caddy's keep-alive connection to the API:
		// forward_auth closes a 2xx body without reading it.
		res := s.api.Do(t, "GET", "/api/v2/auth/session-proxy", nil, func(r *http.Request) {
			r.Host = mineHost
			r.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: ownerCookie})
		})
		if res.Status != 200 || res.Header.Get(routing.HeaderUpstream) != mineRoute.Upstream || len(res.Body) != 0 || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("status %d, upstream %q, body %q, headers %v", res.Status, res.Header.Get(routing.HeaderUpstream), res.Body, res.Header)
		}
		for _, c := range []struct {
			cookie string
			status int
		}{{"", 401}, {otherCookie, 403}} {
			res := s.api.Do(t, "GET", "/api/v2/auth/session-proxy", nil, func(r *http.Request) {
				r.Host = mineHost
				if c.cookie != "" {
					r.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: c.cookie})
				}
			})
			if res.Status != c.status || res.Header.Get(routing.HeaderUpstream) != "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("status %d (want %d), headers %v", res.Status, c.status, res.Header)
			}
		}
	})

	t.Run("validate-routing.sh verifies every claim", func(t *testing.T) {
		cmd := exec.CommandContext(ctxT(t, 2*time.Minute), filepath.Join(repoRoot(t), "ops", "host", "validate-routing.sh"))
		cmd.Env = append(os.Environ(), "MEDFORGE_DOMAIN=localhost", "VALIDATE_PORT="+port, "VALIDATE_CONNECT="+s.caddy,
			"VALIDATE_SLUG="+mine.Slug, "VALIDATE_EXPOSURE=external", "VALIDATE_OWNER_COOKIE="+ownerCookie, "VALIDATE_OTHER_COOKIE="+otherCookie)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "UNVERIFIED") || strings.Count(string(out), "VERIFIED") != 9 {
			t.Fatalf("validate-routing.sh: %v\n%s", err, out)
		}
		if strings.Contains(string(out), ownerCookie) || strings.Contains(string(out), otherCookie) {
			t.Fatalf("validate-routing.sh printed a cookie")
		}
	})

	t.Run("Caddy's access log has the requests but no credentials", func(t *testing.T) {
		logs := s.caddyLog.String()
		if !strings.Contains(logs, `"host":"`+mineHost+`"`) {
			t.Fatalf("no access log line for %s:\n%.2000s", mineHost, logs)
		}
		for _, secret := range []string{ownerCookie, otherCookie, adminCookie} {
			if strings.Contains(logs, secret) {
				t.Fatalf("Caddy logged a session cookie")
			}
		}
	})

	t.Run("activity is recorded in batches", func(t *testing.T) {
		ctx := ctxT(t, 30*time.Second)
		before, err := s.st.GetSession(ctx, mine.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.get(mineHost, "/", ownerCookie, nil); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		n, err := s.table.Flush(ctx)
		if err != nil || n < 1 {
			t.Fatalf("flush wrote %d, %v", n, err)
		}
		after, err := s.st.GetSession(ctx, mine.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !after.LastActivityAt.Valid || !after.LastActivityAt.Time.After(before.LastActivityAt.Time) {
			t.Fatalf("last activity %v, before %v", after.LastActivityAt, before.LastActivityAt)
		}
		// Nothing routed since: the next flush writes nothing.
		if n, err := s.table.Flush(ctx); err != nil || n != 0 {
			t.Fatalf("idle flush wrote %d, %v", n, err)
		}
	})

	t.Run("logout ends access at once", func(t *testing.T) {
		cookie := testdb.SessionCookie(t, s.st, owner.User)
		if r := s.get(mineHost, "/", cookie, nil); r.status != 200 {
			t.Fatalf("before logout: %d", r.status)
		}
		out := s.api.Do(t, "POST", "/api/v2/auth/logout", nil, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: cookie})
		})
		if out.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", out.Status, out.Body)
		}
		if r := s.get(mineHost, "/", cookie, nil); r.status != 401 {
			t.Fatalf("after logout: %d %s", r.status, r.body)
		}
	})

	t.Run("404 after stop", func(t *testing.T) {
		ctx := ctxT(t, 90*time.Second)
		if _, err := s.svc.Stop(ctx, theirs.ID, other.ID, sessions.StopUser); err != nil {
			t.Fatal(err)
		}
		// The route goes with the stop request, before finalization.
		if r := s.get(theirsHost, "/", otherCookie, nil); r.status != 404 {
			t.Fatalf("after the stop request: %d %s", r.status, r.body)
		}
		s.waitStatus(theirs.ID, sessions.StatusStopped)
		if r := s.get(theirsHost, "/", otherCookie, nil); r.status != 404 {
			t.Fatalf("after stop: %d %s", r.status, r.body)
		}
		// A resync from the database agrees.
		if err := s.table.Resync(ctx); err != nil {
			t.Fatal(err)
		}
		if r := s.get(theirsHost, "/", otherCookie, nil); r.status != 404 {
			t.Fatalf("after resync: %d %s", r.status, r.body)
		}
		if r := s.get(mineHost, "/", ownerCookie, nil); r.status != 200 {
			t.Fatalf("the owner's other session lost its route: %d", r.status)
		}
	})
}

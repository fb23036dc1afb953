package routing_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// browser is a cookie-keeping client that sends every request to Caddy
// (as DNS for *.localhost would) and follows redirects like a browser,
// until stop says so.
type browser struct {
	t        *testing.T
	s        *stack
	jar      *cookiejar.Jar
	c        *http.Client
	platform string // medforge.localhost:<port>
}

func (s *stack) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	_, port, _ := net.SplitHostPort(s.caddy)
	b := &browser{t: t, s: s, jar: jar, platform: "medforge.localhost:" + port}
	b.c = &http.Client{
		Timeout: 30 * time.Second, Jar: jar,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.caddy)
		}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/login" || len(via) > 10 {
				return http.ErrUseLastResponse // no web UI in this stack
			}
			return nil
		},
	}
	return b
}

// do sends a request; nav makes it a page load (Sec-Fetch-Mode: navigate,
// Accept: text/html), else it is a script's request.
func (b *browser) do(method, rawURL string, nav bool, body io.Reader) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(ctxT(b.t, 30*time.Second), method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if nav {
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	} else {
		req.Header.Set("Sec-Fetch-Mode", "cors")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://"+b.platform)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *browser) login(u testdb.FactoryUser) {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": u.Email, "password": u.Password})
	if resp, out := b.do("POST", "http://"+b.platform+"/api/v2/auth/login", false, strings.NewReader(string(body))); resp.StatusCode != 200 {
		b.t.Fatalf("login: %d %s", resp.StatusCode, out)
	}
}

func (b *browser) logout() {
	b.t.Helper()
	if resp, out := b.do("POST", "http://"+b.platform+"/api/v2/auth/logout", false, strings.NewReader("")); resp.StatusCode != 204 {
		b.t.Fatalf("logout: %d %s", resp.StatusCode, out)
	}
}

// me is the user id the platform host thinks the browser is (0: anonymous).
func (b *browser) me() int64 {
	b.t.Helper()
	resp, out := b.do("GET", "http://"+b.platform+"/api/v2/me", false, nil)
	if resp.StatusCode == 401 {
		return 0
	}
	var env struct{ Data identity.User }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &env) != nil {
		b.t.Fatalf("me: %d %s", resp.StatusCode, out)
	}
	return env.Data.ID
}

func (b *browser) cookies(host string) map[string][]string {
	out := map[string][]string{}
	for _, c := range b.jar.Cookies(&url.URL{Scheme: "http", Host: host, Path: "/"}) {
		out[c.Name] = append(out[c.Name], c.Value)
	}
	return out
}

// open loads http://host+path as a page and expects the IDE to answer it.
func (b *browser) open(host, path string) map[string]string {
	b.t.Helper()
	resp, out := b.do("GET", "http://"+host+path, true, nil)
	var v map[string]string
	if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &v) != nil || v["ide"] != "medforge-standin" {
		b.t.Fatalf("open %s%s: %d at %s: %s", host, path, resp.StatusCode, resp.Request.URL, out)
	}
	if resp.Request.URL.Host != host {
		b.t.Fatalf("ended on %s, not the session host", resp.Request.URL)
	}
	return v
}

// TestSessionHostHandshake is the browser's journey through real Caddy to
// a real session container: sent to sign in and back, given a per-session
// credential by the redirect handshake, never carrying the identity cookie
// to the session host; the credential is dead after logout, stop and the
// loss of can_use_internal (which also stops the INTERNAL session), and a
// hostile IDE's cookies change nothing on the platform host.
func TestSessionHostHandshake(t *testing.T) {
	s := newStack(t)
	s.api.Server.Identity().OnUserChange(func(int64) { s.svc.Kick() })
	owner := testdb.User(t, s.st, testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 2})
	other := testdb.User(t, s.st, testdb.UserOpts{})
	sess := s.running(owner.ID, sessions.External)
	host := s.sessionHost(sess.Slug, sessions.External)
	b := s.browser(t)

	t.Run("signed out: sent to sign in and back", func(t *testing.T) {
		resp, out := b.do("GET", "http://"+host+"/some/path?x=1", true, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Request.URL.Host != b.platform {
			t.Fatalf("want 303 to sign in on the platform host, got %d at %s: %s", resp.StatusCode, resp.Request.URL, out)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path != "/login" || !strings.HasPrefix(loc.Query().Get("next"), "/api/v2"+routing.HandshakeEndpoint+"?") {
			t.Fatalf("sign-in redirect %q", resp.Header.Get("Location"))
		}
		if got := b.cookies(host)[routing.StateCookieName(false)]; len(got) != 1 {
			t.Fatalf("no handshake state cookie on the session host: %v", b.cookies(host))
		}
		// A script's request is not redirected: 401 as before.
		if resp, _ := b.do("GET", "http://"+host+"/", false, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("script request without credential: %d", resp.StatusCode)
		}
		b.login(owner)
		resp, out = b.do("GET", "http://"+b.platform+loc.Query().Get("next"), true, nil)
		var v map[string]string
		if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &v) != nil || v["path"] != "/some/path" || resp.Request.URL.Host != host {
			t.Fatalf("after sign-in: %d at %s: %s", resp.StatusCode, resp.Request.URL, out)
		}
		if strings.Contains(v["cookie"], "medforge_") {
			t.Fatalf("the IDE received MedForge cookies: %q", v["cookie"])
		}
		if resp.Request.URL.RawQuery != "x=1" {
			t.Fatalf("query lost on the way back: %s", resp.Request.URL)
		}
	})

	t.Run("cookies stay on their hosts", func(t *testing.T) {
		sc, pc := b.cookies(host), b.cookies(b.platform)
		if len(sc[routing.IDECookieName(false)]) != 1 || len(sc[httpapi.CookieName]) != 0 {
			t.Fatalf("session host cookies %v: want the credential and no identity cookie", sc)
		}
		if len(pc[httpapi.CookieName]) != 1 || len(pc[routing.IDECookieName(false)]) != 0 {
			t.Fatalf("platform host cookies %v", pc)
		}
		// With the credential, pages and scripts reach the IDE at once.
		b.open(host, "/again")
		if resp, _ := b.do("GET", "http://"+host+"/xhr", false, nil); resp.StatusCode != 200 {
			t.Fatalf("script request with credential: %d", resp.StatusCode)
		}
	})

	t.Run("hostile IDE cannot change who the platform thinks the caller is", func(t *testing.T) {
		attackerToken := testdb.SessionCookie(t, s.st, other.User)
		forged := "v1.eyJrIjoiaWRlIn0.AAAA"
		q := url.Values{"c": {
			"medforge_session=" + attackerToken + "; Domain=medforge.localhost; Path=/",
			"medforge_session=" + attackerToken + "; Domain=.medforge.localhost; Path=/api",
			"__Host-medforge_session=" + attackerToken + "; Path=/; Secure",
			"medforge_ide=" + forged + "; Domain=.external.medforge.localhost; Path=/sub",
		}}
		b.open(host, "/set-cookie?"+q.Encode())
		// The IDE did set them, but Caddy kept them on the session host.
		if got := b.cookies(host)[httpapi.CookieName]; len(got) != 1 || got[0] != attackerToken {
			t.Fatalf("the IDE's cookie is not on the session host: %v", b.cookies(host))
		}
		if id := b.me(); id != owner.ID {
			t.Fatalf("after the IDE set cookies the platform sees user %d, want %d (attacker %d)", id, owner.ID, other.ID)
		}
		if pc := b.cookies(b.platform); len(pc[httpapi.CookieName]) != 1 {
			t.Fatalf("platform host cookies %v: the IDE planted one", pc)
		}
		// The owner still reaches the IDE: the planted identity cookie does
		// not outrank the credential, and under /sub, where the browser
		// sends the forged credential first, the real one still counts.
		b.open(host, "/")
		b.open(host, "/sub/page")
	})

	t.Run("another user is refused by the handshake", func(t *testing.T) {
		ob := s.browser(t)
		ob.login(other)
		resp, out := ob.do("GET", "http://"+host+"/", true, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(out, "not_session_owner") || resp.Request.URL.Host != ob.platform {
			t.Fatalf("other user: %d at %s: %s", resp.StatusCode, resp.Request.URL, out)
		}
		if len(ob.cookies(host)[routing.IDECookieName(false)]) != 0 {
			t.Fatal("another user got a credential")
		}
	})

	t.Run("a code works once, for its browser only", func(t *testing.T) {
		vb := s.browser(t)
		vb.login(owner)
		var code string
		vb.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == routing.HandshakePath {
				code = req.URL.String()
				return http.ErrUseLastResponse
			}
			return nil
		}
		vb.do("GET", "http://"+host+"/", true, nil)
		if code == "" {
			t.Fatal("no code")
		}
		// Another browser (no state cookie) cannot use it.
		eb := s.browser(t)
		if resp, _ := eb.do("GET", code, true, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("code in another browser: %d", resp.StatusCode)
		}
		vb.c.CheckRedirect = nil
		if resp, out := vb.do("GET", code, true, nil); resp.StatusCode != 200 {
			t.Fatalf("code in its browser: %d %s", resp.StatusCode, out)
		}
		// A replay in the same browser is refused.
		vb.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if resp, _ := vb.do("GET", code, true, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("replayed code: %d", resp.StatusCode)
		}
	})

	t.Run("dead after logout", func(t *testing.T) {
		b.logout()
		if resp, _ := b.do("GET", "http://"+host+"/", false, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("credential after logout: %d", resp.StatusCode)
		}
		resp, _ := b.do("GET", "http://"+host+"/", true, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
			t.Fatalf("page after logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("dead after stop", func(t *testing.T) {
		b.login(owner)
		b.open(host, "/")
		if _, err := s.svc.Stop(ctxT(t, 30*time.Second), sess.ID, owner.ID, sessions.StopUser); err != nil {
			t.Fatal(err)
		}
		if resp, _ := b.do("GET", "http://"+host+"/", false, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("credential after stop: %d", resp.StatusCode)
		}
	})

	t.Run("revoking can_use_internal kills the credential and stops INTERNAL sessions", func(t *testing.T) {
		in := s.running(owner.ID, sessions.Internal)
		ihost := s.sessionHost(in.Slug, sessions.Internal)
		b.open(ihost, "/")
		if _, err := s.api.Server.Identity().SetAccess(ctxT(t, 30*time.Second), owner.ID, identity.Access{
			Role: identity.RoleUser, MaxConcurrentSessions: 2}); err != nil {
			t.Fatal(err)
		}
		// 403 internal_access_required, or 404 once the stop (kicked by the
		// same change) has removed the route.
		if resp, out := b.do("GET", "http://"+ihost+"/", false, nil); !(resp.StatusCode == http.StatusForbidden && strings.Contains(out, "internal_access_required") ||
			resp.StatusCode == http.StatusNotFound) {
			t.Fatalf("credential after revoke: %d %s", resp.StatusCode, out)
		}
		ctx := ctxT(t, 60*time.Second)
		for {
			got, err := s.svc.Get(ctx, in.ID, 0)
			if err == nil && !got.Status.Active() || err == nil && got.Status == sessions.StatusStopping {
				if got.StopReason != sessions.StopEntitlementRevoked {
					t.Fatalf("stopped with reason %q", got.StopReason)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("INTERNAL session still %s after the revoke", got.Status)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

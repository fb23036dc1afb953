package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/store/testdb"
	"github.com/medforge/medforge/web"
)

// uiEnv is an API server with only the web UI mounted (no competitions, no
// sessions), which is also how pages behave when a capability is off.
func uiEnv(t *testing.T) *apitest.Env {
	t.Helper()
	return apitest.New(t, apitest.Options{Mount: func(s *httpapi.Server) {
		if _, err := web.Mount(s); err != nil {
			t.Fatal(err)
		}
	}})
}

func TestPages(t *testing.T) {
	t.Parallel()
	e := uiEnv(t)
	user := testdb.User(t, e.Store, testdb.UserOpts{DisplayName: "Grace"})
	admin := testdb.User(t, e.Store, testdb.UserOpts{Admin: true})
	userCookie := apitest.Cookie(testdb.SessionCookie(t, e.Store, user.User))
	adminCookie := apitest.Cookie(testdb.SessionCookie(t, e.Store, admin.User))

	tests := []struct {
		name       string
		path       string
		opts       []apitest.ReqOpt
		status     int
		want       []string
		location   string
		notHTML    bool
		wantHeader map[string]string
	}{
		{name: "home anonymous", path: "/", status: 200, want: []string{"<h1>Competitions</h1>", "No competitions are visible", `href="/signup"`},
			wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY"}},
		{name: "home signed in", path: "/", opts: []apitest.ReqOpt{userCookie}, status: 200, want: []string{"Signed in as <strong>Grace</strong>", `href="/sessions"`}},
		{name: "admin link only for admins", path: "/", opts: []apitest.ReqOpt{adminCookie}, status: 200, want: []string{`href="/admin"`}},
		{name: "account needs sign-in", path: "/account", status: 303, location: "/login?next=%2Faccount"},
		{name: "account lists tokens", path: "/account", opts: []apitest.ReqOpt{userCookie}, status: 200, want: []string{"Create a token", "You have no tokens"}},
		{name: "sessions needs sign-in", path: "/sessions", status: 303, location: "/login?next=%2Fsessions"},
		{name: "sessions without the runtime", path: "/sessions", opts: []apitest.ReqOpt{userCookie}, status: 200, want: []string{"GPU sessions are not available on this server"}},
		{name: "admin forbidden to users", path: "/admin", opts: []apitest.ReqOpt{userCookie}, status: 403, want: []string{"Not allowed", "this page is for administrators"}},
		{name: "admin users", path: "/admin/users", opts: []apitest.ReqOpt{adminCookie}, status: 200, want: []string{user.Email, `data-method="PATCH"`}},
		{name: "admin GPUs without the runtime", path: "/admin/gpus", opts: []apitest.ReqOpt{adminCookie}, status: 200, want: []string{"session runtime is not running"}},
		{name: "unknown competition", path: "/competitions/nope", status: 404, want: []string{"Not found", "go back to the competitions"}},
		{name: "unknown page", path: "/no/such/page", status: 404, want: []string{"Page not found"}},
		{name: "unknown API path stays problem+json", path: "/api/v2/no-such", status: 404, notHTML: true, want: []string{`"code":"not_found"`}},
		{name: "login keeps a local next", path: "/login?next=/competitions/x", status: 200, want: []string{`data-success="redirect:/competitions/x"`}},
		{name: "login drops a foreign next", path: "/login?next=//evil.example/", status: 200, want: []string{`data-success="redirect:/"`}},
		{name: "signed-in login goes on", path: "/login?next=/account", opts: []apitest.ReqOpt{userCookie}, status: 303, location: "/account"},
		{name: "stylesheet", path: "/static/app.css", status: 200, notHTML: true, wantHeader: map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		{name: "script", path: "/static/app.js", status: 200, notHTML: true, want: []string{"data-refresh"}, wantHeader: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}},
		{name: "missing asset", path: "/static/nope.js", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.Do(t, http.MethodGet, tc.path, nil, tc.opts...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d\n%s", r.Status, tc.status, r.Body)
			}
			if tc.location != "" && r.Header.Get("Location") != tc.location {
				t.Fatalf("Location %q, want %q", r.Header.Get("Location"), tc.location)
			}
			if !tc.notHTML && tc.status != 303 && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			for _, w := range tc.want {
				if !strings.Contains(string(r.Body), w) {
					t.Errorf("body lacks %q:\n%s", w, r.Body)
				}
			}
			for k, v := range tc.wantHeader {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// Pages are never served on session hosts: those run user code, and a
// page there would share the session cookie's domain.
func TestNoPagesOnSessionHosts(t *testing.T) {
	t.Parallel()
	e := uiEnv(t)
	for _, host := range []string{"s-abc.external.medforge.localhost", "s-abc.internal.medforge.localhost"} {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
		req.Host = host
		res, err := e.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", host, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
	req.Host = "external.medforge.localhost"
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), ">EXTERNAL</span>") {
		t.Fatalf("external.medforge.localhost: %d\n%s", res.StatusCode, b)
	}
}

// Pages are registered through the route table, so the OpenAPI document
// still matches what the server answers (serve checks this at start).
func TestPagesKeepOpenAPITrue(t *testing.T) {
	t.Parallel()
	e := uiEnv(t)
	// A request first: the server must be listening before the test ends.
	if r := e.Do(t, http.MethodGet, "/healthz", nil); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
	if undoc, phantom := e.Server.RouteMismatch(); len(undoc)+len(phantom) > 0 {
		t.Fatalf("undocumented %v, phantom %v", undoc, phantom)
	}
}

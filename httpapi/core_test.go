package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/identity/httpidentity"
	"github.com/medforge/medforge/store/db"
	"github.com/medforge/medforge/store/testdb"
)

// The OpenAPI document must list exactly the routes the server answers.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{Mount: func(s *httpapi.Server) {
		s.Handle(httpapi.Route{Method: "GET", Path: "/things/:slug/parts/:id", Summary: "test route", Response: identity.User{},
			Handler: func(c *fiber.Ctx) error { return nil }})
	}})
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	res := env.Do(t, "GET", "/api/v2/openapi.json", nil)
	if res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			inDoc[strings.ToUpper(m)+" "+p] = true
			if op["summary"] == "" || op["operationId"] == "" || op["responses"] == nil {
				t.Errorf("%s %s lacks summary, operationId or responses", m, p)
			}
			// Every {param} in the path is declared.
			declared := map[string]bool{}
			if params, ok := op["parameters"].([]any); ok {
				for _, x := range params {
					pm := x.(map[string]any)
					if pm["in"] == "path" {
						declared[pm["name"].(string)] = true
					}
				}
			}
			for _, seg := range strings.Split(p, "/") {
				if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
					t.Errorf("%s %s: path parameter %s not declared", m, p, seg)
				}
			}
		}
	}
	inApp := map[string]bool{}
	for _, r := range env.Server.App().GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == http.MethodConnect || r.Method == http.MethodTrace {
			continue
		}
		inApp[r.Method+" "+httpapi.OpenAPIPath(r.Path)] = true
	}
	var missing, extra []string
	for k := range inApp {
		if !inDoc[k] {
			missing = append(missing, k)
		}
	}
	for k := range inDoc {
		if !inApp[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("OpenAPI disagrees with routes:\n  served but undocumented: %v\n  documented but not served: %v", missing, extra)
	}
	if undoc, phantom := env.Server.RouteMismatch(); len(undoc)+len(phantom) > 0 {
		t.Fatalf("RouteMismatch: undocumented %v, phantom %v", undoc, phantom)
	}
	for _, want := range []string{"GET /healthz", "GET /metrics", "POST /api/v2/auth/login", "GET /api/v2/me", "DELETE /api/v2/me/tokens/{id}", "GET /api/v2/things/{slug}/parts/{id}"} {
		if !inDoc[want] {
			t.Errorf("document lacks %s", want)
		}
	}
}

func TestErrorsNeverLeakInternals(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{
		Config: func(c *config.Config) { c.BodyLimit = 2048 },
		Mount: func(s *httpapi.Server) {
			s.Handle(httpapi.Route{Method: "GET", Path: "/test/fail", Summary: "fails", Handler: func(c *fiber.Ctx) error {
				return fmt.Errorf("query users: %w", errors.New("dial unix /secret/mysqld.sock: connection refused"))
			}})
			s.Handle(httpapi.Route{Method: "GET", Path: "/test/panic", Summary: "panics", Handler: func(c *fiber.Ctx) error {
				panic("secret panic text")
			}})
			s.Handle(httpapi.Route{Method: "GET", Path: "/test/problem", Summary: "problem with cause", Handler: func(c *fiber.Ctx) error {
				return httpapi.Problem(409, "thing_busy", "the thing is busy").WithCause(errors.New("secret lock holder 42"))
			}})
			s.Handle(httpapi.Route{Method: "POST", Path: "/test/echo", Summary: "echo", Request: map[string]string{}, Handler: func(c *fiber.Ctx) error {
				var m map[string]string
				if err := httpapi.Decode(c, &m); err != nil {
					return err
				}
				return httpapi.OK(c, 200, m)
			}})
		},
	})
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"internal error", "GET", "/api/v2/test/fail", nil, 500, "internal"},
		{"panic", "GET", "/api/v2/test/panic", nil, 500, "internal"},
		{"problem with cause", "GET", "/api/v2/test/problem", nil, 409, "thing_busy"},
		{"unknown route", "GET", "/api/v2/no/such/thing", nil, 404, "not_found"},
		{"unknown root route", "GET", "/nope", nil, 404, "not_found"},
		{"method not allowed", "PUT", "/api/v2/me", nil, 405, "method_not_allowed"},
		{"body too large", "POST", "/api/v2/test/echo", `{"a":"` + strings.Repeat("x", 2048+httpapi.BodySlack) + `"}`, 413, "body_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := env.Do(t, tc.method, tc.path, tc.body)
			p := res.Problem(t, tc.status, tc.code)
			if p.RequestID == "" || p.Type == "" || p.Title == "" || p.Detail == "" {
				t.Errorf("incomplete problem %+v", p)
			}
			for _, secret := range []string{"secret", "mysqld", "panic", "goroutine"} {
				if strings.Contains(string(res.Body), secret) {
					t.Errorf("response leaks %q: %s", secret, res.Body)
				}
			}
		})
	}
	// The server survives the panic.
	env.Do(t, "GET", "/healthz", nil)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	tests := []struct {
		name, in string
		kept     bool
	}{
		{"sane kept", "abc-123_x.y", true},
		{"too long replaced", strings.Repeat("a", 65), false},
		{"bad characters replaced", "a b<script>", false},
		{"absent generated", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []apitest.ReqOpt
			if tc.in != "" {
				opts = append(opts, apitest.Header("X-Request-ID", tc.in))
			}
			res := env.Do(t, "GET", "/api/v2/me", nil, opts...)
			got := res.Header.Get("X-Request-ID")
			p := res.Problem(t, 401, "unauthenticated")
			if p.RequestID != got {
				t.Fatalf("body request_id %q != header %q", p.RequestID, got)
			}
			if tc.kept != (got == tc.in) || got == "" {
				t.Fatalf("request id %q for incoming %q", got, tc.in)
			}
		})
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	var rep *httpapi.HealthReporter
	env := apitest.New(t, apitest.Options{})
	var h httpapi.HealthReport
	res := env.Do(t, "GET", "/healthz", nil)
	if res.Status != 200 || json.Unmarshal(res.Body, &h) != nil || h.Status != "ok" || h.Subsystems["database"].Status != "ok" {
		t.Fatalf("healthz %d %s", res.Status, res.Body)
	}
	rep = env.Server.Health().Reporter("scoring_worker", time.Minute)
	res = env.Do(t, "GET", "/healthz", nil)
	if res.Status != 503 || json.Unmarshal(res.Body, &h) != nil || h.Status != "degraded" || h.Subsystems["scoring_worker"].Status != "starting" {
		t.Fatalf("healthz with starting reporter: %d %s", res.Status, res.Body)
	}
	rep.OK()
	if res = env.Do(t, "GET", "/healthz", nil); res.Status != 200 {
		t.Fatalf("healthz after OK: %d %s", res.Status, res.Body)
	}
	env.Server.Health().Register("flaky", func(ctx context.Context) error { return errors.New("secret reason") })
	res = env.Do(t, "GET", "/healthz", nil)
	if res.Status != 503 || strings.Contains(string(res.Body), "secret") {
		t.Fatalf("healthz with failing check: %d %s", res.Status, res.Body)
	}

	env.Do(t, "GET", "/api/v2/me", nil)
	env.Do(t, "GET", "/api/v2/admin/users", nil)
	m := env.Do(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`medforge_http_requests_total{method="GET",route="/api/v2/me",status="401"}`,
		`medforge_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="503"`,
		`medforge_http_requests_total{method="GET",route="/api/v2/admin/*",status="401"}`,
		"medforge_auth_cache_hits_total", "medforge_auth_cache_entries",
	} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	u := testdb.User(t, env.Store, testdb.UserOpts{})
	other := testdb.User(t, env.Store, testdb.UserOpts{})
	ck := apitest.Cookie(testdb.SessionCookie(t, env.Store, u.User))

	var created httpidentity.CreatedToken
	env.Do(t, "POST", "/api/v2/me/tokens", map[string]any{"name": "laptop", "expires_in_days": 30}, ck).Data(t, 201, &created)
	if created.Token == "" || created.ExpiresAt == nil {
		t.Fatalf("created = %+v", created)
	}
	env.Do(t, "POST", "/api/v2/me/tokens", map[string]any{"name": "laptop"}, ck).Problem(t, 409, "token_name_taken")
	env.Do(t, "POST", "/api/v2/me/tokens", map[string]any{"name": ""}, ck).Problem(t, 422, "validation_failed")
	env.Do(t, "POST", "/api/v2/me/tokens", map[string]any{"name": "x", "expires_in_days": -1}, ck).Problem(t, 422, "validation_failed")

	var me identity.User
	env.Do(t, "GET", "/api/v2/me", nil, apitest.Bearer(created.Token)).Data(t, 200, &me)
	if me.ID != u.ID {
		t.Fatalf("bearer authenticated as %d, want %d", me.ID, u.ID)
	}
	list := env.Do(t, "GET", "/api/v2/me/tokens", nil, ck)
	var toks []map[string]any
	list.Data(t, 200, &toks)
	if len(toks) != 1 || strings.Contains(string(list.Body), created.Token) || toks[0]["last_used_at"] == nil {
		t.Fatalf("list = %s", list.Body)
	}
	path := fmt.Sprintf("/api/v2/me/tokens/%d", created.ID)
	env.Do(t, "DELETE", path, nil, apitest.Cookie(testdb.SessionCookie(t, env.Store, other.User))).Problem(t, 404, "not_found")
	env.Do(t, "DELETE", "/api/v2/me/tokens/abc", nil, ck).Problem(t, 404, "not_found")
	if res := env.Do(t, "DELETE", path, nil, ck); res.Status != 204 {
		t.Fatalf("delete %d %s", res.Status, res.Body)
	}
	env.Do(t, "GET", "/api/v2/me", nil, apitest.Bearer(created.Token)).Problem(t, 401, "unauthenticated")
}

// Role and entitlement changes reach the cached cookie -> user lookup at
// once in-process, and within the watch interval when made by another
// process (medforge user set writes the database directly).
func TestAuthCacheInvalidation(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{Config: func(c *config.Config) { c.AuthCacheTTL = time.Hour }})
	admin := testdb.User(t, env.Store, testdb.UserOpts{Admin: true})
	u := testdb.User(t, env.Store, testdb.UserOpts{})
	ck := apitest.Cookie(testdb.SessionCookie(t, env.Store, u.User))
	adm := apitest.Cookie(testdb.SessionCookie(t, env.Store, admin.User))
	me := func() identity.User {
		var m identity.User
		env.Do(t, "GET", "/api/v2/me", nil, ck).Data(t, 200, &m)
		return m
	}
	if me().CanUseInternal {
		t.Fatal("starts with internal access")
	}
	env.Do(t, "PATCH", fmt.Sprintf("/api/v2/admin/users/%d", u.ID), map[string]any{"can_use_internal": true}, adm).Data(t, 200, nil)
	if !me().CanUseInternal {
		t.Fatal("admin grant not visible on the next request")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go env.Server.Identity().Watch(ctx, 100*time.Millisecond)
	if _, err := env.Store.UpdateUserAccess(ctx, db.UpdateUserAccessParams{Role: db.UsersRoleAdmin, CanUseInternal: false, MaxConcurrentSessions: 2, ID: u.ID}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := me()
		if m.Role == identity.RoleAdmin && !m.CanUseInternal && m.MaxConcurrentSessions == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("out-of-process change not seen after 5s: %+v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Audit trail of the admin change.
	evs, err := env.Store.ListAuditEventsByAction(ctx, "admin.user.update")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || (e.ActorUserID.Int64 == admin.ID && e.TargetID == fmt.Sprint(u.ID) && e.RequestID != "")
	}
	if !found {
		t.Fatalf("no audit event for the admin change: %+v", evs)
	}
}

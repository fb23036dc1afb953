package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/testdb"
)

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	local := apitest.New(t, apitest.Options{})
	prod := apitest.New(t, apitest.Options{Config: func(c *config.Config) {
		c.Domain, c.CookieSecure = "example.org", true
		c.ExtraOrigins = []string{"https://partner.example.net"}
	}})
	tests := []struct {
		name   string
		env    *apitest.Env
		opts   []apitest.ReqOpt
		bearer bool
		want   int
	}{
		{"foreign origin", local, []apitest.ReqOpt{apitest.Origin("https://evil.example")}, false, 403},
		{"site origin local http with port", local, []apitest.ReqOpt{apitest.Origin("http://medforge.localhost:8000")}, false, 201},
		{"api origin local", local, []apitest.ReqOpt{apitest.Origin("http://api.medforge.localhost:8000")}, false, 201},
		{"loopback local", local, []apitest.ReqOpt{apitest.Origin("http://127.0.0.1:8000")}, false, 201},
		{"session host is not allowed", local, []apitest.ReqOpt{apitest.Origin("http://s-abc.external.medforge.localhost:8000")}, false, 403},
		{"lookalike suffix", local, []apitest.ReqOpt{apitest.Origin("http://medforge.localhost.evil.example")}, false, 403},
		{"null origin", local, []apitest.ReqOpt{apitest.Origin("null")}, false, 403},
		{"foreign referer without origin", local, []apitest.ReqOpt{apitest.Header("Referer", "https://evil.example/page")}, false, 403},
		{"site referer without origin", local, []apitest.ReqOpt{apitest.Header("Referer", "http://medforge.localhost:8000/tokens")}, false, 201},
		{"no origin (non-browser client)", local, nil, false, 201},
		{"bearer is exempt", local, []apitest.ReqOpt{apitest.Origin("https://evil.example")}, true, 201},
		{"prod https site", prod, []apitest.ReqOpt{apitest.Origin("https://medforge.example.org")}, false, 201},
		{"prod plain http refused", prod, []apitest.ReqOpt{apitest.Origin("http://medforge.example.org")}, false, 403},
		{"prod odd port refused", prod, []apitest.ReqOpt{apitest.Origin("https://medforge.example.org:8443")}, false, 403},
		{"prod localhost refused", prod, []apitest.ReqOpt{apitest.Origin("http://127.0.0.1:8000")}, false, 403},
		{"prod configured extra", prod, []apitest.ReqOpt{apitest.Origin("https://partner.example.net")}, false, 201},
		{"prod internal host", prod, []apitest.ReqOpt{apitest.Origin("https://internal.medforge.example.org")}, false, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := testdb.User(t, tc.env.Store, testdb.UserOpts{})
			auth := apitest.Cookie(testdb.SessionCookie(t, tc.env.Store, u.User))
			if tc.bearer {
				auth = apitest.Bearer(testdb.APIToken(t, tc.env.Store, u.User))
			}
			res := tc.env.Do(t, "POST", "/api/v2/me/tokens", map[string]string{"name": "cli"}, append(tc.opts, auth)...)
			if res.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.want, res.Body)
			}
			if tc.want == 403 {
				res.Problem(t, 403, "origin_not_allowed")
			}
		})
	}
}

func TestRoleGates(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{Mount: func(s *httpapi.Server) {
		ok := func(c *fiber.Ctx) error { return httpapi.OK(c, 200, "pong") }
		// Declared public on purpose: the prefix gates must still apply.
		s.Handle(httpapi.Route{Method: "GET", Path: "/internal/test-ping", Summary: "test", Handler: ok})
		s.Handle(httpapi.Route{Method: "GET", Path: "/admin/test-ping", Summary: "test", Handler: ok})
		s.Handle(httpapi.Route{Method: "GET", Path: "/test-internal-route", Summary: "test", Auth: httpapi.AuthInternal, Handler: ok})
	}})
	st := env.Store
	plain := testdb.User(t, st, testdb.UserOpts{})
	internal := testdb.User(t, st, testdb.UserOpts{CanUseInternal: true})
	admin := testdb.User(t, st, testdb.UserOpts{Admin: true})
	cookie := func(u testdb.FactoryUser) apitest.ReqOpt { return apitest.Cookie(testdb.SessionCookie(t, st, u.User)) }
	bearer := func(u testdb.FactoryUser) apitest.ReqOpt { return apitest.Bearer(testdb.APIToken(t, st, u.User)) }
	tests := []struct {
		name string
		path string
		as   apitest.ReqOpt
		want int
		code string
	}{
		{"admin list anonymous", "/api/v2/admin/users", nil, 401, "unauthenticated"},
		{"admin list user", "/api/v2/admin/users", cookie(plain), 403, "admin_required"},
		{"admin list internal user", "/api/v2/admin/users", cookie(internal), 403, "admin_required"},
		{"admin list admin", "/api/v2/admin/users", cookie(admin), 200, ""},
		{"admin list admin bearer", "/api/v2/admin/users", bearer(admin), 200, ""},
		{"admin public-declared route user", "/api/v2/admin/test-ping", bearer(plain), 403, "admin_required"},
		{"admin prefix case trick", "/API/V2/ADMIN/users", cookie(plain), 403, "admin_required"},
		{"admin unknown path still gated", "/api/v2/admin/nothing-here", cookie(plain), 403, "admin_required"},
		{"internal anonymous", "/api/v2/internal/test-ping", nil, 401, "unauthenticated"},
		{"internal plain user", "/api/v2/internal/test-ping", cookie(plain), 403, "internal_access_required"},
		{"internal admin without entitlement", "/api/v2/internal/test-ping", cookie(admin), 403, "internal_access_required"},
		{"internal entitled", "/api/v2/internal/test-ping", cookie(internal), 200, ""},
		{"route-level internal plain", "/api/v2/test-internal-route", bearer(plain), 403, "internal_access_required"},
		{"route-level internal entitled", "/api/v2/test-internal-route", bearer(internal), 200, ""},
		{"bad bearer", "/api/v2/me", apitest.Bearer("mfp_not-a-real-token"), 401, "unauthenticated"},
		{"bad scheme", "/api/v2/me", apitest.Header("Authorization", "Basic Zm9vOmJhcg=="), 401, "unauthenticated"},
		{"garbage cookie is anonymous", "/api/v2/me", apitest.Cookie("mfs_garbage"), 401, "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []apitest.ReqOpt
			if tc.as != nil {
				opts = append(opts, tc.as)
			}
			res := env.Do(t, "GET", tc.path, nil, opts...)
			if tc.want == 200 {
				res.Data(t, 200, nil)
				return
			}
			res.Problem(t, tc.want, tc.code)
		})
	}
}

// A burst of concurrent wrong passwords, sent by real goroutines over real
// HTTP, must not get more attempts than the throttle allows.
func TestLoginThrottleUnderConcurrentBurst(t *testing.T) {
	t.Parallel()
	const perAccount, perIP, burst = 5, 8, 30
	env := apitest.New(t, apitest.Options{
		Config: func(c *config.Config) {
			c.LoginMaxAttempts, c.LoginMaxAttemptsPerIP, c.LoginWindow = perAccount, perIP, time.Hour
		},
		// Real password cost, so attempts overlap while hashes are checked.
		Identity: func(o *identity.Options) { o.Params = identity.DefaultParams },
	})
	victim := testdb.User(t, env.Store, testdb.UserOpts{})

	fire := func(emails []string) map[int]int {
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, email := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": email, "password": fmt.Sprintf("wrong-%d", i)})
				if res.Status == 429 {
					if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
						t.Errorf("429 without a usable Retry-After: %q", res.Header.Get("Retry-After"))
					}
					res.Problem(t, 429, "too_many_attempts")
				}
				mu.Lock()
				counts[res.Status]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return counts
	}

	same := make([]string, burst)
	for i := range same {
		same[i] = victim.Email
	}
	got := fire(same)
	if got[401] != perAccount || got[429] != burst-perAccount {
		t.Fatalf("per-account burst: %v, want %d x 401 and %d x 429", got, perAccount, burst-perAccount)
	}
	// The right password is refused too while the account is throttled.
	env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": victim.Email, "password": victim.Password}).
		Problem(t, 429, "too_many_attempts")

	// Spraying many accounts from one IP hits the per-IP limit. The victim
	// burst already used perAccount of this IP's attempts.
	spray := make([]string, burst)
	for i := range spray {
		spray[i] = testdb.Unique("spray") + "@example.org"
	}
	got = fire(spray)
	if left := perIP - perAccount; got[401] != left || got[429] != burst-left {
		t.Fatalf("per-IP spray: %v, want %d x 401 and %d x 429", got, left, burst-left)
	}
}

// Nothing stored in the database can be used as a password, cookie or token.
func TestNoUsableSecretsInDatabase(t *testing.T) {
	t.Parallel()
	st, _ := testdb.FreshNamed(t, true)
	env := apitest.New(t, apitest.Options{Store: st})
	email, pw := testdb.Unique("secret")+"@example.org", "my-very-secret-password"
	env.Do(t, "POST", "/api/v2/auth/signup", map[string]string{"email": email, "password": pw}).Data(t, 201, nil)
	login := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": email, "password": pw})
	login.Data(t, 200, nil)
	cookie := login.SessionCookie().Value
	var tok struct {
		Token string `json:"token"`
	}
	env.Do(t, "POST", "/api/v2/me/tokens", map[string]string{"name": "ci"}, apitest.Cookie(cookie)).Data(t, 201, &tok)
	if !strings.HasPrefix(tok.Token, identity.APITokenPrefix) {
		t.Fatalf("token %q", tok.Token)
	}
	env.Do(t, "GET", "/api/v2/me", nil, apitest.Bearer(tok.Token)).Data(t, 200, nil)

	secrets := map[string]string{"password": pw, "cookie": cookie, "token": tok.Token,
		"cookie body": strings.TrimPrefix(cookie, identity.SessionTokenPrefix), "token body": strings.TrimPrefix(tok.Token, identity.APITokenPrefix)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dumpContains(ctx, t, st.DB(), secrets)

	var hash string
	if err := st.DB().QueryRowContext(ctx, "SELECT password_hash FROM users WHERE email = ?", email).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=") {
		t.Fatalf("password hash %q is not argon2id", hash)
	}
	var n int
	if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM auth_sessions WHERE token_hash = ?", identity.HashToken(cookie)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("session row by hash: %d, %v", n, err)
	}
}

// dumpContains scans every column of every table for the secrets.
func dumpContains(ctx context.Context, t *testing.T, db *sql.DB, secrets map[string]string) {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	scanned := 0
	for _, tbl := range tables {
		r, err := db.QueryContext(ctx, "SELECT * FROM `"+tbl+"`")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				scanned++
				for what, s := range secrets {
					if strings.Contains(string(v), s) {
						t.Errorf("table %s column %s holds the %s", tbl, cols[i], what)
					}
				}
			}
		}
		r.Close()
	}
	if scanned == 0 {
		t.Fatal("scanned no values")
	}
}

func TestCORSOnlyForOwnOrigins(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	pre := env.Do(t, "OPTIONS", "/api/v2/me/tokens", nil, apitest.Origin("http://medforge.localhost:8000"),
		apitest.Header("Access-Control-Request-Method", "POST"))
	if pre.Status != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "http://medforge.localhost:8000" ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from own origin: %d %v", pre.Status, pre.Header)
	}
	evil := env.Do(t, "OPTIONS", "/api/v2/me/tokens", nil, apitest.Origin("https://evil.example"),
		apitest.Header("Access-Control-Request-Method", "POST"))
	if evil.Header.Get("Access-Control-Allow-Origin") != "" || evil.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("CORS granted to a foreign origin: %v", evil.Header)
	}
	get := env.Do(t, "GET", "/api/v2/me", nil, apitest.Origin("http://api.medforge.localhost:8000"))
	if get.Header.Get("Access-Control-Allow-Origin") != "http://api.medforge.localhost:8000" {
		t.Fatalf("no CORS header on a simple request: %v", get.Header)
	}
}

// X-Forwarded-For is believed only from a trusted proxy: spoofing it from a
// direct connection must not buy extra login attempts.
func TestClientIPAndSpoofedForwardedFor(t *testing.T) {
	t.Parallel()
	const perIP = 6
	tune := func(c *config.Config) { c.LoginMaxAttempts, c.LoginMaxAttemptsPerIP = 5, perIP }
	attempt := func(env *apitest.Env, xff string) int {
		return env.Do(t, "POST", "/api/v2/auth/login",
			map[string]string{"email": testdb.Unique("ip") + "@example.org", "password": "wrong-password"},
			apitest.Header("X-Forwarded-For", xff)).Status
	}

	direct := apitest.New(t, apitest.Options{Config: tune})
	got := map[int]int{}
	for i := range perIP + 4 {
		got[attempt(direct, fmt.Sprintf("203.0.113.%d", i))]++
	}
	if got[401] != perIP || got[429] != 4 {
		t.Fatalf("spoofed X-Forwarded-For changed the per-IP budget: %v", got)
	}

	proxied := apitest.New(t, apitest.Options{Config: func(c *config.Config) {
		tune(c)
		c.TrustedProxies = []string{"127.0.0.1"}
	}})
	got = map[int]int{}
	for i := range perIP + 4 {
		// Right-most untrusted entry is the client; the left one is spoofable.
		got[attempt(proxied, fmt.Sprintf("198.51.100.%d, 203.0.113.7", i))]++
	}
	if got[401] != perIP || got[429] != 4 {
		t.Fatalf("behind a trusted proxy, one client IP: %v", got)
	}
	if s := attempt(proxied, "203.0.113.8"); s != 401 {
		t.Fatalf("another client behind the proxy was throttled: %d", s)
	}
}

package httpidentity_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/testdb"
)

// The end-to-end path over real HTTP: signup -> login (cookie
// attributes) -> me (envelope) -> wrong password (problem with every field)
// -> logout from a foreign origin (403) -> logout (204) -> me (401).
func TestAuthFlowOverHTTP(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	email := testdb.Unique("flow") + "@example.org"
	const pw = "a-long-enough-password"

	var su struct{ Email, Message string }
	env.Do(t, "POST", "/api/v2/auth/signup", map[string]string{"email": email, "password": pw}).Data(t, http.StatusCreated, &su)
	if su.Email != email {
		t.Fatalf("signup email %q, want %q", su.Email, email)
	}

	login := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": strings.ToUpper(email), "password": pw})
	var lr struct {
		User identity.User `json:"user"`
	}
	login.Data(t, http.StatusOK, &lr)
	if lr.User.Email != email || lr.User.Role != identity.RoleUser {
		t.Fatalf("login user = %+v", lr.User)
	}
	ck := login.SessionCookie()
	if ck == nil {
		t.Fatalf("login set no %s cookie; headers %v", "medforge_session", login.Header)
	}
	raw := login.Header.Get("Set-Cookie")
	for _, want := range []string{"medforge_session=", "HttpOnly", "SameSite=Lax", "path=/"} {
		if !strings.Contains(strings.ToLower(raw), strings.ToLower(want)) {
			t.Errorf("Set-Cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain: session hosts would receive it", raw)
	}
	if ck.Secure {
		t.Errorf("cookie is Secure on a plain-HTTP local run")
	}
	if ck.Value == "" || ck.HttpOnly == false || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie = %+v", ck)
	}

	me := env.Do(t, "GET", "/api/v2/me", nil, apitest.Cookie(ck.Value), apitest.Header("X-Request-ID", "flow-req-1"))
	var u identity.User
	e := me.Data(t, http.StatusOK, &u)
	if u.Email != email || u.ID != lr.User.ID {
		t.Fatalf("me = %+v", u)
	}
	if e.Meta["request_id"] != "flow-req-1" || me.Header.Get("X-Request-ID") != "flow-req-1" {
		t.Fatalf("request id: meta %v header %q", e.Meta, me.Header.Get("X-Request-ID"))
	}

	bad := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": email, "password": "wrong-password-123"})
	p := bad.Problem(t, http.StatusUnauthorized, "invalid_credentials")
	if p.Type == "" || p.Title == "" || p.Status != 401 || p.Detail == "" || p.RequestID == "" || p.RequestID != bad.Header.Get("X-Request-ID") {
		t.Fatalf("problem lacks fields: %+v", p)
	}

	env.Do(t, "POST", "/api/v2/auth/logout", nil, apitest.Cookie(ck.Value), apitest.Origin("https://evil.example")).
		Problem(t, http.StatusForbidden, "origin_not_allowed")
	// The refused logout did not end the session.
	env.Do(t, "GET", "/api/v2/me", nil, apitest.Cookie(ck.Value)).Data(t, http.StatusOK, nil)

	out := env.Do(t, "POST", "/api/v2/auth/logout", nil, apitest.Cookie(ck.Value), apitest.Origin("http://medforge.localhost:8000"))
	if out.Status != http.StatusNoContent {
		t.Fatalf("logout status %d: %s", out.Status, out.Body)
	}
	if c := out.SessionCookie(); c == nil || c.Value != "" {
		t.Fatalf("logout did not clear the cookie: %v", out.Header.Values("Set-Cookie"))
	}
	env.Do(t, "GET", "/api/v2/me", nil, apitest.Cookie(ck.Value)).Problem(t, http.StatusUnauthorized, "unauthenticated")
}

func TestSecureCookieOutsideLocal(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{Config: func(c *config.Config) {
		c.Domain, c.CookieSecure = "example.org", true
	}})
	u := testdb.User(t, env.Store, testdb.UserOpts{})
	res := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": u.Email, "password": u.Password})
	res.Data(t, http.StatusOK, nil)
	raw := strings.ToLower(res.Header.Get("Set-Cookie"))
	for _, want := range []string{"__host-medforge_session=", "secure", "httponly", "samesite=lax", "path=/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(raw, "domain=") {
		t.Errorf("Set-Cookie %q has a Domain: a __Host- cookie must not, and session hosts would receive it", raw)
	}
}

// A cookie planted by another host does not change who the caller is: over
// HTTPS only the __Host- cookie counts (a session host cannot set one for
// the platform host), and on plain-HTTP runs two identity cookies make the
// caller anonymous rather than letting the planter choose.
func TestPlantedIdentityCookie(t *testing.T) {
	t.Parallel()
	prod := apitest.New(t, apitest.Options{Config: func(c *config.Config) { c.Domain, c.CookieSecure = "example.org", true }})
	local := apitest.New(t, apitest.Options{})
	for _, tc := range []struct {
		name string
		env  *apitest.Env
		// cookies builds the Cookie header from the victim's and the
		// attacker's tokens.
		cookies func(victim, attacker string) string
		want    string // "victim", "attacker" or "" (anonymous)
	}{
		{"https: planted plain name first", prod, func(v, a string) string {
			return "medforge_session=" + a + "; __Host-medforge_session=" + v
		}, "victim"},
		{"https: planted plain name alone", prod, func(v, a string) string { return "medforge_session=" + a }, ""},
		{"https: own cookie", prod, func(v, a string) string { return "__Host-medforge_session=" + v }, "victim"},
		{"http: planted duplicate first", local, func(v, a string) string {
			return "medforge_session=" + a + "; medforge_session=" + v
		}, ""},
		{"http: planted duplicate last", local, func(v, a string) string {
			return "medforge_session=" + v + "; medforge_session=" + a
		}, ""},
		{"http: own cookie", local, func(v, a string) string { return "medforge_session=" + v }, "victim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			victim := testdb.User(t, tc.env.Store, testdb.UserOpts{})
			attacker := testdb.User(t, tc.env.Store, testdb.UserOpts{})
			vt := testdb.SessionCookie(t, tc.env.Store, victim.User)
			at := testdb.SessionCookie(t, tc.env.Store, attacker.User)
			res := tc.env.Do(t, "GET", "/api/v2/me", nil, apitest.Header("Cookie", tc.cookies(vt, at)))
			switch tc.want {
			case "":
				res.Problem(t, http.StatusUnauthorized, "unauthenticated")
			default:
				var u identity.User
				res.Data(t, http.StatusOK, &u)
				if u.ID != victim.ID {
					t.Fatalf("caller is user %d, want the victim %d (attacker %d)", u.ID, victim.ID, attacker.ID)
				}
			}
		})
	}
}

// Signup must not reveal whether an email has an account, and a wrong
// password must look exactly like an unknown email.
func TestNoUserEnumeration(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	u := testdb.User(t, env.Store, testdb.UserOpts{})
	fresh := testdb.Unique("new") + "@example.org"

	a := env.Do(t, "POST", "/api/v2/auth/signup", map[string]string{"email": u.Email, "password": "another-long-password"})
	b := env.Do(t, "POST", "/api/v2/auth/signup", map[string]string{"email": fresh, "password": "another-long-password"})
	var da, dbb map[string]string
	a.Data(t, http.StatusCreated, &da)
	b.Data(t, http.StatusCreated, &dbb)
	if da["message"] != dbb["message"] || len(da) != len(dbb) {
		t.Fatalf("signup answers differ: %v vs %v", da, dbb)
	}
	// The existing account keeps its password.
	env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": u.Email, "password": u.Password}).Data(t, http.StatusOK, nil)

	wrong := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": u.Email, "password": "not-the-password"}).Problem(t, 401, "invalid_credentials")
	unknown := env.Do(t, "POST", "/api/v2/auth/login", map[string]string{"email": "nobody-" + fresh, "password": "not-the-password"}).Problem(t, 401, "invalid_credentials")
	if wrong.Detail != unknown.Detail || wrong.Title != unknown.Title || wrong.Type != unknown.Type {
		t.Fatalf("wrong password %+v differs from unknown email %+v", wrong, unknown)
	}
}

func TestSignupValidationAndSwitch(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{})
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		fields []string
	}{
		{"short password", map[string]string{"email": "a@example.org", "password": "short"}, 422, "validation_failed", []string{"password"}},
		{"bad email", map[string]string{"email": "not-an-email", "password": "long-enough-password"}, 422, "validation_failed", []string{"email"}},
		{"both bad", map[string]string{"email": "", "password": ""}, 422, "validation_failed", []string{"email", "password"}},
		{"unknown field", `{"email":"a@example.org","password":"long-enough-password","admin":true}`, 400, "invalid_json", []string{"admin"}},
		{"wrong type", `{"email":"a@example.org","password":12}`, 400, "invalid_json", []string{"password"}},
		{"not json", `{"email":`, 400, "invalid_json", nil},
		{"empty", ``, 400, "invalid_json", nil},
		{"trailing data", `{"email":"a@example.org","password":"long-enough-password"} {}`, 400, "invalid_json", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := env.Do(t, "POST", "/api/v2/auth/signup", tc.body).Problem(t, tc.status, tc.code)
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%+v)", got, tc.fields, p)
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		t.Parallel()
		env.Do(t, "POST", "/api/v2/auth/signup", `{}`, apitest.Header("Content-Type", "text/plain")).Problem(t, 415, "unsupported_media_type")
	})

	closed := apitest.New(t, apitest.Options{Config: func(c *config.Config) { c.OpenSignup = false }})
	closed.Do(t, "POST", "/api/v2/auth/signup", map[string]string{"email": "x@example.org", "password": "long-enough-password"}).
		Problem(t, http.StatusForbidden, "signup_disabled")
}

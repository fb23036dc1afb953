package httpapi_test

import (
	"database/sql"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
)

// deadStore is a store whose database is unreachable: its address refuses
// every connection, as MariaDB does while it is stopped.
func deadStore(t *testing.T) store.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	pool, err := sql.Open("mysql", "medforge:x@tcp("+addr+")/medforge?timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return store.New(pool)
}

// TestDatabaseOutageIs503 is the outage finding: with the database
// unreachable, routes that need it answer 503 `unavailable` with
// Retry-After, never 500 `internal`.
func TestDatabaseOutageIs503(t *testing.T) {
	env := apitest.New(t, apitest.Options{Store: deadStore(t)})
	for _, tc := range []struct {
		name, method, path string
		body               any
		opts               []apitest.ReqOpt
	}{
		{"login", http.MethodPost, "/api/v2/auth/login", map[string]string{"email": "a@example.com", "password": "correct horse battery"}, []apitest.ReqOpt{apitest.Origin("http://medforge.localhost:8000")}},
		{"token caller", http.MethodGet, "/api/v2/me", nil, []apitest.ReqOpt{apitest.Bearer(identity.APITokenPrefix + strings.Repeat("A", 43))}},
		{"cookie caller", http.MethodGet, "/api/v2/me", nil, []apitest.ReqOpt{apitest.Cookie(identity.SessionTokenPrefix + strings.Repeat("A", 43))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Do(t, tc.method, tc.path, tc.body, tc.opts...)
			r.Problem(t, http.StatusServiceUnavailable, "unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After")
			}
		})
	}
}

func TestIsUnavailable(t *testing.T) {
	st := deadStore(t)
	err := st.Ping(t.Context())
	if !store.IsUnavailable(err) {
		t.Fatalf("IsUnavailable(%v) = false", err)
	}
	if store.IsUnavailable(sql.ErrNoRows) || store.IsUnavailable(nil) {
		t.Fatal("IsUnavailable is true for an answered query")
	}
}

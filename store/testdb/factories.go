package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

var seq atomic.Int64

// Unique returns a string unique within this test binary run, for emails,
// slugs and names.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d%s", prefix, seq.Add(1), randHex(3))
}

// DefaultPassword is the password of factory users unless UserOpts says
// otherwise.
const DefaultPassword = "correct-horse-battery-staple"

// UserOpts sets fields of a factory user; zero fields get defaults (a unique
// email, DefaultPassword, role user, no internal access, 1 session).
type UserOpts struct {
	Email                 string
	Password              string
	DisplayName           string
	Admin                 bool
	CanUseInternal        bool
	CanAuthor             bool
	MaxConcurrentSessions int
}

// FactoryUser is a created user with its plain password.
type FactoryUser struct {
	identity.User
	Password string
}

// User inserts a user, hashing the password with cheap test parameters.
func User(t testing.TB, st store.Store, o UserOpts) FactoryUser {
	t.Helper()
	if o.Email == "" {
		o.Email = Unique("user") + "@example.org"
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.MaxConcurrentSessions == 0 {
		o.MaxConcurrentSessions = 1
	}
	role := db.UsersRoleUser
	if o.Admin {
		role = db.UsersRoleAdmin
	}
	h, err := identity.HashPassword(o.Password, identity.TestParams)
	if err != nil {
		t.Fatalf("testdb.User: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := st.CreateUser(ctx, db.CreateUserParams{
		Email: identity.NormalizeEmail(o.Email), PasswordHash: h, Role: role, CanUseInternal: o.CanUseInternal, CanAuthor: o.CanAuthor,
		MaxConcurrentSessions: int32(o.MaxConcurrentSessions), DisplayName: o.DisplayName,
	})
	if err != nil {
		t.Fatalf("testdb.User %s: %v", o.Email, err)
	}
	row, err := st.GetUser(ctx, id)
	if err != nil {
		t.Fatalf("testdb.User read %d: %v", id, err)
	}
	return FactoryUser{User: identity.UserFromRow(row), Password: o.Password}
}

// SessionCookie opens a login session for u directly in the database and
// returns the cookie value to send as medforge_session.
func SessionCookie(t testing.TB, st store.Store, u identity.User) string {
	t.Helper()
	raw := identity.SessionTokenPrefix + randB64(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.CreateAuthSession(ctx, db.CreateAuthSessionParams{
		UserID: u.ID, TokenHash: identity.HashToken(raw), ExpiresAt: time.Now().UTC().Add(time.Hour),
		UserAgent: "testdb", Ip: "127.0.0.1",
	}); err != nil {
		t.Fatalf("testdb.SessionCookie: %v", err)
	}
	return raw
}

// APIToken issues a personal API token for u directly in the database and
// returns the Bearer secret.
func APIToken(t testing.TB, st store.Store, u identity.User) string {
	t.Helper()
	raw := identity.APITokenPrefix + randB64(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.CreateAPIToken(ctx, db.CreateAPITokenParams{
		UserID: u.ID, Name: Unique("token"), TokenHash: identity.HashToken(raw), ExpiresAt: sql.NullTime{},
	}); err != nil {
		t.Fatalf("testdb.APIToken: %v", err)
	}
	return raw
}

func randB64(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testdb: random: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

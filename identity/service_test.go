package identity_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/testdb"
)

func newService(t *testing.T, mut func(*identity.Options)) *identity.Service {
	t.Helper()
	o := identity.Options{Params: identity.TestParams}
	if mut != nil {
		mut(&o)
	}
	s, err := identity.NewService(testdb.Store(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoginLogoutAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newService(t, func(o *identity.Options) { o.Now, o.SessionTTL = clock, time.Hour })
	u := testdb.User(t, testdb.Store(t), testdb.UserOpts{})

	sess, err := s.Login(ctx, u.Email, u.Password, "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AuthenticateCookie(ctx, sess.Token)
	if err != nil || p.User.ID != u.ID || p.Method != identity.AuthCookie {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	if _, err := s.AuthenticateToken(ctx, sess.Token); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("a cookie token worked as an API token: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := s.AuthenticateCookie(ctx, sess.Token); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("expired session still works (cached): %v", err)
	}

	sess2, err := s.Login(ctx, u.Email, u.Password, "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateCookie(ctx, sess2.Token); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, sess2.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateCookie(ctx, sess2.Token); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("session works after logout: %v", err)
	}
}

func TestSetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	s := newService(t, nil)
	u := testdb.User(t, testdb.Store(t), testdb.UserOpts{})
	sess, err := s.Login(ctx, u.Email, u.Password, "10.0.0.2", "")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.CreateToken(ctx, u.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, u.ID, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := s.SetPassword(ctx, u.ID, "a-brand-new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateCookie(ctx, sess.Token); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("old session survived a password change: %v", err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("an API token survived a password reset: %v", err)
	}
	if _, err := s.Login(ctx, u.Email, u.Password, "10.0.0.2", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("old password works: %v", err)
	}
	if _, err := s.Login(ctx, u.Email, "a-brand-new-password", "10.0.0.2", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, 1<<60, "a-brand-new-password"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

// Concurrent wrong passwords straight against the service (real argon2id
// cost) never exceed the per-account limit.
func TestLoginThrottleConcurrent(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, 2*time.Minute)
	s := newService(t, func(o *identity.Options) {
		o.Params, o.LoginMaxAttempts, o.LoginMaxAttemptsPerIP = identity.DefaultParams, 3, 100
	})
	u := testdb.User(t, testdb.Store(t), testdb.UserOpts{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var invalid, throttled int
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Login(ctx, u.Email, "wrong-password", "10.1.0."+string(rune('0'+i%10)), "")
			var te *identity.ThrottledError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, identity.ErrInvalidCredentials):
				invalid++
			case errors.As(err, &te) && te.RetryAfter > 0:
				throttled++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if invalid != 3 || throttled != 21 {
		t.Fatalf("invalid=%d throttled=%d, want 3 and 21", invalid, throttled)
	}
}

func TestTokensLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newService(t, func(o *identity.Options) { o.Now = clock })
	u := testdb.User(t, testdb.Store(t), testdb.UserOpts{})
	tok, secret, err := s.CreateToken(ctx, u.ID, "short-lived", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.AuthenticateToken(ctx, secret); err != nil || p.TokenID != tok.ID {
		t.Fatalf("authenticate token: %+v %v", p, err)
	}
	if _, _, err := s.CreateToken(ctx, u.ID, "short-lived", 0); !errors.Is(err, identity.ErrTokenNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("expired token works: %v", err)
	}
	if err := s.DeleteToken(ctx, u.ID+1, tok.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("delete by another user: %v", err)
	}
	if err := s.DeleteToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTokens(ctx, u.ID)
	if err != nil || len(list) != 0 {
		t.Fatalf("list after delete: %v %v", list, err)
	}
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	s := newService(t, nil)
	email := testdb.Unique("cu") + "@example.org"
	if _, err := s.CreateUser(ctx, identity.NewUser{Email: email, Password: "long-enough-pass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, identity.NewUser{Email: " " + email + " ", Password: "long-enough-pass"}); !errors.Is(err, identity.ErrEmailTaken) {
		t.Fatalf("duplicate (normalized) email: %v", err)
	}
	var ve *identity.ValidationError
	_, err := s.CreateUser(ctx, identity.NewUser{Email: "x", Password: "short", Role: "root", MaxConcurrentSessions: 99})
	if !errors.As(err, &ve) || len(ve.Fields) != 4 {
		t.Fatalf("validation: %v", err)
	}
}

func TestSignupThrottledPerIP(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	s := newService(t, func(o *identity.Options) { o.LoginMaxAttempts, o.LoginMaxAttemptsPerIP = 2, 3 })
	for i := range 3 {
		if _, err := s.Signup(ctx, testdb.Unique("su")+"@example.org", "long-enough-password", "", "10.9.9.9"); err != nil {
			t.Fatalf("signup %d: %v", i, err)
		}
	}
	var te *identity.ThrottledError
	if _, err := s.Signup(ctx, testdb.Unique("su")+"@example.org", "long-enough-password", "", "10.9.9.9"); !errors.As(err, &te) {
		t.Fatalf("4th signup from one IP: %v", err)
	}
	if created, err := s.Signup(ctx, testdb.Unique("su")+"@example.org", "long-enough-password", "", "10.9.9.10"); err != nil || !created {
		t.Fatalf("other IP: %v %v", created, err)
	}
}

// A login looked up by id (what session-host credentials check) follows
// the user's entitlements at once and dies with logout and expiry; a
// change of access is announced to OnUserChange listeners.
func TestAuthenticateLogin(t *testing.T) {
	t.Parallel()
	ctx := testdb.Ctx(t, time.Minute)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newService(t, func(o *identity.Options) { o.Now, o.SessionTTL = clock, time.Hour })
	var changed []int64
	s.OnUserChange(func(id int64) { mu.Lock(); changed = append(changed, id); mu.Unlock() })
	u := testdb.User(t, testdb.Store(t), testdb.UserOpts{CanUseInternal: true})

	sess, err := s.Login(ctx, u.Email, u.Password, "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AuthenticateCookie(ctx, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AuthenticateLogin(ctx, c.SessionID)
	if err != nil || p.User.ID != u.ID || !p.User.CanUseInternal || p.Method != identity.AuthCookie {
		t.Fatalf("login %d: %+v %v", c.SessionID, p, err)
	}
	if _, err := s.SetAccess(ctx, u.ID, identity.Access{Role: identity.RoleUser, MaxConcurrentSessions: 1}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.AuthenticateLogin(ctx, c.SessionID); err != nil || p.User.CanUseInternal {
		t.Fatalf("after revoking can_use_internal: %+v %v", p.User, err)
	}
	mu.Lock()
	if len(changed) != 1 || changed[0] != u.ID {
		t.Fatalf("OnUserChange got %v", changed)
	}
	mu.Unlock()
	if err := s.Logout(ctx, sess.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateLogin(ctx, c.SessionID); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	if _, err := s.AuthenticateLogin(ctx, -1); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("unknown login: %v", err)
	}

	// Expiry, also from the cache.
	sess2, err := s.Login(ctx, u.Email, u.Password, "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := s.AuthenticateCookie(ctx, sess2.Token)
	if _, err := s.AuthenticateLogin(ctx, c2.SessionID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := s.AuthenticateLogin(ctx, c2.SessionID); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("after expiry: %v", err)
	}
}

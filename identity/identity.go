package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/medforge/medforge/internal/text"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Role is a user's platform role.
type Role string

// Roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// User is an account as the rest of MedForge sees it. It never carries the
// password hash, so it is safe to serialize.
type User struct {
	ID             int64  `json:"id"`
	Email          string `json:"email"`
	DisplayName    string `json:"display_name"`
	Role           Role   `json:"role"`
	CanUseInternal bool   `json:"can_use_internal"`
	// CanAuthor: may create and publish EXTERNAL competitions (/api/v2/author).
	CanAuthor             bool      `json:"can_author"`
	MaxConcurrentSessions int       `json:"max_concurrent_sessions"`
	CreatedAt             time.Time `json:"created_at"`
}

// IsAdmin reports whether u has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// UserFromRow converts a users row, dropping the password hash.
func UserFromRow(r db.User) User {
	return User{
		ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Role: Role(r.Role),
		CanUseInternal: r.CanUseInternal, CanAuthor: r.CanAuthor, MaxConcurrentSessions: int(r.MaxConcurrentSessions),
		CreatedAt: r.CreatedAt.UTC(),
	}
}

// AuthMethod says how a request proved who it is.
type AuthMethod string

// Auth methods.
const (
	AuthCookie AuthMethod = "cookie"
	AuthToken  AuthMethod = "token"
)

// Principal is an authenticated caller.
type Principal struct {
	User      User
	Method    AuthMethod
	SessionID int64 // set when Method is AuthCookie
	TokenID   int64 // set when Method is AuthToken
}

// Errors returned by Service. httpapi maps them to problem responses.
var (
	// ErrInvalidCredentials: unknown email or wrong password (indistinguishable on purpose).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnauthenticated: a missing, unknown, malformed or expired cookie or token.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrEmailTaken: an account with this email exists (only for admin/CLI creation).
	ErrEmailTaken = errors.New("email already registered")
	// ErrNotFound: the token or user does not exist or is not the caller's.
	ErrNotFound = errors.New("not found")
	// ErrTokenNameTaken: the caller already has a token with this name.
	ErrTokenNameTaken = errors.New("token name already in use")
)

// ThrottledError says a login was refused by the throttle.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many login attempts; retry after %s", e.RetryAfter.Round(time.Second))
}

// FieldError is one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists invalid fields of an input.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Options tune a Service; zero fields take the defaults in parentheses.
type Options struct {
	PasswordMinLength     int            // (12)
	SessionTTL            time.Duration  // (168h)
	LoginMaxAttempts      int            // per account per window (5)
	LoginMaxAttemptsPerIP int            // per IP per window (20)
	LoginWindow           time.Duration  // (15m)
	CacheTTL              time.Duration  // (30s)
	Params                PasswordParams // argon2id cost (DefaultParams)
	Logger                *slog.Logger   // (slog.Default())
	Now                   func() time.Time
}

// OptionsFromConfig takes the identity settings from a validated Config.
func OptionsFromConfig(c config.Config) Options {
	return Options{
		PasswordMinLength: c.PasswordMinLength, SessionTTL: c.SessionTTL,
		LoginMaxAttempts: c.LoginMaxAttempts, LoginMaxAttemptsPerIP: c.LoginMaxAttemptsPerIP,
		LoginWindow: c.LoginWindow, CacheTTL: c.AuthCacheTTL,
	}
}

// Service is the identity API. It is safe for concurrent use.
type Service struct {
	st      store.Store
	opt     Options
	acct    *Limiter
	ip      *Limiter
	signup  *Limiter
	cache   *authCache
	hashSem chan struct{}
	dummy   string // hash verified for unknown emails, so timing does not reveal them

	hits, misses atomic.Uint64

	hmu    sync.Mutex
	onUser []func(int64) // see OnUserChange
}

// touchEvery is how often last_seen_at / last_used_at are written for a
// credential in active use.
const touchEvery = time.Minute

// NewService builds a Service over st.
func NewService(st store.Store, opt Options) (*Service, error) {
	if opt.PasswordMinLength == 0 {
		opt.PasswordMinLength = 12
	}
	if opt.SessionTTL == 0 {
		opt.SessionTTL = 168 * time.Hour
	}
	if opt.LoginMaxAttempts == 0 {
		opt.LoginMaxAttempts = 5
	}
	if opt.LoginMaxAttemptsPerIP == 0 {
		opt.LoginMaxAttemptsPerIP = 20
	}
	if opt.LoginWindow == 0 {
		opt.LoginWindow = 15 * time.Minute
	}
	if opt.CacheTTL == 0 {
		opt.CacheTTL = 30 * time.Second
	}
	if opt.Params == (PasswordParams{}) {
		opt.Params = DefaultParams
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	dummy, err := HashPassword("medforge-timing-equalizer", opt.Params)
	if err != nil {
		return nil, err
	}
	return &Service{
		st: st, opt: opt,
		acct:    NewLimiter(opt.LoginMaxAttempts, opt.LoginWindow, opt.Now),
		ip:      NewLimiter(opt.LoginMaxAttemptsPerIP, opt.LoginWindow, opt.Now),
		signup:  NewLimiter(opt.LoginMaxAttemptsPerIP, opt.LoginWindow, opt.Now),
		cache:   newAuthCache(),
		hashSem: make(chan struct{}, runtime.NumCPU()),
		dummy:   dummy,
	}, nil
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opt }

// hash and verify bound concurrent argon2id work to the CPU count, so a
// flood of logins queues instead of exhausting memory.
func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.hashSem }()
	return HashPassword(pw, s.opt.Params)
}

func (s *Service) verify(ctx context.Context, pw, hash string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.hashSem }()
	return VerifyPassword(pw, hash)
}

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ValidateEmail returns a message when email is not an acceptable address.
func ValidateEmail(email string) string {
	if email == "" {
		return "is required"
	}
	if len(email) > 254 {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") && !strings.HasSuffix(email, "localhost") {
		return "must be an email address like name@example.org"
	}
	return ""
}

// ValidatePassword returns a message when pw is not an acceptable password.
func (s *Service) ValidatePassword(pw string) string {
	if n := utf8.RuneCountInString(pw); n < s.opt.PasswordMinLength {
		return fmt.Sprintf("must be at least %d characters", s.opt.PasswordMinLength)
	}
	if len(pw) > MaxPasswordLength {
		return fmt.Sprintf("must be at most %d bytes", MaxPasswordLength)
	}
	return ""
}

// NewUser describes an account to create.
type NewUser struct {
	Email                 string
	Password              string
	DisplayName           string
	Role                  Role // (RoleUser)
	CanUseInternal        bool
	CanAuthor             bool
	MaxConcurrentSessions int // (1)
}

func (s *Service) validateNew(u *NewUser) error {
	u.Email = NormalizeEmail(u.Email)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	if u.Role == "" {
		u.Role = RoleUser
	}
	if u.MaxConcurrentSessions == 0 {
		u.MaxConcurrentSessions = 1
	}
	var fe []FieldError
	if m := ValidateEmail(u.Email); m != "" {
		fe = append(fe, FieldError{"email", m})
	}
	if m := s.ValidatePassword(u.Password); m != "" {
		fe = append(fe, FieldError{"password", m})
	}
	if utf8.RuneCountInString(u.DisplayName) > 128 {
		fe = append(fe, FieldError{"display_name", "must be at most 128 characters"})
	}
	if u.Role != RoleUser && u.Role != RoleAdmin {
		fe = append(fe, FieldError{"role", "must be user or admin"})
	}
	if u.MaxConcurrentSessions < 0 || u.MaxConcurrentSessions > 64 {
		fe = append(fe, FieldError{"max_concurrent_sessions", "must be between 0 and 64"})
	}
	if len(fe) > 0 {
		return &ValidationError{Fields: fe}
	}
	return nil
}

// CreateUser creates an account. It returns a *ValidationError for bad
// input and ErrEmailTaken when the email exists. For open signup use Signup,
// which does not reveal existing accounts.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := s.validateNew(&nu); err != nil {
		return User{}, err
	}
	h, err := s.hash(ctx, nu.Password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	id, err := s.st.CreateUser(ctx, db.CreateUserParams{
		Email: nu.Email, PasswordHash: h, Role: db.UsersRole(nu.Role), CanUseInternal: nu.CanUseInternal, CanAuthor: nu.CanAuthor,
		MaxConcurrentSessions: int32(nu.MaxConcurrentSessions), DisplayName: nu.DisplayName,
	})
	if store.IsDuplicate(err) {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", nu.Email, err)
	}
	row, err := s.st.GetUser(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("read new user %d: %w", id, err)
	}
	return UserFromRow(row), nil
}

// Signup creates a plain user account for open signup. To avoid revealing
// which emails have accounts, an existing email is not an error: created is
// false and the caller must answer exactly as when it is true. Signups are
// throttled per client IP like logins.
func (s *Service) Signup(ctx context.Context, email, password, displayName, ip string) (created bool, err error) {
	nu := NewUser{Email: email, Password: password, DisplayName: displayName}
	if err := s.validateNew(&nu); err != nil {
		return false, err
	}
	if _, wait, ok := s.signup.Reserve(ThrottleKey(ip)); !ok {
		return false, &ThrottledError{RetryAfter: wait}
	}
	_, err = s.CreateUser(ctx, nu)
	if errors.Is(err, ErrEmailTaken) {
		return false, nil
	}
	return err == nil, err
}

// Session is a fresh login: Token goes in the cookie and is never stored.
type Session struct {
	User      User
	Token     string
	ExpiresAt time.Time
}

// Login checks email and password and opens a session. Failures are
// ErrInvalidCredentials (same answer, same work for unknown emails),
// *ThrottledError when the account or IP used its attempts, or
// *ValidationError for empty fields.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (Session, error) {
	email = NormalizeEmail(email)
	var fe []FieldError
	if email == "" {
		fe = append(fe, FieldError{"email", "is required"})
	}
	if password == "" {
		fe = append(fe, FieldError{"password", "is required"})
	}
	if len(fe) > 0 {
		return Session{}, &ValidationError{Fields: fe}
	}
	acct, wait, ok := s.acct.Reserve("acct:" + email)
	if !ok {
		return Session{}, &ThrottledError{RetryAfter: wait}
	}
	ipr, wait, ok := s.ip.Reserve(ThrottleKey(ip))
	if !ok {
		acct.Cancel()
		return Session{}, &ThrottledError{RetryAfter: wait}
	}
	if len(password) > MaxPasswordLength {
		return Session{}, ErrInvalidCredentials
	}
	row, err := s.st.GetUserByEmail(ctx, email)
	hash := row.PasswordHash
	if store.IsNotFound(err) {
		hash = s.dummy
	} else if err != nil {
		acct.Cancel()
		ipr.Cancel()
		return Session{}, fmt.Errorf("look up user: %w", err)
	}
	match, verr := s.verify(ctx, password, hash)
	if verr != nil && !store.IsNotFound(err) {
		s.opt.Logger.ErrorContext(ctx, "unusable password hash", "user_id", row.ID, "err", verr)
	}
	if store.IsNotFound(err) || !match {
		return Session{}, ErrInvalidCredentials
	}
	acct.Cancel()
	ipr.Cancel()
	raw, th, err := newToken(SessionTokenPrefix)
	if err != nil {
		return Session{}, err
	}
	exp := s.opt.Now().UTC().Add(s.opt.SessionTTL)
	if _, err := s.st.CreateAuthSession(ctx, db.CreateAuthSessionParams{
		UserID: row.ID, TokenHash: th, ExpiresAt: exp, UserAgent: text.Truncate(userAgent, 512), Ip: text.Truncate(ip, 64),
	}); err != nil {
		return Session{}, fmt.Errorf("create session for user %d: %w", row.ID, err)
	}
	return Session{User: UserFromRow(row), Token: raw, ExpiresAt: exp}, nil
}

// Logout ends the session of a cookie token, and with it every credential
// derived from that login (AuthenticateLogin). Unknown tokens are not an
// error.
func (s *Service) Logout(ctx context.Context, token string) error {
	h := HashToken(token)
	r, err := s.st.GetAuthSessionByHash(ctx, h)
	if err != nil && !store.IsNotFound(err) {
		return fmt.Errorf("look up session: %w", err)
	}
	if _, err := s.st.DeleteAuthSessionByHash(ctx, h); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	s.cache.invalidate(string(h))
	if err == nil {
		s.cache.invalidate(loginKey(r.SessionID))
	}
	return nil
}

// fromCache answers key from the credential cache: ok with the principal
// when the entry is fresh, ok with ErrUnauthenticated (and the entry
// dropped) when its credential expired; not ok (a miss, counted) when the
// database must be asked.
func (s *Service) fromCache(key string, now time.Time) (Principal, bool, error) {
	if e, ok := s.cache.get(key); ok {
		if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
			s.cache.invalidate(key)
			return Principal{}, true, ErrUnauthenticated
		}
		if now.Sub(e.fetchedAt) < s.opt.CacheTTL {
			s.hits.Add(1)
			return e.principal, true, nil
		}
	}
	s.misses.Add(1)
	return Principal{}, false, nil
}

// loginKey is the cache key of a login session looked up by id.
func loginKey(id int64) string { return "login:" + strconv.FormatInt(id, 10) }

// AuthenticateLogin returns the cookie principal of the login session id
// (a Principal.SessionID), from the in-memory cache when fresh, with the
// user's current role and entitlements. Credentials derived from a login
// (the per-session credentials of session hosts) check it on every use, so
// they die with the login: ErrUnauthenticated after logout, expiry or a
// password reset.
func (s *Service) AuthenticateLogin(ctx context.Context, id int64) (Principal, error) {
	key := loginKey(id)
	now := s.opt.Now()
	if p, ok, err := s.fromCache(key, now); ok {
		return p, err
	}
	epoch := s.cache.currentEpoch()
	r, err := s.st.GetAuthSessionByID(ctx, id)
	if store.IsNotFound(err) {
		return Principal{}, ErrUnauthenticated
	} else if err != nil {
		return Principal{}, fmt.Errorf("look up session %d: %w", id, err)
	}
	if !now.Before(r.ExpiresAt) {
		return Principal{}, ErrUnauthenticated
	}
	// touchedAt = now: the login's own cookie records its use.
	e := &cacheEntry{principal: Principal{User: UserFromRow(r.User), Method: AuthCookie, SessionID: r.SessionID},
		expiresAt: r.ExpiresAt, fetchedAt: now, touchedAt: now}
	s.cache.put(key, e, epoch)
	return e.principal, nil
}

// AuthenticateCookie returns the principal of a session cookie token, from
// the in-memory cache when fresh. Unknown, malformed or expired tokens give
// ErrUnauthenticated.
func (s *Service) AuthenticateCookie(ctx context.Context, token string) (Principal, error) {
	if !wellFormed(token, SessionTokenPrefix) {
		return Principal{}, ErrUnauthenticated
	}
	return s.authenticate(ctx, token, AuthCookie)
}

// AuthenticateToken returns the principal of a personal API token.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (Principal, error) {
	if !wellFormed(token, APITokenPrefix) {
		return Principal{}, ErrUnauthenticated
	}
	return s.authenticate(ctx, token, AuthToken)
}

func (s *Service) authenticate(ctx context.Context, token string, m AuthMethod) (Principal, error) {
	h := HashToken(token)
	key := string(h)
	now := s.opt.Now()
	if p, ok, err := s.fromCache(key, now); ok {
		return p, err
	}
	epoch := s.cache.currentEpoch()
	e := &cacheEntry{fetchedAt: now}
	var lastTouch time.Time
	switch m {
	case AuthCookie:
		r, err := s.st.GetAuthSessionByHash(ctx, h)
		if store.IsNotFound(err) {
			return Principal{}, ErrUnauthenticated
		} else if err != nil {
			return Principal{}, fmt.Errorf("look up session: %w", err)
		}
		e.principal = Principal{User: UserFromRow(r.User), Method: m, SessionID: r.SessionID}
		e.expiresAt, lastTouch = r.ExpiresAt, r.LastSeenAt
	case AuthToken:
		r, err := s.st.GetAPITokenByHash(ctx, h)
		if store.IsNotFound(err) {
			return Principal{}, ErrUnauthenticated
		} else if err != nil {
			return Principal{}, fmt.Errorf("look up token: %w", err)
		}
		e.principal = Principal{User: UserFromRow(r.User), Method: m, TokenID: r.TokenID}
		if r.ExpiresAt.Valid {
			e.expiresAt = r.ExpiresAt.Time
		}
		if r.LastUsedAt.Valid {
			lastTouch = r.LastUsedAt.Time
		}
	}
	if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
		return Principal{}, ErrUnauthenticated
	}
	e.touchedAt = lastTouch
	if now.Sub(lastTouch) >= touchEvery {
		s.touch(ctx, e.principal, now)
		e.touchedAt = now
	}
	s.cache.put(key, e, epoch)
	return e.principal, nil
}

func (s *Service) touch(ctx context.Context, p Principal, now time.Time) {
	var err error
	if p.Method == AuthCookie {
		err = s.st.TouchAuthSession(ctx, db.TouchAuthSessionParams{LastSeenAt: now.UTC(), ID: p.SessionID})
	} else {
		err = s.st.TouchAPIToken(ctx, db.TouchAPITokenParams{LastUsedAt: sqlTime(now), ID: p.TokenID})
	}
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "record credential use", "user_id", p.User.ID, "err", err)
	}
}

// CacheStats counts credential lookups answered from memory (hits) and from
// the database (misses) since start.
func (s *Service) CacheStats() (hits, misses uint64) { return s.hits.Load(), s.misses.Load() }

// CachedCredentials is the number of cached credential lookups (for tests
// and metrics).
func (s *Service) CachedCredentials() int { return s.cache.len() }

package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Access is the part of a user that gates what they may do.
type Access struct {
	Role                  Role
	CanUseInternal        bool
	CanAuthor             bool
	MaxConcurrentSessions int
}

// SetAccess changes a user's role and entitlements and drops the user's
// cached credentials in this process at once (other processes notice within
// their Watch interval). It returns ErrNotFound for an unknown user.
func (s *Service) SetAccess(ctx context.Context, userID int64, a Access) (User, error) {
	if a.Role != RoleUser && a.Role != RoleAdmin {
		return User{}, &ValidationError{Fields: []FieldError{{"role", "must be user or admin"}}}
	}
	if a.MaxConcurrentSessions < 0 || a.MaxConcurrentSessions > 64 {
		return User{}, &ValidationError{Fields: []FieldError{{"max_concurrent_sessions", "must be between 0 and 64"}}}
	}
	var out User
	err := s.st.InTx(ctx, func(tx store.Store) error {
		row, err := tx.LockUser(ctx, userID)
		if store.IsNotFound(err) {
			return ErrNotFound
		} else if err != nil {
			return fmt.Errorf("lock user %d: %w", userID, err)
		}
		if _, err := tx.UpdateUserAccess(ctx, db.UpdateUserAccessParams{
			Role: db.UsersRole(a.Role), CanUseInternal: a.CanUseInternal, CanAuthor: a.CanAuthor,
			MaxConcurrentSessions: int32(a.MaxConcurrentSessions), ID: userID,
		}); err != nil {
			return fmt.Errorf("update user %d: %w", userID, err)
		}
		row.Role, row.CanUseInternal, row.CanAuthor, row.MaxConcurrentSessions = db.UsersRole(a.Role), a.CanUseInternal, a.CanAuthor, int32(a.MaxConcurrentSessions)
		out = UserFromRow(row)
		return nil
	})
	s.userChanged(userID)
	return out, err
}

// SetPassword replaces a user's password, ends all of their sessions and
// revokes all of their API tokens: a reset after a compromise must not
// leave the attacker a token.
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	if m := s.ValidatePassword(password); m != "" {
		return &ValidationError{Fields: []FieldError{{"password", m}}}
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	n, err := s.st.UpdateUserPassword(ctx, db.UpdateUserPasswordParams{PasswordHash: h, ID: userID})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, err)
	}
	if n == 0 {
		if _, err := s.st.GetUser(ctx, userID); store.IsNotFound(err) {
			return ErrNotFound
		}
	}
	if _, err := s.st.DeleteAuthSessionsForUser(ctx, userID); err != nil {
		return fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	if _, err := s.st.DeleteAPITokensForUser(ctx, userID); err != nil {
		return fmt.Errorf("revoke API tokens of user %d: %w", userID, err)
	}
	s.cache.invalidateUser(userID)
	return nil
}

// GetUserByEmail returns the account with email, or ErrNotFound.
func (s *Service) GetUserByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.st.GetUserByEmail(ctx, NormalizeEmail(email))
	if store.IsNotFound(err) {
		return User{}, ErrNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("look up user: %w", err)
	}
	return UserFromRow(row), nil
}

// GetUser returns the account with id, or ErrNotFound.
func (s *Service) GetUser(ctx context.Context, id int64) (User, error) {
	row, err := s.st.GetUser(ctx, id)
	if store.IsNotFound(err) {
		return User{}, ErrNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("look up user %d: %w", id, err)
	}
	return UserFromRow(row), nil
}

// ListUsers returns at most limit accounts with an id above afterID, by
// id (a cursor: pass the last id of one page to get the next).
func (s *Service) ListUsers(ctx context.Context, afterID int64, limit int) ([]User, error) {
	rows, err := s.st.ListUsers(ctx, db.ListUsersParams{AfterID: afterID, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, 0, len(rows))
	for _, r := range rows {
		out = append(out, UserFromRow(r))
	}
	return out, nil
}

// APIToken describes a personal API token; the secret is never part of it.
type APIToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// MaxTokensPerUser bounds how many API tokens one user may hold.
const MaxTokensPerUser = 50

// CreateToken issues a personal API token for userID. The returned secret
// is shown once; only its hash is stored. ttl 0 means no expiry.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, ttl time.Duration) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return APIToken{}, "", &ValidationError{Fields: []FieldError{{"name", "is required"}}}
	case utf8.RuneCountInString(name) > 100:
		return APIToken{}, "", &ValidationError{Fields: []FieldError{{"name", "must be at most 100 characters"}}}
	case ttl < 0:
		return APIToken{}, "", &ValidationError{Fields: []FieldError{{"expires_in_days", "must not be negative"}}}
	}
	existing, err := s.st.ListAPITokens(ctx, userID)
	if err != nil {
		return APIToken{}, "", fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	if len(existing) >= MaxTokensPerUser {
		return APIToken{}, "", &ValidationError{Fields: []FieldError{{"name", fmt.Sprintf("you already have %d tokens; delete one first", MaxTokensPerUser)}}}
	}
	raw, h, err := newToken(APITokenPrefix)
	if err != nil {
		return APIToken{}, "", err
	}
	var exp sql.NullTime
	if ttl > 0 {
		exp = sqlTime(s.opt.Now().Add(ttl))
	}
	id, err := s.st.CreateAPIToken(ctx, db.CreateAPITokenParams{UserID: userID, Name: name, TokenHash: h, ExpiresAt: exp})
	if store.IsDuplicate(err) {
		return APIToken{}, "", ErrTokenNameTaken
	} else if err != nil {
		return APIToken{}, "", fmt.Errorf("create token for user %d: %w", userID, err)
	}
	row, err := s.st.GetAPIToken(ctx, db.GetAPITokenParams{ID: id, UserID: userID})
	if err != nil {
		return APIToken{}, "", fmt.Errorf("read token %d: %w", id, err)
	}
	return tokenFromRow(row.ID, row.Name, row.CreatedAt, row.ExpiresAt, row.LastUsedAt), raw, nil
}

// ListTokens lists a user's API tokens, oldest first.
func (s *Service) ListTokens(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := s.st.ListAPITokens(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	out := make([]APIToken, 0, len(rows))
	for _, r := range rows {
		out = append(out, tokenFromRow(r.ID, r.Name, r.CreatedAt, r.ExpiresAt, r.LastUsedAt))
	}
	return out, nil
}

// DeleteToken revokes one of userID's tokens at once (cache included). A
// token of another user is ErrNotFound, like a missing one.
func (s *Service) DeleteToken(ctx context.Context, userID, tokenID int64) error {
	n, err := s.st.DeleteAPIToken(ctx, db.DeleteAPITokenParams{ID: tokenID, UserID: userID})
	if err != nil {
		return fmt.Errorf("delete token %d: %w", tokenID, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	// The cache is keyed by token hash, which we no longer have: drop the
	// user's entries instead.
	s.cache.invalidateUser(userID)
	return nil
}

func tokenFromRow(id int64, name string, created time.Time, exp, used sql.NullTime) APIToken {
	t := APIToken{ID: id, Name: name, CreatedAt: created.UTC()}
	if exp.Valid {
		v := exp.Time.UTC()
		t.ExpiresAt = &v
	}
	if used.Valid {
		v := used.Time.UTC()
		t.LastUsedAt = &v
	}
	return t
}

func sqlTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t.UTC(), Valid: true} }

// Watch invalidates cached credentials of users changed by other processes
// (for example `medforge user set`), polling users.updated_at every
// interval until ctx ends. Changes made through this Service are
// invalidated at once without it.
func (s *Service) Watch(ctx context.Context, interval time.Duration) {
	// A transaction may commit a little after its updated_at; re-reading a
	// short overlap catches it. seen stops re-invalidating the same change.
	const overlap = 5 * time.Second
	since := s.opt.Now().UTC().Add(-overlap)
	seen := map[int64]time.Time{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rows, err := s.st.ListUsersUpdatedSince(qctx, since.Add(-overlap))
		cancel()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.opt.Logger.WarnContext(ctx, "auth cache watch", "err", err)
			}
			continue
		}
		for _, r := range rows {
			if seen[r.ID].Equal(r.UpdatedAt) {
				continue
			}
			seen[r.ID] = r.UpdatedAt
			s.userChanged(r.ID)
			if r.UpdatedAt.After(since) {
				since = r.UpdatedAt
			}
		}
		for id, at := range seen {
			if at.Before(since.Add(-2 * overlap)) {
				delete(seen, id)
			}
		}
	}
}

// OnUserChange registers fn to be called with a user's id after that
// user's role or entitlements changed, through this Service or (seen by
// Watch) another process. The session runtime uses it to stop INTERNAL
// sessions at once when can_use_internal is revoked. fn must be quick.
func (s *Service) OnUserChange(fn func(userID int64)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.onUser = append(s.onUser, fn)
}

// userChanged drops the user's cached credentials, then tells listeners.
func (s *Service) userChanged(id int64) {
	s.cache.invalidateUser(id)
	s.hmu.Lock()
	ls := s.onUser
	s.hmu.Unlock()
	for _, fn := range ls {
		fn(id)
	}
}

package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/identity"
)

// SignupRequest is the body of POST /api/v2/auth/signup.
type SignupRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name,omitempty"`
}

// SignupResponse is the same whether or not the email already had an
// account, so signup cannot be used to discover accounts.
type SignupResponse struct {
	Email   string `json:"email"`
	Message string `json:"message"`
}

// LoginRequest is the body of POST /api/v2/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginResponse is the signed-in user and when the cookie expires.
type LoginResponse struct {
	User      identity.User `json:"user"`
	ExpiresAt time.Time     `json:"expires_at"`
}

// CreateTokenRequest is the body of POST /api/v2/me/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"`
	// ExpiresInDays is the token lifetime; 0 or absent means no expiry.
	ExpiresInDays int `json:"expires_in_days,omitempty"`
}

// Validate implements Validator.
func (r CreateTokenRequest) Validate() []FieldError {
	if r.ExpiresInDays < 0 || r.ExpiresInDays > 3650 {
		return []FieldError{{Field: "expires_in_days", Message: "must be between 0 and 3650"}}
	}
	return nil
}

// CreatedToken is an API token with its secret, returned once at creation.
type CreatedToken struct {
	identity.APIToken
	Token string `json:"token"`
}

func (s *Server) sessionCookie(value string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{
		Name: CookieName, Value: value, Path: "/", Domain: s.cfg.CookieDomain(),
		Expires: expires, HTTPOnly: true, Secure: s.cfg.CookieSecure, SameSite: fiber.CookieSameSiteLaxMode,
	}
}

func (s *Server) mountIdentity() {
	tags := []string{"auth"}
	s.Handle(Route{
		Method: http.MethodPost, Path: "/auth/signup", Tags: tags, Status: http.StatusCreated,
		Summary:     "Create an account",
		Description: "Answers 201 with the same body whether or not the email already had an account. 403 signup_disabled when open signup is off.",
		Request:     SignupRequest{}, Response: SignupResponse{},
		Handler: func(c *fiber.Ctx) error {
			if !s.cfg.OpenSignup {
				return Forbidden("signup_disabled", "sign-up is closed; ask an administrator for an account")
			}
			var req SignupRequest
			if err := Decode(c, &req); err != nil {
				return err
			}
			created, err := s.id.Signup(c.UserContext(), req.Email, req.Password, req.DisplayName, s.ClientIP(c))
			if err != nil {
				return err
			}
			if created {
				s.Audit(c, "user.signup", "user", identity.NormalizeEmail(req.Email), "")
			}
			return OK(c, http.StatusCreated, SignupResponse{
				Email:   identity.NormalizeEmail(req.Email),
				Message: "if this email was not registered yet, its account now exists; sign in to continue",
			})
		},
	})
	s.Handle(Route{
		Method: http.MethodPost, Path: "/auth/login", Tags: tags,
		Summary:     "Sign in with email and password",
		Description: "Sets the medforge_session cookie. 401 invalid_credentials for an unknown email or a wrong password alike; 429 with Retry-After when the account or client IP used its attempts.",
		Request:     LoginRequest{}, Response: LoginResponse{},
		Handler: func(c *fiber.Ctx) error {
			var req LoginRequest
			if err := Decode(c, &req); err != nil {
				return err
			}
			sess, err := s.id.Login(c.UserContext(), req.Email, req.Password, s.ClientIP(c), c.Get(fiber.HeaderUserAgent))
			if errors.Is(err, identity.ErrInvalidCredentials) {
				s.Audit(c, "auth.login_failed", "email", identity.NormalizeEmail(req.Email), "")
			}
			if err != nil {
				return err
			}
			c.Locals(localPrincipal, &identity.Principal{User: sess.User, Method: identity.AuthCookie})
			s.Audit(c, "auth.login", "user", strconv.FormatInt(sess.User.ID, 10), "")
			c.Cookie(s.sessionCookie(sess.Token, sess.ExpiresAt))
			return OK(c, http.StatusOK, LoginResponse{User: sess.User, ExpiresAt: sess.ExpiresAt})
		},
	})
	s.Handle(Route{
		Method: http.MethodPost, Path: "/auth/logout", Tags: tags, Status: http.StatusNoContent,
		Summary:     "Sign out",
		Description: "Ends the cookie's session and clears the cookie. Idempotent: 204 also without a session.",
		Handler: func(c *fiber.Ctx) error {
			if tok := c.Cookies(CookieName); tok != "" {
				if err := s.id.Logout(c.UserContext(), tok); err != nil {
					return err
				}
				if p := CurrentPrincipal(c); p != nil && p.Method == identity.AuthCookie {
					s.Audit(c, "auth.logout", "user", strconv.FormatInt(p.User.ID, 10), "")
				}
			}
			c.Cookie(s.sessionCookie("", time.Unix(0, 0)))
			return NoContent(c)
		},
	})
	s.Handle(Route{
		Method: http.MethodGet, Path: "/me", Tags: tags, Auth: AuthUser,
		Summary: "The signed-in user", Response: identity.User{},
		Handler: func(c *fiber.Ctx) error { return OK(c, http.StatusOK, CurrentUser(c)) },
	})
	s.Handle(Route{
		Method: http.MethodPost, Path: "/me/tokens", Tags: tags, Auth: AuthUser, Status: http.StatusCreated,
		Summary:     "Create a personal API token",
		Description: "The token is in the response once and never again; send it as Authorization: Bearer <token>.",
		Request:     CreateTokenRequest{}, Response: CreatedToken{},
		Handler: func(c *fiber.Ctx) error {
			var req CreateTokenRequest
			if err := Decode(c, &req); err != nil {
				return err
			}
			u := CurrentUser(c)
			tok, secret, err := s.id.CreateToken(c.UserContext(), u.ID, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
			if errors.Is(err, identity.ErrTokenNameTaken) {
				return Conflict("token_name_taken", "you already have a token with this name").
					WithFields(FieldError{Field: "name", Message: "is already used by another of your tokens"})
			}
			if err != nil {
				return err
			}
			s.Audit(c, "token.create", "api_token", strconv.FormatInt(tok.ID, 10), tok.Name)
			return OK(c, http.StatusCreated, CreatedToken{APIToken: tok, Token: secret})
		},
	})
	s.Handle(Route{
		Method: http.MethodGet, Path: "/me/tokens", Tags: tags, Auth: AuthUser,
		Summary: "List your API tokens (without secrets)", Response: []identity.APIToken{},
		Handler: func(c *fiber.Ctx) error {
			toks, err := s.id.ListTokens(c.UserContext(), CurrentUser(c).ID)
			if err != nil {
				return err
			}
			return OK(c, http.StatusOK, toks)
		},
	})
	s.Handle(Route{
		Method: http.MethodDelete, Path: "/me/tokens/:id", Tags: tags, Auth: AuthUser, Status: http.StatusNoContent,
		Summary: "Revoke one of your API tokens",
		Handler: func(c *fiber.Ctx) error {
			id, err := PathID(c, "id")
			if err != nil {
				return err
			}
			if err := s.id.DeleteToken(c.UserContext(), CurrentUser(c).ID, id); err != nil {
				if errors.Is(err, identity.ErrNotFound) {
					return NotFound("token")
				}
				return err
			}
			s.Audit(c, "token.delete", "api_token", strconv.FormatInt(id, 10), "")
			return NoContent(c)
		},
	})
}

// PathID parses a positive integer path parameter; a bad one is a 404 (the
// resource cannot exist), named after the parameter.
func PathID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, NotFound(name)
	}
	return id, nil
}

// Audit records a security-relevant action by the current principal (if
// any) with the request id and client IP, through identity's audit log.
// Failures are logged, not returned: auditing never fails the request it
// records.
func (s *Server) Audit(c *fiber.Ctx, action, targetType, targetID, detail string) {
	e := identity.Event{Action: action, TargetType: targetType, TargetID: targetID, Detail: detail,
		RequestID: RequestID(c), IP: s.ClientIP(c)}
	if p := CurrentPrincipal(c); p != nil {
		e.ActorID = p.User.ID
	}
	s.id.Audit(c.UserContext(), e)
}

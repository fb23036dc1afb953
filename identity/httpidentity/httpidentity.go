// Package httpidentity mounts identity's endpoints on the MedForge HTTP
// server:
//
//	POST   /api/v2/auth/signup      create an account (same answer whether or not the email existed)
//	POST   /api/v2/auth/login       sign in; sets the medforge_session cookie
//	POST   /api/v2/auth/logout      end the cookie's session (idempotent)
//	GET    /api/v2/me               the signed-in user
//	GET|POST /api/v2/me/tokens      personal API tokens (the secret is shown once)
//	DELETE /api/v2/me/tokens/{id}   revoke one of your tokens
//
// It translates HTTP to identity.Service calls; identity's errors become
// problem+json in the server's error handler. It holds no state, writes no
// SQL, records security events in the audit log through identity
// (Server.Audit), and never logs or echoes a password, a token or a cookie
// value. Authentication itself (cookie and Bearer) is the server core's
// middleware; this package only issues and revokes credentials.
package httpidentity

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
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

// Validate implements httpapi.Validator.
func (r CreateTokenRequest) Validate() []httpapi.FieldError {
	if r.ExpiresInDays < 0 || r.ExpiresInDays > 3650 {
		return []httpapi.FieldError{{Field: "expires_in_days", Message: "must be between 0 and 3650"}}
	}
	return nil
}

// CreatedToken is an API token with its secret, returned once at creation.
type CreatedToken struct {
	identity.APIToken
	Token string `json:"token"`
}

// Mount registers identity's routes on srv.
func Mount(srv *httpapi.Server, id *identity.Service) {
	h := &handlers{srv: srv, id: id}
	for _, r := range h.routes() {
		srv.Handle(r)
	}
}

type handlers struct {
	srv *httpapi.Server // configuration, client IP, audit events
	id  *identity.Service
}

var tags = []string{"auth"}

func (h *handlers) routes() []httpapi.Route {
	return append(h.sessionRoutes(), h.meRoutes()...)
}

// sessionRoutes are signup and the login session: sign in, sign out.
func (h *handlers) sessionRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodPost, Path: "/auth/signup", Tags: tags, Status: http.StatusCreated,
			Summary:     "Create an account",
			Description: "Answers 201 with the same body whether or not the email already had an account. 403 signup_disabled when open signup is off.",
			Request:     SignupRequest{}, Response: SignupResponse{},
			Handler: func(c *fiber.Ctx) error {
				if !h.srv.Config().OpenSignup {
					return httpapi.Forbidden("signup_disabled", "sign-up is closed; ask an administrator for an account")
				}
				var req SignupRequest
				if err := httpapi.Decode(c, &req); err != nil {
					return err
				}
				created, err := h.id.Signup(c.UserContext(), req.Email, req.Password, req.DisplayName, h.srv.ClientIP(c))
				if err != nil {
					return err
				}
				if created {
					h.srv.Audit(c, "user.signup", "user", identity.NormalizeEmail(req.Email), "")
				}
				return httpapi.OK(c, http.StatusCreated, SignupResponse{
					Email:   identity.NormalizeEmail(req.Email),
					Message: "if this email was not registered yet, its account now exists; sign in to continue",
				})
			},
		},
		{Method: http.MethodPost, Path: "/auth/login", Tags: tags,
			Summary:     "Sign in with email and password",
			Description: "Sets the identity cookie (__Host-medforge_session over HTTPS, medforge_session on plain-HTTP local runs; host-only). 401 invalid_credentials for an unknown email or a wrong password alike; 429 with Retry-After when the account or client IP used its attempts.",
			Request:     LoginRequest{}, Response: LoginResponse{},
			Handler: func(c *fiber.Ctx) error {
				var req LoginRequest
				if err := httpapi.Decode(c, &req); err != nil {
					return err
				}
				sess, err := h.id.Login(c.UserContext(), req.Email, req.Password, h.srv.ClientIP(c), c.Get(fiber.HeaderUserAgent))
				if errors.Is(err, identity.ErrInvalidCredentials) {
					h.srv.Audit(c, "auth.login_failed", "email", identity.NormalizeEmail(req.Email), "")
				}
				if err != nil {
					return err
				}
				httpapi.SignedIn(c, identity.Principal{User: sess.User, Method: identity.AuthCookie})
				h.srv.Audit(c, "auth.login", "user", strconv.FormatInt(sess.User.ID, 10), "")
				c.Cookie(h.srv.SessionCookie(sess.Token, sess.ExpiresAt))
				return httpapi.OK(c, http.StatusOK, LoginResponse{User: sess.User, ExpiresAt: sess.ExpiresAt})
			},
		},
		{Method: http.MethodPost, Path: "/auth/logout", Tags: tags, Status: http.StatusNoContent,
			Summary:     "Sign out",
			Description: "Ends the cookie's session and clears the cookie. Idempotent: 204 also without a session.",
			Handler: func(c *fiber.Ctx) error {
				// Every value ends: a planted one (plain-HTTP runs) is ended too.
				for _, tok := range h.srv.IdentityCookies(c) {
					if err := h.id.Logout(c.UserContext(), tok); err != nil {
						return err
					}
					if p := httpapi.CurrentPrincipal(c); p != nil && p.Method == identity.AuthCookie {
						h.srv.Audit(c, "auth.logout", "user", strconv.FormatInt(p.User.ID, 10), "")
					}
				}
				c.Cookie(h.srv.SessionCookie("", time.Unix(0, 0)))
				return httpapi.NoContent(c)
			},
		},
	}
}

// meRoutes are the signed-in user and their personal API tokens.
func (h *handlers) meRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/me", Tags: tags, Auth: httpapi.AuthUser,
			Summary: "The signed-in user", Response: identity.User{},
			Handler: func(c *fiber.Ctx) error { return httpapi.OK(c, http.StatusOK, httpapi.CurrentUser(c)) },
		},
		{Method: http.MethodPost, Path: "/me/tokens", Tags: tags, Auth: httpapi.AuthUser, Status: http.StatusCreated,
			Summary:     "Create a personal API token",
			Description: "The token is in the response once and never again; send it as Authorization: Bearer <token>.",
			Request:     CreateTokenRequest{}, Response: CreatedToken{},
			Handler: func(c *fiber.Ctx) error {
				var req CreateTokenRequest
				if err := httpapi.Decode(c, &req); err != nil {
					return err
				}
				u := httpapi.CurrentUser(c)
				tok, secret, err := h.id.CreateToken(c.UserContext(), u.ID, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
				if errors.Is(err, identity.ErrTokenNameTaken) {
					return httpapi.Conflict("token_name_taken", "you already have a token with this name").
						WithFields(httpapi.FieldError{Field: "name", Message: "is already used by another of your tokens"})
				}
				if err != nil {
					return err
				}
				h.srv.Audit(c, "token.create", "api_token", strconv.FormatInt(tok.ID, 10), tok.Name)
				return httpapi.OK(c, http.StatusCreated, CreatedToken{APIToken: tok, Token: secret})
			},
		},
		{Method: http.MethodGet, Path: "/me/tokens", Tags: tags, Auth: httpapi.AuthUser,
			Summary: "List your API tokens (without secrets)", Response: []identity.APIToken{},
			Handler: func(c *fiber.Ctx) error {
				toks, err := h.id.ListTokens(c.UserContext(), httpapi.CurrentUser(c).ID)
				if err != nil {
					return err
				}
				return httpapi.OK(c, http.StatusOK, toks)
			},
		},
		{Method: http.MethodDelete, Path: "/me/tokens/:id", Tags: tags, Auth: httpapi.AuthUser, Status: http.StatusNoContent,
			Summary: "Revoke one of your API tokens",
			Handler: func(c *fiber.Ctx) error {
				id, err := httpapi.PathID(c, "id")
				if err != nil {
					return err
				}
				if err := h.id.DeleteToken(c.UserContext(), httpapi.CurrentUser(c).ID, id); err != nil {
					if errors.Is(err, identity.ErrNotFound) {
						return httpapi.NotFound("token")
					}
					return err
				}
				h.srv.Audit(c, "token.delete", "api_token", strconv.FormatInt(id, 10), "")
				return httpapi.NoContent(c)
			},
		},
	}
}

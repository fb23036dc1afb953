// Package httpadmin mounts the admins' account endpoints on the MedForge
// HTTP server:
//
//	GET   /api/v2/admin/users       accounts by id (cursor after_id, limit)
//	POST  /api/v2/admin/users       create an account (also with open signup off)
//	PATCH /api/v2/admin/users/{id}  role, can_use_internal, can_author, max_concurrent_sessions
//
// It translates HTTP to identity.Service calls and identity errors to
// problem+json. It holds no state, writes no SQL, records every change in
// the audit log through identity (Server.Audit) and never sends internal
// error text to a client. The server's /admin gate answers 401/403 before
// any handler here runs.
package httpadmin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
)

var tags = []string{"admin"}

// AdminCreateUserRequest is the body of POST /api/v2/admin/users. (The
// names keep their Admin prefix: they are the OpenAPI schema names that
// generated clients use.)
type AdminCreateUserRequest struct {
	Email                 string `json:"email"`
	Password              string `json:"password"`
	DisplayName           string `json:"display_name,omitempty"`
	Role                  string `json:"role,omitempty"`
	CanUseInternal        bool   `json:"can_use_internal,omitempty"`
	CanAuthor             bool   `json:"can_author,omitempty"`
	MaxConcurrentSessions int    `json:"max_concurrent_sessions,omitempty"`
}

// AdminUpdateUserRequest is the body of PATCH /api/v2/admin/users/{id}; absent
// fields keep their value.
type AdminUpdateUserRequest struct {
	Role                  *string `json:"role,omitempty"`
	CanUseInternal        *bool   `json:"can_use_internal,omitempty"`
	CanAuthor             *bool   `json:"can_author,omitempty"`
	MaxConcurrentSessions *int    `json:"max_concurrent_sessions,omitempty"`
}

// Mount registers the account administration routes on srv.
func Mount(srv *httpapi.Server, id *identity.Service) {
	h := &handlers{srv: srv, id: id}
	for _, r := range h.routes() {
		srv.Handle(r)
	}
}

type handlers struct {
	srv *httpapi.Server // for audit events
	id  *identity.Service
}

func (h *handlers) routes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/admin/users", Tags: tags, Auth: httpapi.AuthAdmin,
			Summary: "List users", Response: []identity.User{},
			Query: []httpapi.Param{
				{Name: "after_id", Type: "integer", Description: "return users with a larger id (pagination cursor)"},
				{Name: "limit", Type: "integer", Description: "at most this many (1-500, default 100)"},
			},
			Handler: h.list},
		{Method: http.MethodPost, Path: "/admin/users", Tags: tags, Auth: httpapi.AuthAdmin, Status: http.StatusCreated,
			Summary: "Create a user (works when open signup is off)", Request: AdminCreateUserRequest{}, Response: identity.User{},
			Handler: h.create},
		{Method: http.MethodPatch, Path: "/admin/users/:id", Tags: tags, Auth: httpapi.AuthAdmin,
			Summary:     "Change a user's role and entitlements",
			Description: "Takes effect on the user's next request (cached credentials are dropped).",
			Request:     AdminUpdateUserRequest{}, Response: identity.User{},
			Handler: h.update},
	}
}

func (h *handlers) list(c *fiber.Ctx) error {
	after, err1 := strconv.ParseInt(c.Query("after_id", "0"), 10, 64)
	limit, err2 := strconv.Atoi(c.Query("limit", "100"))
	var fe []httpapi.FieldError
	if err1 != nil || after < 0 {
		fe = append(fe, httpapi.FieldError{Field: "after_id", Message: "must be a whole number >= 0"})
	}
	if err2 != nil || limit < 1 || limit > 500 {
		fe = append(fe, httpapi.FieldError{Field: "limit", Message: "must be a whole number from 1 to 500"})
	}
	if len(fe) > 0 {
		return httpapi.Invalid(fe...)
	}
	out, err := h.id.ListUsers(c.UserContext(), after, limit)
	if err != nil {
		return err
	}
	meta := httpapi.Meta{}
	if len(out) == limit {
		meta["next_after_id"] = out[len(out)-1].ID
	}
	return httpapi.OKMeta(c, http.StatusOK, out, meta)
}

func (h *handlers) create(c *fiber.Ctx) error {
	var req AdminCreateUserRequest
	if err := httpapi.Decode(c, &req); err != nil {
		return err
	}
	u, err := h.id.CreateUser(c.UserContext(), identity.NewUser{
		Email: req.Email, Password: req.Password, DisplayName: req.DisplayName, Role: identity.Role(req.Role),
		CanUseInternal: req.CanUseInternal, CanAuthor: req.CanAuthor, MaxConcurrentSessions: req.MaxConcurrentSessions,
	})
	if errors.Is(err, identity.ErrEmailTaken) {
		return httpapi.Conflict("email_taken", "a user with this email exists").
			WithFields(httpapi.FieldError{Field: "email", Message: "is already registered"})
	}
	if err != nil {
		return err
	}
	h.srv.Audit(c, "admin.user.create", "user", strconv.FormatInt(u.ID, 10), "role="+string(u.Role))
	return httpapi.OK(c, http.StatusCreated, u)
}

func (h *handlers) update(c *fiber.Ctx) error {
	id, err := httpapi.PathID(c, "id")
	if err != nil {
		return err
	}
	var req AdminUpdateUserRequest
	if err := httpapi.Decode(c, &req); err != nil {
		return err
	}
	cur, err := h.id.GetUser(c.UserContext(), id)
	if errors.Is(err, identity.ErrNotFound) {
		return httpapi.NotFound("user")
	} else if err != nil {
		return err
	}
	a := identity.Access{Role: cur.Role, CanUseInternal: cur.CanUseInternal, CanAuthor: cur.CanAuthor, MaxConcurrentSessions: cur.MaxConcurrentSessions}
	if req.Role != nil {
		a.Role = identity.Role(*req.Role)
	}
	if req.CanUseInternal != nil {
		a.CanUseInternal = *req.CanUseInternal
	}
	if req.CanAuthor != nil {
		a.CanAuthor = *req.CanAuthor
	}
	if req.MaxConcurrentSessions != nil {
		a.MaxConcurrentSessions = *req.MaxConcurrentSessions
	}
	u, err := h.id.SetAccess(c.UserContext(), id, a)
	if errors.Is(err, identity.ErrNotFound) {
		return httpapi.NotFound("user")
	} else if err != nil {
		return err
	}
	h.srv.Audit(c, "admin.user.update", "user", strconv.FormatInt(id, 10),
		fmt.Sprintf("role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d", u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions))
	return httpapi.OK(c, http.StatusOK, u)
}

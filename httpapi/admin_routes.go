package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/db"
)

// AdminCreateUserRequest is the body of POST /api/v2/admin/users.
type AdminCreateUserRequest struct {
	Email                 string `json:"email"`
	Password              string `json:"password"`
	DisplayName           string `json:"display_name,omitempty"`
	Role                  string `json:"role,omitempty"`
	CanUseInternal        bool   `json:"can_use_internal,omitempty"`
	CanAuthor             bool   `json:"can_author,omitempty"`
	MaxConcurrentSessions int    `json:"max_concurrent_sessions,omitempty"`
}

// AdminUpdateUserRequest is the body of PATCH /api/v2/admin/users/:id;
// absent fields keep their value.
type AdminUpdateUserRequest struct {
	Role                  *string `json:"role,omitempty"`
	CanUseInternal        *bool   `json:"can_use_internal,omitempty"`
	CanAuthor             *bool   `json:"can_author,omitempty"`
	MaxConcurrentSessions *int    `json:"max_concurrent_sessions,omitempty"`
}

func (s *Server) mountAdmin() {
	tags := []string{"admin"}
	s.Handle(Route{
		Method: http.MethodGet, Path: "/admin/users", Tags: tags, Auth: AuthAdmin,
		Summary: "List users", Response: []identity.User{},
		Query: []Param{
			{Name: "after_id", Type: "integer", Description: "return users with a larger id (pagination cursor)"},
			{Name: "limit", Type: "integer", Description: "at most this many (1-500, default 100)"},
		},
		Handler: func(c *fiber.Ctx) error {
			after, err1 := strconv.ParseInt(c.Query("after_id", "0"), 10, 64)
			limit, err2 := strconv.Atoi(c.Query("limit", "100"))
			var fe []FieldError
			if err1 != nil || after < 0 {
				fe = append(fe, FieldError{Field: "after_id", Message: "must be a whole number >= 0"})
			}
			if err2 != nil || limit < 1 || limit > 500 {
				fe = append(fe, FieldError{Field: "limit", Message: "must be a whole number from 1 to 500"})
			}
			if len(fe) > 0 {
				return Invalid(fe...)
			}
			rows, err := s.st.ListUsers(c.UserContext(), db.ListUsersParams{AfterID: after, Limit: int32(limit)})
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			out := make([]identity.User, 0, len(rows))
			for _, r := range rows {
				out = append(out, identity.UserFromRow(r))
			}
			meta := Meta{}
			if len(out) == limit {
				meta["next_after_id"] = out[len(out)-1].ID
			}
			return OKMeta(c, http.StatusOK, out, meta)
		},
	})
	s.Handle(Route{
		Method: http.MethodPost, Path: "/admin/users", Tags: tags, Auth: AuthAdmin, Status: http.StatusCreated,
		Summary: "Create a user (works when open signup is off)", Request: AdminCreateUserRequest{}, Response: identity.User{},
		Handler: func(c *fiber.Ctx) error {
			var req AdminCreateUserRequest
			if err := Decode(c, &req); err != nil {
				return err
			}
			u, err := s.id.CreateUser(c.UserContext(), identity.NewUser{
				Email: req.Email, Password: req.Password, DisplayName: req.DisplayName, Role: identity.Role(req.Role),
				CanUseInternal: req.CanUseInternal, CanAuthor: req.CanAuthor, MaxConcurrentSessions: req.MaxConcurrentSessions,
			})
			if errors.Is(err, identity.ErrEmailTaken) {
				return Conflict("email_taken", "a user with this email exists").WithFields(FieldError{Field: "email", Message: "is already registered"})
			}
			if err != nil {
				return err
			}
			s.Audit(c, "admin.user.create", "user", strconv.FormatInt(u.ID, 10), "role="+string(u.Role))
			return OK(c, http.StatusCreated, u)
		},
	})
	s.Handle(Route{
		Method: http.MethodPatch, Path: "/admin/users/:id", Tags: tags, Auth: AuthAdmin,
		Summary:     "Change a user's role and entitlements",
		Description: "Takes effect on the user's next request (cached credentials are dropped).",
		Request:     AdminUpdateUserRequest{}, Response: identity.User{},
		Handler: func(c *fiber.Ctx) error {
			id, err := PathID(c, "id")
			if err != nil {
				return err
			}
			var req AdminUpdateUserRequest
			if err := Decode(c, &req); err != nil {
				return err
			}
			cur, err := s.id.GetUser(c.UserContext(), id)
			if errors.Is(err, identity.ErrNotFound) {
				return NotFound("user")
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
			u, err := s.id.SetAccess(c.UserContext(), id, a)
			if errors.Is(err, identity.ErrNotFound) {
				return NotFound("user")
			} else if err != nil {
				return err
			}
			s.Audit(c, "admin.user.update", "user", strconv.FormatInt(id, 10),
				fmt.Sprintf("role=%s can_use_internal=%t can_author=%t max_concurrent_sessions=%d", u.Role, u.CanUseInternal, u.CanAuthor, u.MaxConcurrentSessions))
			return OK(c, http.StatusOK, u)
		},
	})
}

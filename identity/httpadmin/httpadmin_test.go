package httpadmin_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/testdb"
)

// Admins create accounts (with open signup off), grant entitlements, page
// through accounts; bad input is 422 and unknown ids 404.
func TestAdminUsers(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Options{Config: func(c *config.Config) { c.OpenSignup = false }})
	admin := testdb.User(t, env.Store, testdb.UserOpts{Admin: true})
	adm := apitest.Cookie(testdb.SessionCookie(t, env.Store, admin.User))
	email := testdb.Unique("made") + "@example.org"
	var u identity.User
	env.Do(t, "POST", "/api/v2/admin/users", map[string]any{"email": email, "password": "long-enough-password", "can_use_internal": true}, adm).Data(t, 201, &u)
	if !u.CanUseInternal || u.CanAuthor || u.Role != identity.RoleUser {
		t.Fatalf("created %+v", u)
	}
	var granted identity.User
	env.Do(t, "PATCH", fmt.Sprintf("/api/v2/admin/users/%d", u.ID), map[string]any{"can_author": true}, adm).Data(t, 200, &granted)
	if !granted.CanAuthor || !granted.CanUseInternal {
		t.Fatalf("can_author grant: %+v", granted)
	}
	env.Do(t, "POST", "/api/v2/admin/users", map[string]any{"email": email, "password": "long-enough-password"}, adm).Problem(t, 409, "email_taken")
	env.Do(t, "POST", "/api/v2/auth/login", map[string]any{"email": email, "password": "long-enough-password"}).Data(t, 200, nil)
	env.Do(t, "PATCH", "/api/v2/admin/users/999999999", map[string]any{"role": "admin"}, adm).Problem(t, 404, "not_found")
	env.Do(t, "PATCH", fmt.Sprintf("/api/v2/admin/users/%d", u.ID), map[string]any{"role": "root"}, adm).Problem(t, 422, "validation_failed")
	var page []identity.User
	e := env.Do(t, "GET", "/api/v2/admin/users?limit=1", nil, adm).Data(t, 200, &page)
	if len(page) != 1 || e.Meta["next_after_id"] == nil {
		t.Fatalf("page %v meta %v", page, e.Meta)
	}
	env.Do(t, "GET", "/api/v2/admin/users?limit=0", nil, adm).Problem(t, 422, "validation_failed")

	// Each change is in the audit log, with its actor and request, through identity.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, action := range []string{"admin.user.create", "admin.user.update"} {
		evs, err := env.Store.ListAuditEventsByAction(ctx, action)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || (e.ActorUserID.Int64 == admin.ID && e.TargetID == fmt.Sprint(u.ID) && e.RequestID != "" && e.Ip != "")
		}
		if !found {
			t.Errorf("no %s event by the admin for user %d: %+v", action, u.ID, evs)
		}
	}
}

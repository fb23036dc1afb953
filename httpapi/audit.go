package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/identity"
)

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

// SignedIn makes p the caller of the rest of c's request, so that its audit
// events and access-log line name the user. Only a handler that has just
// verified p's credentials (the login endpoint) may call it.
func SignedIn(c *fiber.Ctx, p identity.Principal) { c.Locals(localPrincipal, &p) }

package identity

import (
	"context"

	"github.com/medforge/medforge/internal/text"
	"github.com/medforge/medforge/store/db"
)

// Event is one security-relevant action for the audit log: who did it
// (ActorID, 0 when no user is signed in), what, to what, and the request it
// came from.
type Event struct {
	ActorID    int64
	Action     string // e.g. "auth.login", "admin.user.update"
	TargetType string // e.g. "user", "api_token", "session"
	TargetID   string
	Detail     string
	RequestID  string
	IP         string
}

// Audit records e in the audit log. It never fails the action it records:
// a write that fails is logged with the request id and dropped. Fields are
// cut to their columns' sizes on rune boundaries.
func (s *Service) Audit(ctx context.Context, e Event) {
	p := db.InsertAuditEventParams{
		Action: e.Action, TargetType: e.TargetType, TargetID: text.Truncate(e.TargetID, 128),
		RequestID: e.RequestID, Ip: text.Truncate(e.IP, 64), Detail: text.Truncate(e.Detail, 1024),
	}
	if e.ActorID > 0 {
		p.ActorUserID.Int64, p.ActorUserID.Valid = e.ActorID, true
	}
	if err := s.st.InsertAuditEvent(ctx, p); err != nil {
		s.opt.Logger.ErrorContext(ctx, "audit event lost", "request_id", e.RequestID, "action", e.Action, "err", err.Error())
	}
}

package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/medforge/medforge/store/db"
)

// GPU-aware culling. A running session is idle only when it has had neither
// a routed request nor a busy GPU (a recovery pass that sampled it at or
// above GPUBusyPercent) for the idle timeout: a training run with no browser
// open is busy, a browser tab left open on an idle GPU is not activity of
// the GPU but still of routing (the session proxy records each request).
// The maximum lifetime applies whatever the activity. A user may extend a
// session once, by up to MaxExtension: the lifetime moves back by the
// extension and the idle clock restarts.

// Deadlines are when a running session will be stopped if nothing changes.
type Deadlines struct {
	// Idle is the last activity (routed request, busy GPU, start or
	// extension) plus the idle timeout (and the extension); nil when idle
	// culling is off.
	Idle *time.Time `json:"idle_deadline,omitempty"`
	// Lifetime is the start plus the maximum lifetime (and the
	// extension); nil when there is no maximum lifetime.
	Lifetime *time.Time `json:"lifetime_deadline,omitempty"`
}

// ErrExtend: the session cannot be extended (already extended once,
// extensions are off, or it is not running).
var ErrExtend = errors.New("the session cannot be extended")

func (s *Service) deadlines(r db.Session) Deadlines {
	var d Deadlines
	if Status(r.Status) != StatusRunning {
		return d
	}
	ext := time.Duration(r.ExtensionS) * time.Second
	if s.cfg.IdleTimeout > 0 {
		last := r.CreatedAt
		for _, t := range []sqlTime{{r.StartedAt.Time, r.StartedAt.Valid}, {r.LastActivityAt.Time, r.LastActivityAt.Valid}, {r.LastGpuBusyAt.Time, r.LastGpuBusyAt.Valid}, {r.ExtendedAt.Time, r.ExtendedAt.Valid}} {
			if t.ok && t.t.After(last) {
				last = t.t
			}
		}
		at := last.Add(s.cfg.IdleTimeout).UTC()
		if r.ExtendedAt.Valid && !r.ExtendedAt.Time.Before(last) {
			at = at.Add(ext)
		}
		d.Idle = &at
	}
	if s.cfg.MaxLifetime > 0 && r.StartedAt.Valid {
		at := r.StartedAt.Time.Add(s.cfg.MaxLifetime + ext).UTC()
		d.Lifetime = &at
	}
	return d
}

type sqlTime struct {
	t  time.Time
	ok bool
}

// cullReason says why a running session must stop now ("" to keep it):
// the lifetime first, then idleness.
func (s *Service) cullReason(r db.Session, now time.Time) string {
	d := s.deadlines(r)
	switch {
	case d.Lifetime != nil && now.After(*d.Lifetime):
		return StopMaxLifetime
	case d.Idle != nil && now.After(*d.Idle):
		return StopIdle
	}
	return ""
}

// warning is the text a session page shows when a stop is near (within
// WarnBefore), or "".
func (s *Service) warning(r db.Session, now time.Time) string {
	d := s.deadlines(r)
	var at *time.Time
	what := ""
	if d.Idle != nil && d.Idle.Sub(now) <= s.cfg.WarnBefore {
		at, what = d.Idle, "idle"
	}
	if d.Lifetime != nil && d.Lifetime.Sub(now) <= s.cfg.WarnBefore && (at == nil || d.Lifetime.Before(*at)) {
		at, what = d.Lifetime, "lifetime"
	}
	if at == nil {
		return ""
	}
	if what == "idle" {
		return fmt.Sprintf("idle: this session will be stopped at %s unless it is used (a request through its URL, or GPU work)", at.Format(time.RFC3339))
	}
	return fmt.Sprintf("lifetime: this session reaches its maximum lifetime and will be stopped at %s", at.Format(time.RFC3339))
}

// sampleGPU records a busy GPU for a running session (a recovery pass calls
// it before deciding on idleness) and reports whether it was busy.
func (s *Service) sampleGPU(ctx context.Context, r db.Session) bool {
	u, ok := s.gpus.(UtilizationSampler)
	if !ok {
		return false
	}
	g, ok := s.gpu(int(r.GpuID))
	if !ok {
		return false
	}
	pct, err := u.Utilization(ctx, g)
	if err != nil {
		s.log.Debug("GPU utilisation sample failed", "gpu", r.GpuID, "err", err)
		return false
	}
	if pct < s.cfg.GPUBusyPercent {
		return false
	}
	if _, err := s.st.MarkSessionGPUBusy(ctx, r.ID); err != nil {
		s.log.Warn("record busy GPU", "session", r.ID, "err", err)
	}
	return true
}

// Extend extends a running session once (userID 0: an admin may extend
// anyone's) by d, capped at MaxExtension (d <= 0 means the maximum).
func (s *Service) Extend(ctx context.Context, id, userID int64, d time.Duration) (Session, error) {
	if _, err := s.Get(ctx, id, userID); err != nil {
		return Session{}, err
	}
	if s.cfg.MaxExtension <= 0 {
		return Session{}, fmt.Errorf("%w: extensions are turned off", ErrExtend)
	}
	if d <= 0 || d > s.cfg.MaxExtension {
		d = s.cfg.MaxExtension
	}
	n, err := s.st.ExtendSession(ctx, db.ExtendSessionParams{ID: id, ExtensionS: int32(d / time.Second)})
	if err != nil {
		return Session{}, fmt.Errorf("extend session: %w", err)
	}
	if n == 0 {
		return Session{}, fmt.Errorf("%w: it is not running or was extended already", ErrExtend)
	}
	return s.Get(ctx, id, userID)
}

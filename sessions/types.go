package sessions

import (
	"errors"
	"time"

	"github.com/medforge/medforge/store/db"
)

// Exposure says which surface a session belongs to. EXTERNAL sessions sit on
// a bridge network with egress; INTERNAL ones on a Docker internal network
// without any, and only users with can_use_internal may create them.
type Exposure string

// The two exposures.
const (
	External Exposure = "external"
	Internal Exposure = "internal"
)

// Valid reports whether e is one of the two exposures.
func (e Exposure) Valid() bool { return e == External || e == Internal }

// Status is a session's lifecycle state. Active statuses hold a GPU;
// terminal ones never change again.
type Status string

// The lifecycle: starting -> running -> stopping -> stopped; any active
// status may end in error.
const (
	StatusStarting Status = "starting"
	StatusRunning  Status = "running"
	StatusStopping Status = "stopping"
	StatusStopped  Status = "stopped"
	StatusError    Status = "error"
)

// Active reports whether the session still holds its GPU.
func (s Status) Active() bool {
	return s == StatusStarting || s == StatusRunning || s == StatusStopping
}

// Stop reasons recorded in Session.StopReason.
const (
	StopUser          = "user"
	StopAdmin         = "admin"
	StopIdle          = "idle"
	StopMaxLifetime   = "max_lifetime"
	StopContainerLost = "container_lost"
	// StopEntitlementRevoked: an INTERNAL session whose user lost
	// can_use_internal.
	StopEntitlementRevoked = "internal_revoked"
	// StopContainerFailed: the runtime reported the container failed (a
	// Pod failed or evicted); the session ends as error with the reason.
	StopContainerFailed = "container_failed"
	// StopRequeued: the runtime's scheduler could not place the session
	// (ErrUnschedulable); the row ended without a snapshot and the request
	// went back on the waitlist (Service.requeue).
	StopRequeued = "requeued"
)

// Session is the public view of one session row. Times are UTC.
type Session struct {
	ID          int64      `json:"id"`
	Slug        string     `json:"slug"`
	UserID      int64      `json:"user_id"`
	Exposure    Exposure   `json:"exposure"`
	Pack        string     `json:"pack"`
	Status      Status     `json:"status"`
	GPUID       int        `json:"gpu_id"`
	Snapshot    string     `json:"snapshot,omitempty"`
	StopReason  string     `json:"stop_reason,omitempty"`
	ErrorReason string     `json:"error_reason,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	// ContainerName is mf-session-<slug>; the routing layer resolves it on
	// the exposure's network.
	ContainerName string `json:"container_name"`
	// FromSnapshotID is the snapshot the workspace was made from, if any.
	FromSnapshotID int64 `json:"from_snapshot_id,omitempty"`
	// Deadlines of a running session: when idle culling or the maximum
	// lifetime will stop it if nothing changes.
	Deadlines
	// Warning is set when one of those stops is near (Config.WarnBefore).
	Warning string `json:"warning,omitempty"`
	// ExtendedAt is when the session used its one extension; CanExtend
	// says whether it still may.
	ExtendedAt *time.Time `json:"extended_at,omitempty"`
	CanExtend  bool       `json:"can_extend"`
}

// ContainerName is the Docker name of a session's container.
func ContainerName(slug string) string { return "mf-session-" + slug }

func fromRow(r db.Session) Session {
	s := Session{
		ID:            r.ID,
		Slug:          r.Slug,
		UserID:        r.UserID,
		Exposure:      Exposure(r.Exposure),
		Pack:          r.Pack,
		Status:        Status(r.Status),
		GPUID:         int(r.GpuID),
		Snapshot:      r.Snapshot,
		StopReason:    r.StopReason,
		ErrorReason:   r.ErrorReason,
		CreatedAt:     r.CreatedAt.UTC(),
		ContainerName: ContainerName(r.Slug),
	}
	if r.StartedAt.Valid {
		t := r.StartedAt.Time.UTC()
		s.StartedAt = &t
	}
	if r.EndedAt.Valid {
		t := r.EndedAt.Time.UTC()
		s.EndedAt = &t
	}
	if r.ExtendedAt.Valid {
		t := r.ExtendedAt.Time.UTC()
		s.ExtendedAt = &t
	}
	s.FromSnapshotID = r.FromSnapshotID.Int64
	return s
}

// Errors that callers (the HTTP layer) map to client answers. Anything else
// is internal.
var (
	// ErrNotFound: no such session, or it is not the caller's (the same
	// answer, so ids do not leak).
	ErrNotFound = errors.New("session not found")
	// ErrLimit: the user already has as many active sessions as allowed.
	ErrLimit = errors.New("concurrent session limit reached")
	// ErrNoGPU: every enabled GPU is held by an active session.
	ErrNoGPU = errors.New("no GPU available")
	// ErrInternalNotAllowed: INTERNAL needs can_use_internal.
	ErrInternalNotAllowed = errors.New("internal sessions need the can_use_internal entitlement")
	// ErrUnknownPack: the requested pack is not on the allowlist.
	ErrUnknownPack = errors.New("unknown pack")
	// ErrGPUNotFound: no GPU with that id.
	ErrGPUNotFound = errors.New("gpu not found")
	// ErrHoldoutMount: a container spec would expose TEST_HOLDOUTS_DIR.
	ErrHoldoutMount = errors.New("session containers must never mount TEST_HOLDOUTS_DIR")
)

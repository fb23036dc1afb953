package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Session is a GPU session as the API returns it (the fields the CLI shows).
type Session struct {
	ID             int64      `json:"id"`
	Slug           string     `json:"slug"`
	Exposure       string     `json:"exposure"`
	Status         string     `json:"status"`
	GPUID          int        `json:"gpu_id"`
	Snapshot       string     `json:"snapshot,omitempty"`
	FromSnapshotID int64      `json:"from_snapshot_id,omitempty"`
	ErrorReason    string     `json:"error_reason,omitempty"`
	IdleDeadline   *time.Time `json:"idle_deadline,omitempty"`
	LifetimeEnd    *time.Time `json:"lifetime_deadline,omitempty"`
	Warning        string     `json:"warning,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}

// QueueEntry is a request on the GPU waitlist.
type QueueEntry struct {
	ID               int64      `json:"id"`
	Exposure         string     `json:"exposure"`
	Status           string     `json:"status"` // queued, granted, cancelled
	Position         int        `json:"position,omitempty"`
	QueueLength      int        `json:"queue_length,omitempty"`
	EstimatedStartAt *time.Time `json:"estimated_start_at"`
	EstimateUnknown  string     `json:"estimate_unknown,omitempty"`
	GPUHours24h      float64    `json:"gpu_hours_24h"`
	SessionID        int64      `json:"session_id,omitempty"`
	Reason           string     `json:"reason,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// Snapshot is one of the caller's stop snapshots.
type Snapshot struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	SessionID   int64      `json:"session_id"`
	SessionSlug string     `json:"session_slug"`
	Exposure    string     `json:"exposure"`
	SizeBytes   int64      `json:"size_bytes"`
	CreatedAt   time.Time  `json:"created_at"`
	InUse       bool       `json:"in_use"`
	PruneAt     *time.Time `json:"prune_at"`
	PruneReason string     `json:"prune_reason,omitempty"`
	KeptBecause string     `json:"kept_because,omitempty"`
}

// Placement is the answer to CreateSession: a session (201), or a place on
// the waitlist (202).
type Placement struct {
	Session *Session    `json:"session,omitempty"`
	Queued  *QueueEntry `json:"queued,omitempty"`
}

// CreateSession asks for a session on exposure ("external" or
// "internal"), optionally from one of the caller's snapshots.
func (c *Client) CreateSession(ctx context.Context, exposure, pack, fromSnapshot string) (Placement, error) {
	var raw json.RawMessage
	body := map[string]string{}
	if pack != "" {
		body["pack"] = pack
	}
	if fromSnapshot != "" {
		body["from_snapshot"] = fromSnapshot
	}
	if err := c.postJSON(ctx, http.MethodPost, "/"+exposure+"/sessions", body, &raw); err != nil {
		return Placement{}, err
	}
	var probe struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Placement{}, err
	}
	if probe.Status == "queued" {
		var q QueueEntry
		err := json.Unmarshal(raw, &q)
		return Placement{Queued: &q}, err
	}
	var s Session
	err := json.Unmarshal(raw, &s)
	return Placement{Session: &s}, err
}

// Sessions lists the caller's sessions on both exposures, newest first
// (at most limit; 0 is the server's default of 50).
func (c *Client) Sessions(ctx context.Context, limit int) ([]Session, error) {
	path := "/sessions"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out []Session
	err := c.get(ctx, path, &out)
	return out, err
}

// StopSession asks to stop one of the caller's sessions on exposure; the
// answer is the session as it is then (stopping, or already ended).
func (c *Client) StopSession(ctx context.Context, exposure string, id int64) (Session, error) {
	var s Session
	err := c.postJSON(ctx, http.MethodPost, "/"+exposure+"/sessions/"+strconv.FormatInt(id, 10)+"/stop", nil, &s)
	return s, err
}

// Queue is the caller's latest waitlist request on exposure (nil when none).
func (c *Client) Queue(ctx context.Context, exposure string) (*QueueEntry, error) {
	var q *QueueEntry
	err := c.get(ctx, "/"+exposure+"/sessions/queue", &q)
	return q, err
}

// CancelQueue leaves the waitlist of exposure.
func (c *Client) CancelQueue(ctx context.Context, exposure string) (QueueEntry, error) {
	var q QueueEntry
	err := c.postJSON(ctx, http.MethodDelete, "/"+exposure+"/sessions/queue", nil, &q)
	return q, err
}

// Snapshots lists the caller's snapshots on exposure.
func (c *Client) Snapshots(ctx context.Context, exposure string) ([]Snapshot, error) {
	var out []Snapshot
	err := c.get(ctx, "/"+exposure+"/snapshots", &out)
	return out, err
}

// DeleteSnapshot deletes one of the caller's snapshots.
func (c *Client) DeleteSnapshot(ctx context.Context, exposure string, id int64) (Snapshot, error) {
	var s Snapshot
	err := c.postJSON(ctx, http.MethodDelete, "/"+exposure+"/snapshots/"+strconv.FormatInt(id, 10), nil, &s)
	return s, err
}

// DownloadSnapshot streams one of the caller's snapshots (.tar.gz) to w and
// returns the bytes written.
func (c *Client) DownloadSnapshot(ctx context.Context, exposure string, id int64, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/"+exposure+"/snapshots/"+strconv.FormatInt(id, 10)+"/download"), nil)
	if err != nil {
		return 0, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return 0, &NetworkError{Err: err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// Re-issue through do for the problem's decoding.
		return 0, c.do(req.Clone(ctx), nil)
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	return n, nil
}

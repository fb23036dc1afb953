// Package httpsessions mounts the session runtime's endpoints on the
// MedForge HTTP server:
//
//	GET  /api/v2/{external,internal}/sessions/current   the caller's active session (data null when none)
//	POST /api/v2/{external,internal}/sessions           create: 201 with the session, or 202 queued (GPU waitlist)
//	GET|DELETE /api/v2/{external,internal}/sessions/queue  my place on the waitlist; cancel it
//	POST /api/v2/{external,internal}/sessions/{id}/extend  extend a session once
//	GET  /api/v2/{external,internal}/snapshots          my snapshots, with when retention prunes them
//	DELETE /api/v2/{external,internal}/snapshots/{id}   delete one (409 while in use)
//	GET  /api/v2/{external,internal}/snapshots/{id}/download  .tar.gz (INTERNAL: admins only)
//	GET  /api/v2/admin/sessions/queue                   the waitlist and GPU-hours per user
//	GET  /api/v2/admin/snapshots/{id}/download          any snapshot as .tar.gz
//	POST /api/v2/{external,internal}/sessions/{id}/stop  stop intent: 202, idempotent
//	GET  /api/v2/sessions                               the caller's sessions, newest first, with snapshot names
//	GET  /api/v2/admin/gpus                             GPUs with state and holder
//	POST /api/v2/admin/gpus/{id}/enable|disable         take a GPU in or out of allocation
//	POST /api/v2/admin/sessions/{id}/stop               stop anyone's session
//
// INTERNAL routes need can_use_internal (the server's gate answers 403).
// It translates HTTP to sessions.Service calls and service errors to
// problem+json; it holds no state, writes no SQL and never sends internal
// error text to a client. Routes and /healthz registration happen in Mount.
package httpsessions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/sessions"
)

const tag = "sessions"

// HealthName is the /healthz subsystem of session recovery.
const HealthName = "session_recovery"

// IsolationHealthName is the /healthz subsystem of the east-west check:
// degraded while sessions could reach each other's IDE port.
const IsolationHealthName = "session_isolation"

// Mount registers every session route on srv, the runtime's metrics on its
// registry and session recovery's health on its /healthz registry (503
// degraded while Docker is unreachable or recovery keeps failing).
func Mount(srv *httpapi.Server, svc *sessions.Service) error {
	if err := svc.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("session metrics: %w", err)
	}
	srv.Health().Register(HealthName, svc.Reconciler().Health)
	if iso := svc.Isolation(); iso != nil {
		srv.Health().Register(IsolationHealthName, iso.Health)
	}
	h := &handlers{svc: svc, srv: srv}
	for _, r := range h.routes() {
		srv.Handle(r)
	}
	return nil
}

type handlers struct {
	svc *sessions.Service
	srv *httpapi.Server // for audit events
}

// CreateRequest is the body of POST .../sessions; it may be empty.
type CreateRequest struct {
	// Pack is a pack name from the allowlist; "" means "default".
	Pack string `json:"pack,omitempty"`
	// FromSnapshot is the name of one of the caller's snapshots to start
	// the workspace from (restore, or fork); "" for an empty workspace.
	FromSnapshot string `json:"from_snapshot,omitempty"`
}

// ExtendRequest is the body of POST .../sessions/{id}/extend; it may be
// empty (the most the admins allow).
type ExtendRequest struct {
	Minutes int `json:"minutes,omitempty"`
}

// AdminQueue is the admins' view of the waitlist.
type AdminQueue struct {
	Queue    []sessions.QueueEntry   `json:"queue"`
	GPUHours []sessions.UserGPUHours `json:"gpu_hours"`
}

// DisableRequest is the body of POST /admin/gpus/{id}/disable; it may be empty.
type DisableRequest struct {
	Reason string `json:"reason,omitempty"`
}

func problem(err error) error {
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		return httpapi.Problem(http.StatusNotFound, "session_not_found", "no such session")
	case errors.Is(err, sessions.ErrLimit):
		return httpapi.Problem(http.StatusConflict, "session_limit", "you already have as many active sessions as allowed; stop one first")
	case errors.Is(err, sessions.ErrNoGPU):
		return httpapi.Problem(http.StatusServiceUnavailable, "no_gpu_available", "every GPU is in use; try again later").WithHeader("Retry-After", "60")
	case errors.Is(err, sessions.ErrIsolation):
		// The reason is the operator's to act on (apply the host firewall);
		// it names no secret.
		return httpapi.Problem(http.StatusServiceUnavailable, "session_isolation",
			err.Error()+"; an admin must apply ops/network/firewall-setup.sh on the host (docs/runbook.md)").WithHeader("Retry-After", "300")
	case errors.Is(err, sessions.ErrInternalNotAllowed):
		return httpapi.Problem(http.StatusForbidden, "internal_not_allowed", "internal sessions need the can_use_internal entitlement")
	case errors.Is(err, sessions.ErrUnknownPack):
		return httpapi.Invalid(httpapi.FieldError{Field: "pack", Message: "not an available pack"})
	case errors.Is(err, sessions.ErrGPUNotFound):
		return httpapi.Problem(http.StatusNotFound, "gpu_not_found", "no such GPU")
	case errors.Is(err, sessions.ErrSnapshotNotFound):
		return httpapi.Problem(http.StatusNotFound, "snapshot_not_found", "no such snapshot")
	case errors.Is(err, sessions.ErrSnapshotExposure):
		return httpapi.Problem(http.StatusForbidden, "internal_snapshot_refused", "an internal snapshot can only start an internal session: its data must not leave the no-egress network")
	case errors.Is(err, sessions.ErrRestoreUnsupported):
		return httpapi.Problem(http.StatusConflict, "restore_unsupported",
			"this runtime restores a snapshot only into a session of the snapshot's own exposure (on Kubernetes, VolumeSnapshots restore within their namespace)")
	case errors.Is(err, sessions.ErrUnsupported):
		return httpapi.Problem(http.StatusNotImplemented, "not_supported",
			"snapshot downloads are not offered by this deployment's session runtime (on Kubernetes a snapshot is a CSI VolumeSnapshot with no host folder); start a session from the snapshot and download its files from the IDE")
	case errors.Is(err, sessions.ErrSnapshotInUse):
		return httpapi.Problem(http.StatusConflict, "snapshot_in_use", "a session, a queued request or a cloned workspace depends on this snapshot; it is kept")
	case errors.Is(err, sessions.ErrAlreadyQueued):
		return httpapi.Problem(http.StatusConflict, "already_queued", "you already have a queued session request on this exposure; cancel it first")
	case errors.Is(err, sessions.ErrNotQueued):
		return httpapi.Problem(http.StatusNotFound, "not_queued", "you have no queued session request here")
	case errors.Is(err, sessions.ErrAlreadyGranted):
		return httpapi.Problem(http.StatusConflict, "already_granted", "the request already got a GPU; stop the session instead")
	case errors.Is(err, sessions.ErrExtend):
		return httpapi.Problem(http.StatusConflict, "cannot_extend", "the session is not running, was extended already, or extensions are off")
	}
	return err // internal: the server logs it and answers a generic 500
}

func idParam(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpapi.Problem(http.StatusNotFound, "session_not_found", "no such session")
	}
	return id, nil
}

// okOrNull answers 200 with v, or 200 with data null when err is absent
// (the caller has no such thing on this exposure), or the problem for err.
func okOrNull(c *fiber.Ctx, v any, err, absent error) error {
	if errors.Is(err, absent) {
		return httpapi.OK(c, http.StatusOK, nil)
	}
	if err != nil {
		return problem(err)
	}
	return httpapi.OK(c, http.StatusOK, v)
}

func (h *handlers) routes() []httpapi.Route {
	var out []httpapi.Route
	for _, e := range []struct {
		exp  sessions.Exposure
		auth httpapi.Auth
	}{{sessions.External, httpapi.AuthUser}, {sessions.Internal, httpapi.AuthInternal}} {
		out = append(out, h.sessionRoutes(e.exp, e.auth)...)
		out = append(out, h.waitlistRoutes(e.exp, e.auth)...)
		out = append(out, h.snapshotRoutes(e.exp, e.auth)...)
	}
	out = append(out, h.historyRoute())
	return append(out, h.adminRoutes()...)
}

// sessionRoutes are the caller's session on one exposure: the current one,
// create, extend and stop.
func (h *handlers) sessionRoutes(exp sessions.Exposure, auth httpapi.Auth) []httpapi.Route {
	base := "/" + string(exp) + "/sessions"
	return []httpapi.Route{
		{Method: http.MethodGet, Path: base + "/current", Tags: []string{tag}, Auth: auth,
			Summary:     "My current " + string(exp) + " session",
			Description: "The caller's active (starting, running or stopping) session on this exposure; data is null when there is none.",
			Response:    sessions.Session{},
			Handler: func(c *fiber.Ctx) error {
				s, err := h.svc.Current(c.UserContext(), httpapi.CurrentUser(c).ID, exp)
				return okOrNull(c, s, err, sessions.ErrNotFound)
			}},
		{Method: http.MethodPost, Path: base, Tags: []string{tag}, Auth: auth,
			Summary: "Create a " + string(exp) + " session",
			Description: "Allocates one GPU and starts the IDE container (201); the session is starting and becomes running once the IDE answers. " +
				"With from_snapshot, the workspace is made from that snapshot of the caller's (404 snapshot_not_found otherwise; an internal snapshot into an external session is 403 internal_snapshot_refused). " +
				"When no GPU is free, or others are waiting, the request joins this exposure's waitlist: 202 with a queue entry (status queued, position, estimated_start_at) instead of a session. " +
				"409 session_limit at the per-user limit, 409 already_queued with a request waiting, 503 session_isolation while the east-west rule is not in force.",
			Request: CreateRequest{}, Response: sessions.Session{}, Status: http.StatusCreated,
			Also:    []httpapi.AltResponse{{Status: http.StatusAccepted, Description: "Queued: no GPU is free, or others are waiting", Response: sessions.QueueEntry{}}},
			Handler: h.create(exp)},
		{Method: http.MethodPost, Path: base + "/:id/extend", Tags: []string{tag}, Auth: auth,
			Summary:     "Extend a " + string(exp) + " session once",
			Description: "Pushes the maximum lifetime back and restarts the idle clock by minutes (at most, and by default, the admins' MEDFORGE_SESSION_MAX_EXTENSION). Once per session: 409 cannot_extend after that.",
			Request:     ExtendRequest{}, Response: sessions.Session{},
			Handler: h.extend(exp)},
		{Method: http.MethodPost, Path: base + "/:id/stop", Tags: []string{tag}, Auth: auth,
			Summary:     "Stop a " + string(exp) + " session",
			Description: "Records the intent to stop (status stopping); the container is stopped, the workspace snapshotted and the row marked stopped asynchronously. Idempotent: stopping an ended session answers 202 with it as it is.",
			Response:    sessions.Session{}, Status: http.StatusAccepted,
			Handler: h.stop(exp)},
	}
}

// create answers POST /{exposure}/sessions: a starting session (201), or a
// place on the exposure's waitlist (202).
func (h *handlers) create(exp sessions.Exposure) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req CreateRequest
		if len(c.Body()) > 0 {
			if err := httpapi.Decode(c, &req); err != nil {
				return err
			}
		}
		if len(req.FromSnapshot) > 512 {
			return httpapi.Invalid(httpapi.FieldError{Field: "from_snapshot", Message: "at most 512 characters"})
		}
		p, err := h.svc.Request(c.UserContext(), sessions.CreateRequest{UserID: httpapi.CurrentUser(c).ID, Exposure: exp, Pack: req.Pack, FromSnapshot: req.FromSnapshot})
		if err != nil {
			return problem(err)
		}
		if p.Queued != nil {
			q := p.Queued
			h.srv.Audit(c, "session.queue", "session_queue", strconv.FormatInt(q.ID, 10), fmt.Sprintf("exposure=%s pack=%s position=%d from_snapshot=%q", exp, q.Pack, q.Position, req.FromSnapshot))
			return httpapi.OK(c, http.StatusAccepted, q)
		}
		s := p.Session
		h.srv.Audit(c, "session.create", "session", strconv.FormatInt(s.ID, 10), fmt.Sprintf("exposure=%s pack=%s gpu=%d from_snapshot=%q", exp, s.Pack, s.GPUID, req.FromSnapshot))
		return httpapi.OK(c, http.StatusCreated, s)
	}
}

// extend answers POST /{exposure}/sessions/{id}/extend.
func (h *handlers) extend(exp sessions.Exposure) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		var req ExtendRequest
		if len(c.Body()) > 0 {
			if err := httpapi.Decode(c, &req); err != nil {
				return err
			}
		}
		if req.Minutes < 0 {
			return httpapi.Invalid(httpapi.FieldError{Field: "minutes", Message: "must not be negative"})
		}
		uid := httpapi.CurrentUser(c).ID
		cur, err := h.svc.Get(c.UserContext(), id, uid)
		if err != nil {
			return problem(err)
		}
		if cur.Exposure != exp {
			return problem(sessions.ErrNotFound)
		}
		s, err := h.svc.Extend(c.UserContext(), id, uid, time.Duration(req.Minutes)*time.Minute)
		if err != nil {
			return problem(err)
		}
		h.srv.Audit(c, "session.extend", "session", strconv.FormatInt(id, 10), fmt.Sprintf("minutes=%d", req.Minutes))
		return httpapi.OK(c, http.StatusOK, s)
	}
}

// stop answers POST /{exposure}/sessions/{id}/stop.
func (h *handlers) stop(exp sessions.Exposure) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		uid := httpapi.CurrentUser(c).ID
		cur, err := h.svc.Get(c.UserContext(), id, uid)
		if err != nil {
			return problem(err)
		}
		if cur.Exposure != exp {
			return problem(sessions.ErrNotFound)
		}
		s, err := h.svc.Stop(c.UserContext(), id, uid, sessions.StopUser)
		if err != nil {
			return problem(err)
		}
		if cur.Status == sessions.StatusStarting || cur.Status == sessions.StatusRunning {
			h.srv.Audit(c, "session.stop", "session", strconv.FormatInt(id, 10), "")
		}
		return httpapi.OK(c, http.StatusAccepted, s)
	}
}

// waitlistRoutes are the caller's place on one exposure's GPU waitlist.
func (h *handlers) waitlistRoutes(exp sessions.Exposure, auth httpapi.Auth) []httpapi.Route {
	base := "/" + string(exp) + "/sessions"
	return []httpapi.Route{
		{Method: http.MethodGet, Path: base + "/queue", Tags: []string{tag}, Auth: auth,
			Summary:     "My place on the " + string(exp) + " GPU waitlist",
			Description: "The caller's latest request on this exposure's waitlist: while queued its position, queue length and estimated start (null with estimate_unknown saying why); then granted with session_id, or cancelled with a reason. data is null when the caller never queued here.",
			Response:    sessions.QueueEntry{},
			Handler: func(c *fiber.Ctx) error {
				q, err := h.svc.QueueStatus(c.UserContext(), httpapi.CurrentUser(c).ID, exp)
				return okOrNull(c, q, err, sessions.ErrNotQueued)
			}},
		{Method: http.MethodDelete, Path: base + "/queue", Tags: []string{tag}, Auth: auth,
			Summary:     "Leave the " + string(exp) + " GPU waitlist",
			Description: "Cancels the caller's queued request. 404 not_queued when none is waiting; 409 already_granted when it got a GPU first (stop that session instead).",
			Response:    sessions.QueueEntry{},
			Handler: func(c *fiber.Ctx) error {
				q, err := h.svc.CancelQueued(c.UserContext(), httpapi.CurrentUser(c).ID, exp)
				if err != nil {
					return problem(err)
				}
				h.srv.Audit(c, "session.queue_cancel", "session_queue", strconv.FormatInt(q.ID, 10), "")
				return httpapi.OK(c, http.StatusOK, q)
			}},
	}
}

// snapshotRoutes are the caller's stop snapshots on one exposure.
func (h *handlers) snapshotRoutes(exp sessions.Exposure, auth httpapi.Auth) []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/" + string(exp) + "/snapshots", Tags: []string{tag}, Auth: auth,
			Summary: "My " + string(exp) + " snapshots",
			Description: "The caller's stop snapshots on this exposure, newest first, with the session, time, size, whether something depends on them (in_use), " +
				"and when retention will prune each (prune_at and prune_reason; null when the policy keeps it).",
			Response: []sessions.Snapshot{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.Snapshots(c.UserContext(), httpapi.CurrentUser(c).ID, exp)
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodDelete, Path: "/" + string(exp) + "/snapshots/:id", Tags: []string{tag}, Auth: auth,
			Summary:     "Delete one of my " + string(exp) + " snapshots",
			Description: "Destroys the snapshot. 409 snapshot_in_use while a session, a queued request or a cloned workspace depends on it; 404 for anyone else's.",
			Response:    sessions.Snapshot{},
			Handler: func(c *fiber.Ctx) error {
				uid := httpapi.CurrentUser(c).ID
				snap, err := h.ownSnapshot(c, uid, exp)
				if err != nil {
					return err
				}
				if _, err := h.svc.DeleteSnapshot(c.UserContext(), snap.ID, uid, "user"); err != nil {
					return problem(err)
				}
				h.srv.Audit(c, "snapshot.delete", "snapshot", strconv.FormatInt(snap.ID, 10), snap.Name)
				return httpapi.OK(c, http.StatusOK, snap)
			}},
		{Method: http.MethodGet, Path: "/" + string(exp) + "/snapshots/:id/download", Tags: []string{tag}, Auth: auth,
			Summary:     "Download one of my " + string(exp) + " snapshots",
			Description: "The snapshot's files as a .tar.gz stream (links kept as links). INTERNAL snapshots need an admin: their data must not leave the no-egress network (403 internal_download_refused).",
			Raw:         true, RawContentType: "application/gzip",
			Handler: func(c *fiber.Ctx) error {
				u := httpapi.CurrentUser(c)
				if exp == sessions.Internal && !u.IsAdmin() {
					return httpapi.Problem(http.StatusForbidden, "internal_download_refused", "internal snapshots can be downloaded only by an admin")
				}
				snap, err := h.ownSnapshot(c, u.ID, exp)
				if err != nil {
					return err
				}
				return h.download(c, snap.ID, u.ID)
			}},
	}
}

// historyRoute is the caller's sessions on both exposures.
func (h *handlers) historyRoute() httpapi.Route {
	return httpapi.Route{Method: http.MethodGet, Path: "/sessions", Tags: []string{tag}, Auth: httpapi.AuthUser,
		Summary:     "My sessions",
		Description: "The caller's sessions on both exposures, newest first, ended ones with the name of their stop snapshot (restoring one is an admin action).",
		Response:    []sessions.Session{},
		Query: []httpapi.Param{{Name: "before", Type: "integer", Description: "only sessions with a smaller id (paging)"},
			{Name: "limit", Type: "integer", Description: "1-200 (default 50)"}},
		Handler: func(c *fiber.Ctx) error {
			before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
			limit, _ := strconv.Atoi(c.Query("limit"))
			out, err := h.svc.List(c.UserContext(), httpapi.CurrentUser(c).ID, before, limit)
			if err != nil {
				return problem(err)
			}
			return httpapi.OK(c, http.StatusOK, out)
		}}
}

// adminRoutes are the admins' view of the waitlist, snapshots, GPUs and
// anyone's session.
func (h *handlers) adminRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Method: http.MethodGet, Path: "/admin/sessions/queue", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary:     "The GPU waitlist",
			Description: "Every queued request of both exposures in hand-off order (one queue per exposure in fair-share order: fewer GPU-hours in the last 24 h first, then arrival; a freed GPU goes to the head of the two that arrived first), and GPU-hours per user over the last 24 h.",
			Response:    AdminQueue{},
			Handler: func(c *fiber.Ctx) error {
				q, err := h.svc.Queue(c.UserContext())
				if err != nil {
					return problem(err)
				}
				hours, err := h.svc.GPUHours(c.UserContext())
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, AdminQueue{Queue: q, GPUHours: hours})
			}},
		{Method: http.MethodGet, Path: "/admin/snapshots/:id/download", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary:     "Download any snapshot",
			Description: "Any user's snapshot (INTERNAL ones included) as a .tar.gz stream; recorded in the audit log.",
			Raw:         true, RawContentType: "application/gzip",
			Handler: func(c *fiber.Ctx) error {
				id, err := strconv.ParseInt(c.Params("id"), 10, 64)
				if err != nil || id <= 0 {
					return problem(sessions.ErrSnapshotNotFound)
				}
				return h.download(c, id, 0)
			}},
		{Method: http.MethodGet, Path: "/admin/gpus", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary:     "GPUs with state and holder",
			Description: "Every GPU from the provider (nvml, or declared on hosts without NVIDIA), whether it is present and enabled, why it was disabled, and the active session holding it.",
			Response:    []sessions.GPUState{},
			Handler: func(c *fiber.Ctx) error {
				out, err := h.svc.GPUs(c.UserContext())
				if err != nil {
					return problem(err)
				}
				return httpapi.OK(c, http.StatusOK, out)
			}},
		{Method: http.MethodPost, Path: "/admin/gpus/:id/enable", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Enable a GPU", Response: sessions.GPUState{},
			Handler: func(c *fiber.Ctx) error { return h.setGPU(c, true, "") }},
		{Method: http.MethodPost, Path: "/admin/gpus/:id/disable", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary:     "Disable a GPU",
			Description: "Keeps the GPU from the next allocation; a session holding it keeps running.",
			Request:     DisableRequest{}, Response: sessions.GPUState{},
			Handler: func(c *fiber.Ctx) error {
				var req DisableRequest
				if len(c.Body()) > 0 {
					if err := httpapi.Decode(c, &req); err != nil {
						return err
					}
				}
				return h.setGPU(c, false, req.Reason)
			}},
		{Method: http.MethodPost, Path: "/admin/sessions/:id/stop", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Stop any session", Response: sessions.Session{}, Status: http.StatusAccepted,
			Handler: func(c *fiber.Ctx) error {
				id, err := idParam(c, "id")
				if err != nil {
					return err
				}
				s, err := h.svc.Stop(c.UserContext(), id, 0, sessions.StopAdmin)
				if err != nil {
					return problem(err)
				}
				h.srv.Audit(c, "session.admin_stop", "session", strconv.FormatInt(id, 10), fmt.Sprintf("owner=%d", s.UserID))
				return httpapi.OK(c, http.StatusAccepted, s)
			}},
	}
}

// ownSnapshot is the caller's snapshot named by the :id parameter on
// exposure exp; anything else is 404.
func (h *handlers) ownSnapshot(c *fiber.Ctx, uid int64, exp sessions.Exposure) (sessions.Snapshot, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return sessions.Snapshot{}, problem(sessions.ErrSnapshotNotFound)
	}
	list, err := h.svc.Snapshots(c.UserContext(), uid, exp)
	if err != nil {
		return sessions.Snapshot{}, problem(err)
	}
	for _, s := range list {
		if s.ID == id {
			return s, nil
		}
	}
	return sessions.Snapshot{}, problem(sessions.ErrSnapshotNotFound)
}

// download streams snapshot id (the owner's when uid is not 0) as .tar.gz.
// The archive is written after the handler returns, through a bounded
// buffer; a client that stops reading stops the walk.
func (h *handlers) download(c *fiber.Ctx, id, uid int64) error {
	snap, root, err := h.svc.SnapshotPath(c.UserContext(), id, uid)
	if err != nil {
		return problem(err)
	}
	h.srv.Audit(c, "snapshot.download", "snapshot", strconv.FormatInt(snap.ID, 10), fmt.Sprintf("owner=%d exposure=%s name=%s", snap.UserID, snap.Exposure, snap.Name))
	_, short, _ := sessions.SplitSnapshot(snap.Name)
	c.Set(fiber.HeaderContentType, "application/gzip")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", snap.SessionSlug+"-"+short+".tar.gz"))
	log := h.srv.Logger()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		defer cancel()
		if err := sessions.WriteTarGz(ctx, root, w); err != nil {
			log.Warn("snapshot download cut short", "snapshot", snap.ID, "err", err)
		}
		_ = w.Flush()
	})
	return nil
}

func (h *handlers) setGPU(c *fiber.Ctx, enabled bool, reason string) error {
	id, err := strconv.Atoi(c.Params("id"))
	if err != nil || id < 0 {
		return problem(sessions.ErrGPUNotFound)
	}
	g, err := h.svc.SetGPUEnabled(c.UserContext(), id, enabled, reason)
	if err != nil {
		return problem(err)
	}
	action := "gpu.disable"
	if enabled {
		action = "gpu.enable"
	}
	h.srv.Audit(c, action, "gpu", strconv.Itoa(id), reason)
	return httpapi.OK(c, http.StatusOK, g)
}

// Package httpsessions mounts the session runtime's endpoints on the
// MedForge HTTP server:
//
//	GET  /api/v2/{external,internal}/sessions/current   the caller's active session (data null when none)
//	POST /api/v2/{external,internal}/sessions           create: 201 with id, slug and status
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
	"errors"
	"fmt"
	"net/http"
	"strconv"

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

func (h *handlers) routes() []httpapi.Route {
	var out []httpapi.Route
	for _, e := range []struct {
		exp  sessions.Exposure
		auth httpapi.Auth
	}{{sessions.External, httpapi.AuthUser}, {sessions.Internal, httpapi.AuthInternal}} {
		exp := e.exp
		base := "/" + string(exp) + "/sessions"
		out = append(out,
			httpapi.Route{Method: http.MethodGet, Path: base + "/current", Tags: []string{tag}, Auth: e.auth,
				Summary:     "My current " + string(exp) + " session",
				Description: "The caller's active (starting, running or stopping) session on this exposure; data is null when there is none.",
				Response:    sessions.Session{},
				Handler: func(c *fiber.Ctx) error {
					s, err := h.svc.Current(c.UserContext(), httpapi.CurrentUser(c).ID, exp)
					if errors.Is(err, sessions.ErrNotFound) {
						return httpapi.OK(c, http.StatusOK, nil)
					}
					if err != nil {
						return problem(err)
					}
					return httpapi.OK(c, http.StatusOK, s)
				}},
			httpapi.Route{Method: http.MethodPost, Path: base, Tags: []string{tag}, Auth: e.auth,
				Summary: "Create a " + string(exp) + " session",
				Description: "Allocates one GPU and starts the IDE container; the session is starting and becomes running once the IDE answers. " +
					"409 session_limit at the per-user limit, 503 no_gpu_available when every GPU is held, 503 session_isolation while the east-west rule is not in force.",
				Request: CreateRequest{}, Response: sessions.Session{}, Status: http.StatusCreated,
				Handler: func(c *fiber.Ctx) error {
					var req CreateRequest
					if len(c.Body()) > 0 {
						if err := httpapi.Decode(c, &req); err != nil {
							return err
						}
					}
					s, err := h.svc.Create(c.UserContext(), sessions.CreateRequest{UserID: httpapi.CurrentUser(c).ID, Exposure: exp, Pack: req.Pack})
					if err != nil {
						return problem(err)
					}
					h.srv.Audit(c, "session.create", "session", strconv.FormatInt(s.ID, 10), fmt.Sprintf("exposure=%s pack=%s gpu=%d", exp, s.Pack, s.GPUID))
					return httpapi.OK(c, http.StatusCreated, s)
				}},
			httpapi.Route{Method: http.MethodPost, Path: base + "/:id/stop", Tags: []string{tag}, Auth: e.auth,
				Summary:     "Stop a " + string(exp) + " session",
				Description: "Records the intent to stop (status stopping); the container is stopped, the workspace snapshotted and the row marked stopped asynchronously. Idempotent: stopping an ended session answers 202 with it as it is.",
				Response:    sessions.Session{}, Status: http.StatusAccepted,
				Handler: func(c *fiber.Ctx) error {
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
				}},
		)
	}
	out = append(out,
		httpapi.Route{Method: http.MethodGet, Path: "/sessions", Tags: []string{tag}, Auth: httpapi.AuthUser,
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
			}},
		httpapi.Route{Method: http.MethodGet, Path: "/admin/gpus", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
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
		httpapi.Route{Method: http.MethodPost, Path: "/admin/gpus/:id/enable", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
			Summary: "Enable a GPU", Response: sessions.GPUState{},
			Handler: func(c *fiber.Ctx) error { return h.setGPU(c, true, "") }},
		httpapi.Route{Method: http.MethodPost, Path: "/admin/gpus/:id/disable", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
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
		httpapi.Route{Method: http.MethodPost, Path: "/admin/sessions/:id/stop", Tags: []string{tag, "admin"}, Auth: httpapi.AuthAdmin,
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
	)
	return out
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

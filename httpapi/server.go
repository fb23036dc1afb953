package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store"
)

// Prefix is the path prefix of every versioned API endpoint.
const Prefix = "/api/v2"

// BodySlack is what the server admits beyond Config.BodyLimit (the largest
// uploaded file) for multipart framing and the other form fields, so a file
// of exactly the limit can be uploaded and a larger one is refused by the
// handler with a message that names the limit.
const BodySlack = 1 << 20

// Deps are what a Server is built from. Config, Store and Identity are
// required.
type Deps struct {
	Config   config.Config
	Store    store.Store
	Identity *identity.Service
	// Logger receives access and error logs (slog JSON to stdout when nil).
	Logger *slog.Logger
	// Health is the health registry; a new one with a database check is
	// made when nil.
	Health *Health
	// Registry collects /metrics; a new one when nil.
	Registry *prometheus.Registry
}

// Server is the MedForge HTTP server. Capabilities add endpoints with Handle
// before Serve; the accessors give handlers the shared dependencies.
type Server struct {
	app     *fiber.App
	cfg     config.Config
	id      *identity.Service
	log     *slog.Logger
	health  *Health
	reg     *prometheus.Registry
	metrics *httpMetrics
	origins *originPolicy
	// cookieName is the identity cookie's name (SessionCookieName).
	cookieName string
	proxies    []*net.IPNet
	uploads    uploadLimits

	mu     sync.Mutex
	routes []Route
	doc    []byte // cached OpenAPI JSON; nil after a route is added
}

// New builds a Server with the core middleware, /healthz, /metrics and
// /api/v2/openapi.json. Identity's endpoints are identity/httpidentity's
// and identity/httpadmin's, mounted like any capability's.
func New(d Deps) (*Server, error) {
	if d.Store == nil || d.Identity == nil {
		return nil, errors.New("httpapi: Store and Identity are required")
	}
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s := &Server{cfg: d.Config, id: d.Identity, log: d.Logger, health: d.Health, reg: d.Registry}
	if s.log == nil {
		s.log = NewLogger(d.Config.LogLevel)
	}
	if s.health == nil {
		s.health = NewHealth()
		s.health.Register("database", func(ctx context.Context) error { return d.Store.Ping(ctx) })
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var err error
	if s.metrics, err = newHTTPMetrics(s.reg); err != nil {
		return nil, err
	}
	if err = registerIdentityMetrics(s.reg, d.Identity); err != nil {
		return nil, err
	}
	if s.proxies, err = parseProxies(d.Config.TrustedProxies); err != nil {
		return nil, err
	}
	s.origins = newOriginPolicy(d.Config)
	s.uploads = newUploadLimits(d.Config.UploadsPerUser, d.Config.UploadsPerIP, d.Config.UploadWindow)
	s.cookieName = SessionCookieName(d.Config.CookieSecure)
	s.app = fiber.New(fiber.Config{
		AppName:      "medforge",
		ErrorHandler: s.errorHandler,
		BodyLimit:    d.Config.BodyLimit + BodySlack,
		// ReadTimeout is the headers' deadline (from a request's first
		// byte; on a new connection from accept); HeaderReceived below
		// moves it to the body's once they are in. A slow-headers
		// (slowloris) client is cut off after HeaderTimeout, an idle
		// keep-alive one after IdleTimeout.
		ReadTimeout:  d.Config.HeaderTimeout,
		WriteTimeout: d.Config.WriteTimeout,
		IdleTimeout:  d.Config.IdleTimeout,
		// Bodies are streamed: nothing announced by Content-Length is
		// allocated before limitBody and the handler ask for it, and
		// multipart forms are parsed only by the upload handlers that take
		// them (after authentication), never before any handler runs.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		// Handlers may keep strings from the request past the handler
		// (goroutines, caches); Immutable makes that safe.
		Immutable: true,
		JSONEncoder: func(v any) ([]byte, error) {
			return jsonMarshal(v)
		},
	})
	bodyTimeout := d.Config.ReadTimeout
	s.app.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
	}
	s.app.Use(s.requestID, s.observe, s.recover, s.limitBody, s.deadline, s.cors)
	s.app.Use(s.authenticate, s.checkOrigin)
	s.app.Use(Prefix+"/admin", s.gate(AuthAdmin, Prefix+"/admin/*"))
	s.app.Use(Prefix+"/internal", s.gate(AuthInternal, Prefix+"/internal/*"))
	s.mountCore()
	return s, nil
}

// App is the underlying Fiber app. Prefer Handle for endpoints: routes added
// directly are missing from the OpenAPI document and fail its test.
func (s *Server) App() *fiber.App { return s.app }

// Config is the validated configuration the server was built with.
func (s *Server) Config() config.Config { return s.cfg }

// Identity is the identity service (users, sessions, tokens).
func (s *Server) Identity() *identity.Service { return s.id }

// Logger is the server's structured logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Health is the health registry behind /healthz; subsystems register their
// checks or reporters here.
func (s *Server) Health() *Health { return s.health }

// Metrics is the Prometheus registerer behind /metrics.
func (s *Server) Metrics() prometheus.Registerer { return s.reg }

// Serve answers on ln until ctx ends, then shuts down gracefully, waiting
// up to the configured shutdown timeout for in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc
	return nil
}

// ListenAndServe binds the configured address and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (MEDFORGE_LISTEN): %w", s.cfg.Listen, err)
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "domain", s.cfg.Domain)
	return s.Serve(ctx, ln)
}

// deadline gives the handler's context the configured request timeout.
func (s *Server) deadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// NewLogger returns a JSON slog logger on stdout at level.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: l}))
}

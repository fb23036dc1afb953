package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/identity"
)

var stdout = os.Stdout

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

// CookieName is the identity (login) cookie's name on plain-HTTP local
// runs (MEDFORGE_COOKIE_SECURE false), where browsers refuse the __Host-
// prefix. It is host-only there too; see docs/identity.md for what that
// fallback leaves open.
const CookieName = "medforge_session"

// SecureCookieName is the identity cookie's name over HTTPS. Browsers
// accept a __Host- cookie only with Secure, Path=/ and no Domain, so it
// belongs to the one platform host that set it: no other host, a session
// host above all, can set, overwrite or receive it.
const SecureCookieName = "__Host-medforge_session"

// SessionCookieName is the identity cookie's name: SecureCookieName when
// the cookie is Secure, else CookieName.
func SessionCookieName(secure bool) string {
	if secure {
		return SecureCookieName
	}
	return CookieName
}

// CookieValues is every value the request carries for the cookie name, in
// order: a browser sends one per stored cookie of that name whose domain
// and path match, so more than one means another host or path planted one.
func CookieValues(c *fiber.Ctx, name string) []string {
	var out []string
	c.Request().Header.VisitAllCookie(func(k, v []byte) {
		if string(k) == name {
			out = append(out, string(v))
		}
	})
	return out
}

// identityCookie is the request's identity cookie value, or "" when it
// carries none or more than one: a second cookie of the name can only have
// been planted by another host (on plain-HTTP runs, where the name has no
// __Host- prefix), and guessing which one is ours would let the planter
// choose who the caller is.
func (s *Server) identityCookie(c *fiber.Ctx) string {
	v := CookieValues(c, s.cookieName)
	if len(v) != 1 {
		return ""
	}
	return v[0]
}

const (
	localRequestID = "medforge.request_id"
	localRoute     = "medforge.route"
	localPrincipal = "medforge.principal"
	localQuiet     = "medforge.quiet"
)

func newRequestID() string { return uuid.NewString() }

// saneRequestID accepts 1-64 characters of [A-Za-z0-9._-].
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// RequestID is the id of the request c (a sane incoming X-Request-ID, else a
// new UUID); it is echoed in the response header and every log line.
func RequestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(localRequestID).(string); ok {
		return v
	}
	return ""
}

func (s *Server) requestID(c *fiber.Ctx) error {
	rid := c.Get(HeaderRequestID)
	if !saneRequestID(rid) {
		rid = newRequestID()
	}
	c.Locals(localRequestID, rid)
	c.Set(HeaderRequestID, rid)
	return c.Next()
}

// observe runs the rest of the chain, turns its error into the response
// through the ErrorHandler (so the final status is known), then logs and
// counts the request.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(http.StatusInternalServerError)
		}
	}
	dur := time.Since(start)
	status := c.Response().StatusCode()
	route, _ := c.Locals(localRoute).(string)
	if route == "" {
		route = "unmatched"
	}
	method := c.Method()
	s.metrics.observe(method, route, status, dur)
	if q, _ := c.Locals(localQuiet).(bool); q && status < http.StatusInternalServerError {
		return nil
	}
	attrs := []any{
		"request_id", RequestID(c), "method", method, "path", c.Path(), "route", route,
		"status", status, "duration_ms", float64(dur.Microseconds()) / 1000, "bytes", len(c.Response().Body()),
		"ip", s.ClientIP(c),
	}
	if p := CurrentPrincipal(c); p != nil {
		attrs = append(attrs, "user_id", p.User.ID)
	}
	s.log.InfoContext(c.UserContext(), "http request", attrs...)
	return nil
}

func (s *Server) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "request_id", RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = Problem(http.StatusInternalServerError, "internal", "internal error").WithCause(fmt.Errorf("panic: %v", r))
		}
	}()
	return c.Next()
}

// CurrentPrincipal is the authenticated caller of c, or nil when anonymous.
func CurrentPrincipal(c *fiber.Ctx) *identity.Principal {
	p, _ := c.Locals(localPrincipal).(*identity.Principal)
	return p
}

// CurrentUser is the authenticated user of c, or nil when anonymous. On a
// route registered with Auth other than AuthPublic it is never nil.
func CurrentUser(c *fiber.Ctx) *identity.User {
	if p := CurrentPrincipal(c); p != nil {
		return &p.User
	}
	return nil
}

// authenticate resolves the caller from a Bearer token or the session
// cookie. A bad Bearer token is a 401 at once; a bad cookie is anonymous.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Problem(http.StatusUnauthorized, "unauthenticated", "use Authorization: Bearer <token>")
		}
		p, err := s.id.AuthenticateToken(ctx, strings.TrimSpace(tok))
		if err != nil {
			return err
		}
		c.Locals(localPrincipal, &p)
		return c.Next()
	}
	if tok := s.identityCookie(c); tok != "" {
		p, err := s.id.AuthenticateCookie(ctx, tok)
		switch {
		case err == nil:
			c.Locals(localPrincipal, &p)
		case errors.Is(err, identity.ErrUnauthenticated):
		default:
			return err
		}
	}
	return c.Next()
}

// Auth is the access level a route requires.
type Auth int

// Access levels.
const (
	// AuthPublic: anyone.
	AuthPublic Auth = iota
	// AuthUser: any signed-in user (cookie or Bearer token); 401 otherwise.
	AuthUser
	// AuthAdmin: admins; 401 anonymous, 403 other users.
	AuthAdmin
	// AuthInternal: users with can_use_internal; 401 anonymous, 403 others.
	AuthInternal
)

func (a Auth) String() string {
	return [...]string{"public", "user", "admin", "internal"}[a]
}

// allow checks p against a; nil means allowed.
func (a Auth) allow(p *identity.Principal) error {
	if a == AuthPublic {
		return nil
	}
	if p == nil {
		return Unauthenticated()
	}
	switch a {
	case AuthAdmin:
		if !p.User.IsAdmin() {
			return Forbidden("admin_required", "this endpoint is for administrators")
		}
	case AuthInternal:
		if !p.User.CanUseInternal {
			return Forbidden("internal_access_required", "your account is not entitled to the internal surface")
		}
	}
	return nil
}

// gate enforces a on every path under a prefix, whatever the route says.
// Refused requests are labelled label in metrics and logs.
func (s *Server) gate(a Auth, label string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := a.allow(CurrentPrincipal(c)); err != nil {
			c.Locals(localRoute, label)
			return err
		}
		return c.Next()
	}
}

// originPolicy lists the origins allowed to send cookie-authenticated
// state-changing requests: MedForge's own web and API hosts (never the
// session hosts, which run user code) plus configured extras.
type originPolicy struct {
	hosts map[string]bool // host without port
	extra map[string]bool // full origins
	local bool
}

func newOriginPolicy(cfg config.Config) *originPolicy {
	p := &originPolicy{hosts: map[string]bool{}, extra: map[string]bool{}, local: cfg.Local()}
	for _, h := range []string{"medforge.", "api.medforge.", "external.medforge.", "internal.medforge."} {
		p.hosts[h+cfg.Domain] = true
	}
	if p.local {
		p.hosts["127.0.0.1"], p.hosts["localhost"], p.hosts["[::1]"] = true, true, true
	}
	for _, o := range cfg.ExtraOrigins {
		p.extra[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return p
}

// Allowed reports whether origin (scheme://host[:port]) may make
// cookie-authenticated state-changing requests. https is required except on
// local plain-HTTP runs; the port is only free on local runs.
func (p *originPolicy) Allowed(origin string) bool {
	origin = strings.ToLower(origin)
	if p.extra[origin] {
		return true
	}
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok || strings.ContainsAny(rest, "/@?#") || rest == "" {
		return false
	}
	if scheme != "https" && !(scheme == "http" && p.local) {
		return false
	}
	host := rest
	if h, port, err := net.SplitHostPort(rest); err == nil {
		if _, perr := strconv.Atoi(port); perr != nil {
			return false
		}
		if !p.local && !(scheme == "https" && port == "443") {
			return false
		}
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return p.hosts[host]
}

// cors lets MedForge's own pages on sibling hosts (medforge.<domain> calling
// api.medforge.<domain>) use the API with credentials, and answers their
// preflight requests. Other origins get no CORS headers, so browsers keep
// them from reading responses.
func (s *Server) cors(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || !s.origins.Allowed(origin) {
		return c.Next()
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
	c.Set(fiber.HeaderAccessControlExposeHeaders, HeaderRequestID+", Retry-After")
	c.Vary(fiber.HeaderOrigin)
	if c.Method() == http.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != "" {
		c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, PUT, PATCH, DELETE")
		c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type, Authorization, X-Request-ID")
		c.Set(fiber.HeaderAccessControlMaxAge, "600")
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Next()
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkOrigin refuses state-changing requests from foreign origins unless
// they authenticate with a Bearer token (which a browser never attaches on
// its own). Requests without Origin fall back to Referer; with neither they
// come from a non-browser client and pass.
func (s *Server) checkOrigin(c *fiber.Ctx) error {
	if !stateChanging(c.Method()) {
		return c.Next()
	}
	if p := CurrentPrincipal(c); p != nil && p.Method == identity.AuthToken {
		return c.Next()
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		if ref := c.Get(fiber.HeaderReferer); ref != "" {
			if scheme, rest, ok := strings.Cut(ref, "://"); ok {
				host, _, _ := strings.Cut(rest, "/")
				origin = scheme + "://" + host
			} else {
				origin = "null"
			}
		}
	}
	if origin != "" && !s.origins.Allowed(origin) {
		return Forbidden("origin_not_allowed", "this request must come from a MedForge page")
	}
	return c.Next()
}

func parseProxies(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range list {
		if !strings.Contains(p, "/") {
			if ip := net.ParseIP(p); ip != nil && ip.To4() != nil {
				p += "/32"
			} else {
				p += "/128"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("MEDFORGE_TRUSTED_PROXIES: %q: %w", p, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *Server) trusted(ip net.IP) bool {
	for _, n := range s.proxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the client's IP: the TCP peer, or, when the peer is a trusted
// proxy, the right-most X-Forwarded-For entry that is not a trusted proxy.
func (s *Server) ClientIP(c *fiber.Ctx) string {
	peer := c.Context().RemoteIP()
	if len(s.proxies) == 0 || !s.trusted(peer) {
		return peer.String()
	}
	parts := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(parts[i]))
		if ip == nil {
			break
		}
		if !s.trusted(ip) {
			return ip.String()
		}
	}
	return peer.String()
}

// SessionCookie is the identity cookie carrying value until expires (an
// empty value and a past time clear it): HttpOnly, SameSite=Lax, Secure
// unless the run is local, and host-only (no Domain), so the platform host
// that set it is the only one that receives it; named with the __Host-
// prefix over HTTPS (SessionCookieName), so no other host can set it.
func (s *Server) SessionCookie(value string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{
		Name: s.cookieName, Value: value, Path: "/",
		Expires: expires, HTTPOnly: true, Secure: s.cfg.CookieSecure, SameSite: fiber.CookieSameSiteLaxMode,
	}
}

// IdentityCookies is every identity cookie value the request carries (see
// identityCookie for why there may be more than one).
func (s *Server) IdentityCookies(c *fiber.Ctx) []string { return CookieValues(c, s.cookieName) }

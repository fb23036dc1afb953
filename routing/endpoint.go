package routing

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/sessions"
)

// ProxyPath is the session-proxy endpoint's path under /api/v2.
const ProxyPath = "/auth/session-proxy"

// HeaderUpstream carries the session's IDE address on a 200.
const HeaderUpstream = "X-Upstream"

// Decision is the session-proxy's answer to one request.
type Decision struct {
	// Status is 200, 401, 403 or 404.
	Status int
	// Upstream is set only when Status is 200.
	Upstream string
	// Code is the problem code of a refusal.
	Code string
	// Route is the matched route (nil for 401 and 404).
	Route *Route
}

// Decide answers a request for host by principal p (nil when anonymous)
// from memory. Only a cookie principal counts: API tokens are for the API,
// and Caddy does not forward Authorization to this endpoint. Order: 401
// anonymous; 404 a host that is not a session host of domain, an unknown
// or not running session, or an exposure mismatch; 403 an internal host
// for a user without can_use_internal, or a user who is neither owner nor
// admin; 200 with the upstream.
func (t *Table) Decide(host, domain string, p *identity.Principal) Decision {
	if p == nil || p.Method != identity.AuthCookie {
		return Decision{Status: http.StatusUnauthorized, Code: "unauthenticated"}
	}
	sh, ok := ParseHost(host, domain)
	if !ok {
		return Decision{Status: http.StatusNotFound, Code: "not_found"}
	}
	r, ok := t.Lookup(sh.Slug)
	if !ok || r.Exposure != sh.Exposure || r.Upstream == "" {
		return Decision{Status: http.StatusNotFound, Code: "not_found"}
	}
	if sh.Exposure == sessions.Internal && !p.User.CanUseInternal {
		return Decision{Status: http.StatusForbidden, Code: "internal_access_required", Route: r}
	}
	if r.UserID != p.User.ID && !p.User.IsAdmin() {
		return Decision{Status: http.StatusForbidden, Code: "not_session_owner", Route: r}
	}
	return Decision{Status: http.StatusOK, Upstream: r.Upstream, Route: r}
}

var details = map[string]string{
	"unauthenticated":          "sign in to open this session",
	"not_found":                "session not found",
	"internal_access_required": "your account is not entitled to internal sessions",
	"not_session_owner":        "this session belongs to another user",
}

// Mount registers GET /api/v2/auth/session-proxy on s. The Host header
// (which Caddy's forward_auth keeps from the original request) names the
// session; X-Forwarded-Host is ignored.
func (t *Table) Mount(s *httpapi.Server) {
	domain := s.Config().Domain
	var counters map[int]func()
	if t.metrics != nil {
		counters = map[int]func(){}
		for _, st := range []int{200, 401, 403, 404} {
			c := t.metrics.decisions.WithLabelValues(http.StatusText(st))
			counters[st] = c.Inc
		}
	}
	s.Handle(httpapi.Route{
		Method: http.MethodGet, Path: ProxyPath, Tags: []string{"auth"},
		Summary: "Authorize a request to a session host (Caddy forward_auth)",
		Description: "Caddy calls this for every request to s-<slug>.<external|internal>.medforge.<domain>, keeping the original Host and cookie. " +
			"200 with X-Upstream: <address>:8080 for the owner (or an admin) of a running session; 401 without a valid session cookie; " +
			"403 for another user, or an internal host without can_use_internal; 404 for an unknown or not running session or an exposure mismatch. " +
			"X-Upstream is never set on anything but 200. Answered from memory.",
		Raw: true, RawContentType: "text/plain",
		// Called for every IDE request: counted in /metrics, not
		// access-logged (Caddy's access log records the requests).
		Quiet: true,
		Handler: func(c *fiber.Ctx) error {
			d := t.Decide(string(c.Request().Host()), domain, httpapi.CurrentPrincipal(c))
			if counters != nil {
				counters[d.Status]()
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			if d.Status != http.StatusOK {
				return httpapi.Problem(d.Status, d.Code, details[d.Code])
			}
			d.Route.mark()
			c.Set(HeaderUpstream, d.Upstream)
			// No body: Caddy's forward_auth closes a 2xx body unread, and an
			// unread body costs the keep-alive connection to the API.
			c.Status(http.StatusOK)
			return nil
		},
	})
}

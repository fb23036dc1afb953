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
	// Status is 200, 401, 403 or 404; or 302 (a browser sent to the
	// handshake, or back from it) from the endpoint's handler.
	Status int
	// Upstream is set only when Status is 200.
	Upstream string
	// Location is set only when Status is 302.
	Location string
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
	"handshake_failed":         "this session link is no longer valid; open the session again from MedForge",
	"bad_handshake":            "host must be a session host, state a handshake state",
}

// Mount registers the session-proxy endpoint, GET /api/v2/auth/session-proxy
// (Caddy's forward_auth target on session hosts), and the handshake that
// gives a browser its per-session credential, GET
// /api/v2/auth/session-handshake (on the platform host). The Host header
// (which Caddy's forward_auth keeps from the original request) names the
// session; X-Forwarded-Host is ignored. docs/identity.md describes the
// handshake.
func (t *Table) Mount(s *httpapi.Server) {
	cfg := s.Config()
	h := &hostAuth{t: t, id: s.Identity(), domain: cfg.Domain, secure: cfg.CookieSecure, sig: t.sig, ttl: t.opt.CredentialTTL,
		ideCookie: IDECookieName(cfg.CookieSecure), stateCookie: StateCookieName(cfg.CookieSecure)}
	var counters map[int]func()
	if t.metrics != nil {
		counters = map[int]func(){}
		for _, st := range []int{200, 302, 401, 403, 404} {
			c := t.metrics.decisions.WithLabelValues(http.StatusText(st))
			counters[st] = c.Inc
		}
	}
	s.Handle(httpapi.Route{
		Method: http.MethodGet, Path: ProxyPath, Tags: []string{"auth"},
		Summary: "Authorize a request to a session host (Caddy forward_auth)",
		Description: "Caddy calls this for every request to s-<slug>.<external|internal>.medforge.<domain>, keeping the original Host, cookies and X-Forwarded-Uri. " +
			"The caller is the session host's own credential (cookie " + IDECookieName(true) + ", or " + IDECookieName(false) + " on plain-HTTP runs), else an identity cookie sent explicitly by an API client. " +
			"200 with X-Upstream: <address>:8080 for the owner (or an admin) of a running session; 401 without a credential; " +
			"302 to the platform host's session handshake instead of 401 for a browser navigation; " +
			"403 for another user, or an internal host without can_use_internal; 404 for an unknown or not running session or an exposure mismatch. " +
			"On " + HandshakePath + " it completes the handshake: 302 back to the original path with the credential set, or 403 handshake_failed. " +
			"X-Upstream is never set on anything but 200. Answered from memory.",
		Raw: true, RawContentType: "text/plain",
		// Called for every IDE request: counted in /metrics, not
		// access-logged (Caddy's access log records the requests).
		Quiet: true,
		Handler: func(c *fiber.Ctx) error {
			d, err := h.decide(c)
			if err != nil {
				return err
			}
			if counters != nil {
				if inc := counters[d.Status]; inc != nil {
					inc()
				}
			}
			c.Set(fiber.HeaderCacheControl, "no-store")
			switch d.Status {
			case http.StatusOK:
			case http.StatusFound:
				c.Set(fiber.HeaderLocation, d.Location)
				return c.SendStatus(http.StatusFound)
			default:
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
	s.Handle(httpapi.Route{
		Method: http.MethodGet, Path: HandshakeEndpoint, Tags: []string{"auth"},
		Summary: "Give the browser a session host's credential (redirect handshake)",
		Description: "A browser without a session host's credential is sent here by the session proxy, on the platform host, where its identity cookie is. " +
			"Signed out: 303 to /login?next=<this URL>. Allowed (the owner, or an admin; can_use_internal on internal hosts): 302 to the session host's " + HandshakePath +
			" with a one-use code valid for 60 s, bound to the user, the login, the session, the host and the state cookie the session host set. " +
			"Otherwise the session proxy's 403 or 404.",
		Query: []httpapi.Param{
			{Name: "host", Required: true, Description: "the session host, s-<slug>.<external|internal>.medforge.<domain>[:port]"},
			{Name: "path", Description: "where to go back to on the session host (a path; anything else is /)"},
			{Name: "state", Required: true, Description: "the session host's state cookie value"},
		},
		Raw: true, RawContentType: "text/plain",
		Handler: h.handshake,
	})
}

package routing

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
)

// HandshakeEndpoint is the platform host's handshake endpoint under /api/v2.
const HandshakeEndpoint = "/auth/session-handshake"

// HandshakePath is the path on a session host where a browser brings its
// one-use code back; the session proxy answers it (the IDE never sees it).
const HandshakePath = "/.medforge/handshake"

// codeTTL is how long a handshake code is valid: one redirect.
const codeTTL = 60 * time.Second

// maxCredentialCookies bounds how many credential cookies one request may
// make the endpoint verify (others are planted by sibling hosts).
const maxCredentialCookies = 4

// IDECookieName is the session host's credential cookie: __Host- over
// HTTPS, so that only that session host can set it.
func IDECookieName(secure bool) string {
	if secure {
		return "__Host-medforge_ide"
	}
	return "medforge_ide"
}

// StateCookieName is the session host's handshake state cookie.
func StateCookieName(secure bool) string {
	if secure {
		return "__Host-medforge_ide_state"
	}
	return "medforge_ide_state"
}

// hostAuth authenticates requests to session hosts and runs the handshake.
type hostAuth struct {
	t           *Table
	id          *identity.Service
	sig         *signer
	domain      string
	secure      bool
	ttl         time.Duration
	ideCookie   string
	stateCookie string
}

func (h *hostAuth) scheme() string {
	if h.secure {
		return "https"
	}
	return "http"
}

// decide answers one forward_auth request: the handshake's return on
// HandshakePath; else the session host's credential; else an identity
// cookie a client that is not a browser sent explicitly; else, for a
// browser navigation, a redirect to the handshake, and 401 for anything
// else.
func (h *hostAuth) decide(c *fiber.Ctx) (Decision, error) {
	host := string(c.Request().Host())
	_, isSession := ParseHost(host, h.domain)
	uri := c.Get("X-Forwarded-Uri")
	if isSession {
		if p, _, _ := strings.Cut(uri, "?"); p == HandshakePath {
			return h.callback(c, host, uri)
		}
	}
	d, ok, err := h.byCredential(c, host)
	if err != nil || ok {
		return d, err
	}
	// An identity cookie counts only from a client that is not a browser
	// (browsers send Sec-Fetch-Mode on every request): a browser never
	// carries the host-only identity cookie to a session host, so one that
	// arrives from a browser was planted there by the IDE.
	if p := httpapi.CurrentPrincipal(c); p != nil && p.Method == identity.AuthCookie && c.Get("Sec-Fetch-Mode") == "" {
		return h.t.Decide(host, h.domain, p), nil
	}
	if isSession && navigation(c) {
		return h.toHandshake(c, host, uri), nil
	}
	return Decision{Status: http.StatusUnauthorized, Code: "unauthenticated"}, nil
}

// byCredential decides by the session host's credential cookie; ok is false
// when no value is valid for this host (none, forged, expired, another
// host's, or its login ended).
func (h *hostAuth) byCredential(c *fiber.Ctx, host string) (Decision, bool, error) {
	vals := httpapi.CookieValues(c, h.ideCookie)
	if len(vals) > maxCredentialCookies {
		vals = vals[:maxCredentialCookies]
	}
	now := time.Now()
	for _, v := range vals {
		cl, err := h.sig.parse(v, kindIDE, now)
		if err != nil || cl.Host != strings.ToLower(host) {
			continue
		}
		p, err := h.id.AuthenticateLogin(c.UserContext(), cl.Login)
		if errors.Is(err, identity.ErrUnauthenticated) || err == nil && p.User.ID != cl.User {
			continue // the login ended: so did the credential
		} else if err != nil {
			return Decision{}, false, err
		}
		d := h.t.Decide(host, h.domain, &p)
		if d.Route != nil && d.Route.ID != cl.Session {
			// The credential was for an earlier session on this host.
			return Decision{Status: http.StatusNotFound, Code: "not_found"}, true, nil
		}
		return d, true, nil
	}
	return Decision{}, false, nil
}

// navigation reports whether the request is a browser loading a page (a
// top-level GET that wants HTML), which may be redirected to sign in;
// scripts and API clients get 401 instead.
func navigation(c *fiber.Ctx) bool {
	m := c.Get("X-Forwarded-Method")
	if m != "" && m != http.MethodGet && m != http.MethodHead {
		return false
	}
	if mode := c.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

// toHandshake sends a browser to the platform host's handshake with a fresh
// state cookie on the session host.
func (h *hostAuth) toHandshake(c *fiber.Ctx, host, uri string) Decision {
	state := randomToken()
	c.Cookie(&fiber.Cookie{Name: h.stateCookie, Value: state, Path: "/", MaxAge: 300,
		HTTPOnly: true, Secure: h.secure, SameSite: fiber.CookieSameSiteLaxMode})
	port := ""
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = ":" + p
	}
	q := url.Values{"host": {host}, "path": {safePath(uri)}, "state": {state}}
	return Decision{Status: http.StatusFound,
		Location: h.scheme() + "://medforge." + h.domain + port + "/api/v2" + HandshakeEndpoint + "?" + q.Encode()}
}

// handshake is the platform host's side: it checks who the browser is and
// whether it may open the session, and sends it back with a one-use code.
func (h *hostAuth) handshake(c *fiber.Ctx) error {
	host, state := c.Query("host"), c.Query("state")
	if _, ok := ParseHost(host, h.domain); !ok || !validState(state) {
		return httpapi.Problem(http.StatusBadRequest, "bad_handshake", details["bad_handshake"])
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	p := httpapi.CurrentPrincipal(c)
	if p == nil || p.Method != identity.AuthCookie {
		c.Set(fiber.HeaderLocation, "/login?next="+url.QueryEscape(c.OriginalURL()))
		return c.SendStatus(http.StatusSeeOther)
	}
	d := h.t.Decide(host, h.domain, p)
	if d.Status != http.StatusOK {
		return httpapi.Problem(d.Status, d.Code, details[d.Code])
	}
	code := h.sig.sign(claims{Kind: kindCode, User: p.User.ID, Login: p.SessionID, Session: d.Route.ID,
		Host: strings.ToLower(host), Expires: time.Now().Add(codeTTL).Unix(),
		Nonce: randomToken(), State: state, Path: safePath(c.Query("path"))})
	c.Set(fiber.HeaderLocation, h.scheme()+"://"+host+HandshakePath+"?code="+url.QueryEscape(code))
	return c.SendStatus(http.StatusFound)
}

// callback is the session host's side: a valid, unused code for this host,
// matching this browser's state cookie, of a login that still holds and a
// user who may still open the session, becomes the credential cookie.
func (h *hostAuth) callback(c *fiber.Ctx, host, uri string) (Decision, error) {
	fail := Decision{Status: http.StatusForbidden, Code: "handshake_failed"}
	_, rawQuery, _ := strings.Cut(uri, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fail, nil
	}
	now := time.Now()
	cl, err := h.sig.parse(q.Get("code"), kindCode, now)
	if err != nil || cl.Host != strings.ToLower(host) {
		return fail, nil
	}
	stateOK := false
	for _, v := range httpapi.CookieValues(c, h.stateCookie) {
		stateOK = stateOK || v == cl.State
	}
	if !stateOK || !h.sig.use(cl, now) {
		return fail, nil
	}
	p, err := h.id.AuthenticateLogin(c.UserContext(), cl.Login)
	if errors.Is(err, identity.ErrUnauthenticated) || err == nil && p.User.ID != cl.User {
		return fail, nil
	} else if err != nil {
		return Decision{}, err
	}
	d := h.t.Decide(host, h.domain, &p)
	if d.Status != http.StatusOK {
		return d, nil
	}
	if d.Route.ID != cl.Session {
		return Decision{Status: http.StatusNotFound, Code: "not_found"}, nil
	}
	cred := h.sig.sign(claims{Kind: kindIDE, User: cl.User, Login: cl.Login, Session: cl.Session, Host: cl.Host,
		Expires: now.Add(h.ttl).Unix()})
	c.Cookie(&fiber.Cookie{Name: h.ideCookie, Value: cred, Path: "/", MaxAge: int(h.ttl / time.Second),
		HTTPOnly: true, Secure: h.secure, SameSite: fiber.CookieSameSiteLaxMode})
	c.Cookie(&fiber.Cookie{Name: h.stateCookie, Value: "", Path: "/", Expires: time.Unix(0, 0),
		HTTPOnly: true, Secure: h.secure, SameSite: fiber.CookieSameSiteLaxMode})
	return Decision{Status: http.StatusFound, Location: safePath(cl.Path)}, nil
}

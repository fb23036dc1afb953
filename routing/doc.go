// Package routing decides who reaches which session IDE. It owns the
// session-proxy endpoint, GET /api/v2/auth/session-proxy, which Caddy calls
// through forward_auth for every request and websocket to a session host
// s-<slug>.<external|internal>.medforge.<domain>: 401 without a valid
// session cookie, 404 for an unknown or not running session (or a host
// whose exposure is not the session's), 403 for a user who is neither the
// owner nor an admin (and, on internal hosts, lacks can_use_internal), and
// 200 with X-Upstream: <container address>:8080 for the owner of a running
// session. X-Upstream is set on 200 and on nothing else.
//
// Browsers authenticate on a session host with that host's own credential
// (a signed, HttpOnly cookie bound to the user, the login, the session and
// the host), minted through a redirect handshake with the platform host
// (GET /api/v2/auth/session-handshake), because the identity cookie is
// host-only and never reaches session hosts; a browser without one is sent
// through the handshake (and to sign in when needed). API clients may send
// the identity cookie explicitly instead. docs/identity.md has the threat
// model.
//
// The endpoint is the hot path of every IDE request, so it answers from
// memory: a Table of running sessions kept by the session runtime's change
// events (sessions.Service.OnChange) and a periodic resync from the
// database, and identity's credential cache (invalidated on logout). It
// never queries the database per request. Last activity, which idle
// culling measures, is marked in memory and written in batches.
//
// It must never:
//   - take an upstream from the client: the upstream comes only from the
//     Table, which comes only from the session runtime and the database;
//   - answer 2xx without X-Upstream, or set X-Upstream on anything else;
//   - route a session that is not running (starting, stopping and ended
//     sessions are 404), or route on a host whose exposure differs from the
//     session's;
//   - route to an address by itself: a route is bound to its session's
//     container id, dropped when that container exits or no longer holds
//     the address, and no two routes share an address;
//   - log cookie values or tokens;
//   - accept a session host's credential on another host, after its login
//     ended, or for a session other than the one it was minted for;
//   - let an identity cookie that arrives from a browser decide who the
//     caller is on a session host (the browser never sends it there: it was
//     planted), or redirect anywhere but a path on the requesting host or
//     the platform host's handshake.
//
// The Caddy side (deploy/caddy) strips any client X-Upstream, calls the
// endpoint, fails closed with 502 when no upstream came back and blocks the
// endpoint's path on session hosts; docs/routing.md records the design.
package routing

// Package httpapi is MedForge's HTTP server: one Fiber v2 app that serves
// /api/v2 (JSON envelope {data, meta}), /healthz, /metrics and the OpenAPI
// document. It is the server core: routes as data (Handle), the envelope,
// problem+json errors, authentication and the role gates, origin checks,
// body limits, health and metrics. Every feature's endpoints, identity's
// included (identity/httpidentity, identity/httpadmin), live in the
// feature's own adapter package.
//
// Other capabilities mount their endpoints with Server.Handle, which
// registers the Fiber route and its OpenAPI operation together (see
// docs/api.md). Handlers return errors; one ErrorHandler turns them into
// application/problem+json and never sends internal error text to a client
// (it is logged with the request id). httpapi never writes SQL of its own and
// never stores a secret: identity and store do that.
package httpapi

// Package web is MedForge's browser UI: server-rendered HTML pages
// (html/template, assets embedded in the binary, a little plain JavaScript,
// nothing from a CDN) served by the same Fiber app as the API, on
// medforge.<domain>, external.medforge.<domain>, internal.medforge.<domain>
// and the bare listen address.
//
// The UI is a client of the API, rendered on the server: a page handler
// reads what it shows by calling /api/v2 endpoints in-process with the
// caller's own cookie, and every change a page makes (sign-in, a submission,
// launching a session, an admin action) is a fetch from the browser to the
// same /api/v2 endpoint a script would use. So the cookie, origin (CSRF) and
// role rules are exactly the API's, with no second copy to drift; see
// docs/web.md.
//
// web never reads the database, the holdouts or a session container, and
// never serves pages on session hosts (s-*.external|internal.medforge.*),
// which run user code.
package web

package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/internal/humanize"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI is the mounted web UI.
type UI struct {
	srv   *httpapi.Server
	pages map[string]*template.Template

	once    sync.Once
	handler fasthttp.RequestHandler
}

// Mount adds the web UI's pages and /static/ assets to srv. Call it after
// every API capability is mounted: unknown paths outside /api/, /healthz and
// /metrics get the HTML not-found page.
func Mount(srv *httpapi.Server) (*UI, error) {
	ui := &UI{srv: srv, pages: map[string]*template.Template{}}
	if err := ui.parse(); err != nil {
		return nil, err
	}
	app := srv.App()
	app.Use(ui.sessionHostGuard)
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	// Pages go through HandleRoot so they carry route labels in metrics and
	// logs, and serve checks them against what Fiber answers; as Page
	// routes they stay out of the OpenAPI document, which describes the
	// API alone.
	srv.HandleRoot(httpapi.Route{Method: http.MethodGet, Path: "/static/*", Tags: []string{"web"}, Page: true,
		Summary: "Web UI assets (CSS, JavaScript)", Raw: true, RawContentType: "text/css", Handler: ui.static(sub)})
	for _, p := range ui.routes() {
		srv.HandleRoot(httpapi.Route{Method: http.MethodGet, Path: p.path, Tags: []string{"web"}, Page: true,
			Summary: "Web page: " + p.summary, Raw: true, RawContentType: "text/html", Handler: ui.page(p.fn)})
	}
	app.Use(ui.notFound)
	return ui, nil
}

// route is one page: a GET path and the handler that renders it.
type route struct {
	path    string
	summary string
	fn      func(c *fiber.Ctx, v *view) error
}

// view is what every page template receives.
type view struct {
	Title string
	// Nav names the active top-level section for aria-current.
	Nav  string
	User *identity.User
	// Path is the request path, for next= links.
	Path string
	// Signup is whether open sign-up is on.
	Signup bool
	// Surface is "EXTERNAL" or "INTERNAL" on external./internal.medforge
	// hosts, "" on the main site.
	Surface string
	Data    any
	// Partial names a fragment template to render alone (live updates).
	Partial string
}

var funcs = template.FuncMap{
	"score":    fmtScore,
	"ci":       fmtCI,
	"when":     fmtTime,
	"ago":      fmtAgo,
	"bytes":    humanize.Bytes,
	"short":    shortDigest,
	"pct":      pct,
	"deref":    deref,
	"lower":    strings.ToLower,
	"pathesc":  url.PathEscape,
	"queryesc": url.QueryEscape,
	"plot":     plotSVG,
	"forest":   forestSVG,
	"deref_b":  func(p *bool) bool { return p != nil && *p },
	"deref_i": func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	},
	"mul100":   func(f float64) float64 { return f * 100 },
	"add":      func(a, b int) int { return a + b },
	"markdown": markdown,
	"ubytes":   func(n uint64) string { return humanize.Bytes(int64(min(n, 1<<62))) },
}

func (ui *UI) parse() error {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("web: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", n, err)
		}
		ui.pages[name] = t
	}
	return nil
}

// isSessionHost reports whether host (without port) is a session host,
// which Caddy routes to a session container and where no page may be
// served.
func isSessionHost(host string) bool {
	return strings.HasPrefix(host, "s-") && (strings.Contains(host, ".external.medforge.") || strings.Contains(host, ".internal.medforge."))
}

func (ui *UI) sessionHostGuard(c *fiber.Ctx) error {
	if isSessionHost(c.Hostname()) && !isAPIPath(c.Path()) {
		return c.Status(http.StatusNotFound).SendString("not found\n")
	}
	return c.Next()
}

// surface names the exposure surface a web host belongs to.
func surface(host string) string {
	switch {
	case strings.HasPrefix(host, "external.medforge."):
		return "EXTERNAL"
	case strings.HasPrefix(host, "internal.medforge."):
		return "INTERNAL"
	}
	return ""
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, httpapi.Prefix+"/") || p == httpapi.Prefix || p == "/healthz" || p == "/metrics"
}

func (ui *UI) static(sub fs.FS) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := strings.TrimPrefix(c.Params("*"), "/")
		data, err := fs.ReadFile(sub, name)
		if err != nil || name == "" {
			return ui.errorPage(c, http.StatusNotFound, "Not found", "There is no such file.", "")
		}
		switch {
		case strings.HasSuffix(name, ".css"):
			c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
		case strings.HasSuffix(name, ".js"):
			c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		case strings.HasSuffix(name, ".svg"):
			c.Set(fiber.HeaderContentType, "image/svg+xml")
		}
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return c.Send(data)
	}
}

func (ui *UI) notFound(c *fiber.Ctx) error {
	if isAPIPath(c.Path()) || c.Method() != http.MethodGet && c.Method() != http.MethodHead {
		return c.Next()
	}
	return ui.errorPage(c, http.StatusNotFound, "Page not found",
		"There is no page at this address. It may have moved, or the link was mistyped.", "")
}

// page wraps a page handler: it builds the view, turns API errors into
// error pages (401 into a redirect to sign-in) and sets the headers every
// page carries.
func (ui *UI) page(fn func(c *fiber.Ctx, v *view) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v := &view{User: httpapi.CurrentUser(c), Path: c.OriginalURL(), Signup: ui.srv.Config().OpenSignup, Surface: surface(c.Hostname())}
		err := fn(c, v)
		if err == nil {
			return nil
		}
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), http.StatusSeeOther)
		case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
			return ui.errorPage(c, http.StatusForbidden, "Not allowed",
				ae.Detail+". If you think you should have access, ask an administrator.", "")
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			return ui.errorPage(c, http.StatusNotFound, "Not found",
				"We could not find what this page shows ("+ae.Detail+"). Check the address, or go back to the competitions.", "")
		case errors.As(err, &ae) && ae.Status < 500:
			return ui.errorPage(c, ae.Status, "Something is not right", ae.Detail+".", "")
		default:
			ui.srv.Logger().ErrorContext(c.UserContext(), "web page failed", "request_id", httpapi.RequestID(c), "path", c.Path(), "err", err.Error())
			return ui.errorPage(c, http.StatusInternalServerError, "Something went wrong on our side",
				"The page could not be built. Try again in a moment; if it keeps failing, tell an administrator the request id below.", httpapi.RequestID(c))
		}
	}
}

type errorData struct {
	Status    int
	Heading   string
	Message   string
	RequestID string
}

func (ui *UI) errorPage(c *fiber.Ctx, status int, heading, msg, rid string) error {
	v := &view{Title: heading, User: httpapi.CurrentUser(c), Path: c.OriginalURL(), Signup: ui.srv.Config().OpenSignup,
		Data: errorData{Status: status, Heading: heading, Message: msg, RequestID: rid}}
	c.Status(status)
	return ui.render(c, "error", v)
}

// render executes page name (or its v.Partial fragment) into the response.
func (ui *UI) render(c *fiber.Ctx, name string, v *view) error {
	t, ok := ui.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	var buf bytes.Buffer
	tmpl := "layout"
	if v.Partial != "" {
		tmpl = v.Partial
	}
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	return c.Send(buf.Bytes())
}

// apiError is a problem answer from an in-process API call.
type apiError struct {
	Status int
	Code   string
	Detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("api %d %s: %s", e.Status, e.Code, e.Detail) }

// get calls GET path on the API in-process as the caller of c (same cookie,
// same client address, same request id) and decodes the envelope's data
// into out.
func (ui *UI) get(c *fiber.Ctx, path string, out any) error {
	ui.once.Do(func() { ui.handler = ui.srv.App().Handler() })
	var req fasthttp.Request
	req.Header.SetMethod(http.MethodGet)
	req.SetRequestURI(path)
	req.Header.SetHost(c.Hostname())
	if ck := c.Get(fiber.HeaderCookie); ck != "" {
		req.Header.Set(fiber.HeaderCookie, ck)
	}
	req.Header.Set(httpapi.HeaderRequestID, httpapi.RequestID(c))
	req.Header.Set(fiber.HeaderAccept, fiber.MIMEApplicationJSON)
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, c.Context().RemoteAddr(), nil)
	ui.handler(&fctx)
	status := fctx.Response.StatusCode()
	body := fctx.Response.Body()
	if status >= 300 {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		return &apiError{Status: status, Code: p.Code, Detail: p.Detail}
	}
	env := struct {
		Data any `json:"data"`
	}{Data: out}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decode GET %s: %w", path, err)
	}
	return nil
}

// optional turns a 404 (an API capability not mounted on this server, or
// nothing there) into nil and reports whether the call found something.
func optional(err error) (bool, error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// safeNext returns next when it is a path on this site, else "/".
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs, so "/\t/evil.example"
	// becomes "//evil.example": refuse every control character, and a
	// backslash anywhere (browsers read it as a slash).
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') ||
		strings.IndexFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "/"
	}
	return next
}

package httpapi

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Route is one endpoint. Registering it with Handle adds the Fiber route and
// its OpenAPI operation together, so the document cannot drift from the
// server.
type Route struct {
	// Method is an HTTP method (http.MethodGet, ...).
	Method string
	// Path is a Fiber pattern. For Handle it is relative to /api/v2
	// ("/competitions/:slug"); for HandleRoot it is absolute ("/healthz").
	Path string
	// Summary is the one-line OpenAPI summary; Description is optional.
	Summary     string
	Description string
	// Tags group operations in the OpenAPI document (e.g. "competitions").
	Tags []string
	// Auth is the access level; it is enforced before Handler runs.
	Auth Auth
	// Request is a value of the JSON body type (e.g. LoginRequest{}), or nil
	// when the endpoint takes no body. RequestContentType overrides
	// application/json (e.g. "multipart/form-data"); then Request may be nil.
	Request            any
	RequestContentType string
	// Response is a value of the type put in the envelope's data, or nil for
	// no body. Status is the success status (200 when zero).
	Response any
	Status   int
	// Also documents the other success answers the handler may give (for
	// example a 202 with a different body); Status stays the main one.
	Also []AltResponse
	// Query documents query parameters. Path parameters come from Path.
	Query []Param
	// Raw marks a response that is not the JSON envelope (health, metrics,
	// proxies); RawContentType documents its media type.
	Raw            bool
	RawContentType string
	// Page marks a web UI page or asset: it is served, labelled and logged
	// like any route, but it is not an API operation, so the OpenAPI
	// document leaves it out (outside tools generate clients from it).
	Page bool
	// Quiet routes are counted in /metrics but get no access-log line
	// unless they answer 5xx: hot paths called for every proxied request
	// (the session proxy), whose volume would drown the log.
	Quiet bool
	// Handler serves the request. It returns errors (see Problem); it
	// writes success bodies with OK, OKMeta or NoContent.
	Handler fiber.Handler
}

// AltResponse is a success answer besides a Route's main one: its status
// and the type of the envelope's data (nil for no body).
type AltResponse struct {
	Status      int
	Description string
	Response    any
}

// Param documents a query parameter.
type Param struct {
	Name        string
	Description string
	Required    bool
	// Type is an OpenAPI scalar type: string (default), integer, boolean, number.
	Type string
}

// Handle registers r under /api/v2. It panics on an invalid route, so a
// mistake fails every test at start-up.
func (s *Server) Handle(r Route) {
	if !strings.HasPrefix(r.Path, "/") {
		panic(fmt.Sprintf("httpapi: route path %q must start with /", r.Path))
	}
	r.Path = Prefix + r.Path
	s.HandleRoot(r)
}

// HandleRoot registers r at an absolute path (outside /api/v2).
func (s *Server) HandleRoot(r Route) {
	if r.Handler == nil || r.Method == "" || r.Summary == "" {
		panic(fmt.Sprintf("httpapi: route %s %s needs Method, Summary and Handler", r.Method, r.Path))
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	// The prefix gates apply whatever the route says; say so in the document.
	lower := strings.ToLower(r.Path)
	if strings.HasPrefix(lower, Prefix+"/admin") && r.Auth != AuthAdmin {
		r.Auth = AuthAdmin
	} else if strings.HasPrefix(lower, Prefix+"/internal") && r.Auth < AuthInternal {
		r.Auth = AuthInternal
	}
	s.mu.Lock()
	for _, old := range s.routes {
		if old.Method == r.Method && old.Path == r.Path {
			s.mu.Unlock()
			panic(fmt.Sprintf("httpapi: route %s %s registered twice", r.Method, r.Path))
		}
	}
	if !r.Page {
		id := operationID(r)
		for _, old := range s.routes {
			if !old.Page && operationID(old) == id {
				s.mu.Unlock()
				panic(fmt.Sprintf("httpapi: route %s %s has the operation id %s of %s %s", r.Method, r.Path, id, old.Method, old.Path))
			}
		}
	}
	s.routes = append(s.routes, r)
	s.doc = nil
	s.mu.Unlock()
	pattern, auth, quiet, upload := r.Path, r.Auth, r.Quiet, r.isUpload()
	mark := func(c *fiber.Ctx) error {
		c.Locals(localRoute, pattern)
		if quiet {
			c.Locals(localQuiet, true)
		}
		if err := auth.allow(CurrentPrincipal(c)); err != nil {
			return err
		}
		if upload {
			if err := s.limitUpload(c); err != nil {
				return err
			}
		}
		return c.Next()
	}
	s.app.Add(r.Method, r.Path, mark, r.Handler)
}

// Routes lists the registered routes in registration order.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Route(nil), s.routes...)
}

// OpenAPIPath converts a Fiber pattern to an OpenAPI path template
// (":slug" -> "{slug}", "*" -> "{wildcard}").
func OpenAPIPath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, ":"):
			segs[i] = "{" + strings.TrimRight(strings.TrimPrefix(seg, ":"), "?+*") + "}"
		case seg == "*" || seg == "+":
			segs[i] = "{wildcard}"
		}
	}
	return strings.Join(segs, "/")
}

func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		switch {
		case strings.HasPrefix(seg, ":"):
			out = append(out, strings.TrimRight(strings.TrimPrefix(seg, ":"), "?+*"))
		case seg == "*" || seg == "+":
			out = append(out, "wildcard")
		}
	}
	return out
}

// RouteMismatch compares the routes Fiber serves with the OpenAPI document:
// undocumented lists "METHOD /path" served without an operation (a route
// added around Handle), phantom lists operations nothing serves. Both are
// empty when the document is true. HEAD routes are ignored.
func (s *Server) RouteMismatch() (undocumented, phantom []string) {
	documented := map[string]bool{}
	for _, r := range s.Routes() {
		documented[r.Method+" "+OpenAPIPath(r.Path)] = true
	}
	served := map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		k := r.Method + " " + OpenAPIPath(r.Path)
		served[k] = true
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !served[k] {
			phantom = append(phantom, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(phantom)
	return undocumented, phantom
}

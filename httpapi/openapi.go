package httpapi

import (
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// OpenAPI returns the OpenAPI 3.0 document of every registered route as
// JSON. Schemas are derived from the Go types in Route.Request and
// Route.Response (json tags; omitempty fields are optional; pointers are
// nullable).
func (s *Server) OpenAPI() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doc != nil {
		return s.doc, nil
	}
	g := &schemaGen{components: map[string]any{}, names: map[reflect.Type]string{}}
	g.components["Problem"] = problemSchema()
	g.components["Meta"] = map[string]any{
		"type": "object", "required": []string{"request_id"},
		"properties":           map[string]any{"request_id": map[string]any{"type": "string"}},
		"additionalProperties": true,
	}
	paths := map[string]map[string]any{}
	for _, r := range s.routes {
		if r.Page {
			continue
		}
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = g.operation(r)
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "MedForge API",
			"version":     "2",
			"description": "Success bodies are {data, meta}; errors are application/problem+json. See docs/api.md.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"cookieAuth": map[string]any{"type": "apiKey", "in": "cookie", "name": CookieName},
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
	b, err := jsonMarshal(doc)
	if err != nil {
		return nil, err
	}
	s.doc = b
	return b, nil
}

func problemSchema() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{
		"type":     "object",
		"required": []string{"type", "title", "status", "detail", "code", "request_id"},
		"properties": map[string]any{
			"type": str, "title": str, "detail": str, "code": str, "request_id": str,
			"status": map[string]any{"type": "integer"},
			"errors": map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "required": []string{"field", "message"},
				"properties": map[string]any{"field": str, "message": str},
			}},
		},
	}
}

func (g *schemaGen) operation(r Route) map[string]any {
	op := map[string]any{
		"summary":     r.Summary,
		"operationId": operationID(r),
	}
	if r.Description != "" {
		op["description"] = r.Description
	}
	if len(r.Tags) > 0 {
		op["tags"] = r.Tags
	}
	op["x-medforge-auth"] = r.Auth.String()
	if r.Auth != AuthPublic {
		op["security"] = []map[string][]string{{"cookieAuth": {}}, {"bearerAuth": {}}}
	}
	var params []map[string]any
	for _, name := range pathParams(r.Path) {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range r.Query {
		t := q.Type
		if t == "" {
			t = "string"
		}
		params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required,
			"description": q.Description, "schema": map[string]any{"type": t}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	switch {
	case r.RequestContentType != "":
		body := map[string]any{"type": "string", "format": "binary"}
		if r.Request != nil {
			body = g.schema(reflect.TypeOf(r.Request))
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{r.RequestContentType: map[string]any{"schema": body}}}
	case r.Request != nil:
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			fiber.MIMEApplicationJSON: map[string]any{"schema": g.schema(reflect.TypeOf(r.Request))}}}
	}
	ok := map[string]any{"description": http.StatusText(r.Status)}
	switch {
	case r.Raw:
		ct := r.RawContentType
		if ct == "" {
			ct = "text/plain"
		}
		sch := map[string]any{"type": "string"}
		if r.Response != nil {
			sch = g.schema(reflect.TypeOf(r.Response))
		}
		ok["content"] = map[string]any{ct: map[string]any{"schema": sch}}
	case r.Response != nil:
		ok["content"] = g.envelope(r.Response)
	}
	problem := map[string]any{"description": "Problem", "content": map[string]any{
		"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	responses := map[string]any{strconv.Itoa(r.Status): ok, "default": problem}
	for _, a := range r.Also {
		alt := map[string]any{"description": a.Description}
		if a.Description == "" {
			alt["description"] = http.StatusText(a.Status)
		}
		if a.Response != nil {
			alt["content"] = g.envelope(a.Response)
		}
		responses[strconv.Itoa(a.Status)] = alt
	}
	op["responses"] = responses
	return op
}

// envelope is the content of a {data, meta} answer whose data is a value
// of data's type.
func (g *schemaGen) envelope(data any) map[string]any {
	return map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": map[string]any{
		"type": "object", "required": []string{"data", "meta"},
		"properties": map[string]any{
			"data": g.schema(reflect.TypeOf(data)),
			"meta": map[string]any{"$ref": "#/components/schemas/Meta"},
		},
	}}}
}

func operationID(r Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Method))
	for _, seg := range strings.Split(strings.TrimPrefix(r.Path, Prefix), "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, ":") || seg == "*" || seg == "+" {
			b.WriteString("By")
			seg = strings.TrimRight(strings.TrimPrefix(seg, ":"), "?+*")
			if seg == "" {
				seg = "wildcard"
			}
		}
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

type schemaGen struct {
	components map[string]any
	names      map[reflect.Type]string
}

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch {
	case t == timeType:
		s = map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Struct && t.Name() != "":
		s = map[string]any{"$ref": "#/components/schemas/" + g.component(t)}
		if nullable {
			return map[string]any{"allOf": []any{s}, "nullable": true}
		}
		return s
	case t.Kind() == reflect.Struct:
		s = g.object(t)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		s = map[string]any{"type": "string", "format": "byte"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer"}
		if t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint64 {
			s["format"] = "int64"
		}
	case t.Kind() == reflect.Float32:
		s = map[string]any{"type": "number", "format": "float"}
	case t.Kind() == reflect.Float64:
		// The format keeps generated clients at float64: without it
		// oapi-codegen makes scores float32.
		s = map[string]any{"type": "number", "format": "double"}
	default:
		s = map[string]any{}
	}
	if nullable {
		s["nullable"] = true
	}
	return s
}

// component registers a named struct under a unique component name.
func (g *schemaGen) component(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	name := t.Name()
	if _, taken := g.components[name]; taken {
		pkg := t.PkgPath()
		name = strings.ReplaceAll(pkg[strings.LastIndex(pkg, "/")+1:], ".", "_") + "_" + name
	}
	g.names[t] = name
	g.components[name] = map[string]any{} // placeholder for recursion
	g.components[name] = g.object(t)
	return name
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

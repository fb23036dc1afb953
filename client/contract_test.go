package client

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openAPIFile is the committed API contract; cmd/medforge's
// TestOpenAPIGolden keeps it equal to what the server answers.
const openAPIFile = "../docs/openapi.json"

// The client keeps its own copies of the API's types (the fields it uses).
// TestTypesMatchTheAPIContract checks each copy against the response schema
// of the operation it decodes, so a field the server renames, retypes,
// makes nullable or drops fails here, not in a user's terminal.
func TestTypesMatchTheAPIContract(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		value  any // the type the client decodes the envelope's data into
	}{
		{name: "Submit", method: "post", path: "/api/v2/competitions/{slug}/submissions", status: 201, value: SubmitResult{}},
		{name: "Submission", method: "get", path: "/api/v2/submissions/{id}", status: 200, value: Submission{}},
		{name: "MySubmissions", method: "get", path: "/api/v2/competitions/{slug}/submissions/me", status: 200, value: MySubmissions{}},
		{name: "Board", method: "get", path: "/api/v2/competitions/{slug}/leaderboard", status: 200, value: Leaderboard{}},
		{name: "SetFinal", method: "put", path: "/api/v2/competitions/{slug}/submissions/{id}/final", status: 200, value: Submission{}},
		{name: "SetFinal false", method: "delete", path: "/api/v2/competitions/{slug}/submissions/{id}/final", status: 200, value: Submission{}},
		{name: "CreateCompetition", method: "post", path: "/api/v2/author/competitions", status: 201, value: AuthorCompetition{}},
		{name: "Report", method: "get", path: "/api/v2/author/competitions/{slug}/report", status: 200, value: CertReport{}},
		{name: "Publish", method: "post", path: "/api/v2/author/competitions/{slug}/publish", status: 200, value: AuthorCompetition{}},
		{name: "Report pending", method: "get", path: "/api/v2/author/competitions/{slug}/report", status: 202, value: pendingBody{}},
		{name: "Scorer pending", method: "post", path: "/api/v2/author/competitions/{slug}/scorer", status: 202, value: pendingBody{}},
		{name: "SandboxJob", method: "get", path: "/api/v2/author/competitions/{slug}/jobs/{job}", status: 200, value: SandboxJob{}},
		{name: "CreateSession external", method: "post", path: "/api/v2/external/sessions", status: 201, value: Session{}},
		{name: "CreateSession internal", method: "post", path: "/api/v2/internal/sessions", status: 201, value: Session{}},
		{name: "CreateSession queued", method: "post", path: "/api/v2/external/sessions", status: 202, value: QueueEntry{}},
		{name: "Queue", method: "get", path: "/api/v2/external/sessions/queue", status: 200, value: (*QueueEntry)(nil)},
		{name: "CancelQueue", method: "delete", path: "/api/v2/external/sessions/queue", status: 200, value: QueueEntry{}},
		{name: "Snapshots", method: "get", path: "/api/v2/external/snapshots", status: 200, value: []Snapshot{}},
		{name: "DeleteSnapshot", method: "delete", path: "/api/v2/external/snapshots/{id}", status: 200, value: Snapshot{}},
		{name: "Sessions", method: "get", path: "/api/v2/sessions", status: 200, value: []Session{}},
		{name: "StopSession", method: "post", path: "/api/v2/external/sessions/{id}/stop", status: 202, value: Session{}},
	}
	// Every client method that decodes an API answer has a row above (a
	// row's name starts with the method's name); these decode none of their
	// own: they wrap another method, stream bytes or fill the caller's value.
	wrappers := map[string]bool{"WaitScored": true, "Leaderboard": true, "AwaitJobs": true, "DownloadSnapshot": true,
		"AuthorUpload": true, "AuthorScorer": true}
	ct := reflect.TypeOf(&Client{})
	for i := 0; i < ct.NumMethod(); i++ {
		m := ct.Method(i).Name
		covered := wrappers[m]
		for _, tc := range tests {
			covered = covered || tc.name == m || strings.HasPrefix(tc.name, m+" ")
		}
		if !covered {
			t.Errorf("client method %s has no row in this table: add the operation it calls and the type it decodes", m)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := doc.responseData(tc.method, tc.path, tc.status)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range doc.check(reflect.TypeOf(tc.value), data, "data") {
				t.Error(p)
			}
		})
	}
	t.Run("Error", func(t *testing.T) {
		for _, p := range doc.check(reflect.TypeOf(Error{}), map[string]any{"$ref": "#/components/schemas/Problem"}, "problem") {
			t.Error(p)
		}
	})
}

// The checker itself: a copy that disagrees with a schema is reported with
// the field's path.
func TestContractCheckerReportsDrift(t *testing.T) {
	t.Parallel()
	doc := contract{schemas: map[string]any{"Thing": map[string]any{
		"type":     "object",
		"required": []any{"id", "name", "score"},
		"properties": map[string]any{
			"id":    map[string]any{"type": "integer", "format": "int64"},
			"name":  map[string]any{"type": "string"},
			"score": map[string]any{"type": "number", "nullable": true},
			"when":  map[string]any{"type": "string", "format": "date-time"},
		},
	}}}
	ref := map[string]any{"$ref": "#/components/schemas/Thing"}
	type good struct {
		ID    int64     `json:"id"`
		Name  string    `json:"name"`
		Score *float64  `json:"score"`
		When  time.Time `json:"when"`
		Local string    `json:"-"`
	}
	if p := doc.check(reflect.TypeOf(good{}), ref, "data"); len(p) != 0 {
		t.Fatalf("a matching copy was refused: %v", p)
	}
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{name: "renamed field", value: struct {
			Title string `json:"title"`
		}{}, want: "data.title: not in the API"},
		{name: "retyped field", value: struct {
			Name int `json:"name"`
		}{}, want: "data.name: the API has string"},
		{name: "narrow id", value: struct {
			ID int32 `json:"id"`
		}{}, want: "data.id: the API has a 64-bit integer"},
		{name: "nullable into a value", value: struct {
			Score float64 `json:"score"`
		}{}, want: "data.score: the API may send null"},
		{name: "time as a number", value: struct {
			When int64 `json:"when"`
		}{}, want: "data.when: the API has string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := doc.check(reflect.TypeOf(tc.value), ref, "data")
			if len(p) != 1 || !strings.Contains(p[0], tc.want) {
				t.Fatalf("problems = %q, want one containing %q", p, tc.want)
			}
		})
	}
}

type contract struct {
	paths   map[string]map[string]any
	schemas map[string]any
}

func loadContract(t *testing.T) contract {
	t.Helper()
	b, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return contract{paths: doc.Paths, schemas: doc.Components.Schemas}
}

// responseData is the schema of the envelope's data in the operation's
// answer with status.
func (c contract) responseData(method, path string, status int) (map[string]any, error) {
	op, _ := c.paths[path][method].(map[string]any)
	if op == nil {
		return nil, fmt.Errorf("%s %s is not in the API", strings.ToUpper(method), path)
	}
	res, _ := op["responses"].(map[string]any)[strconv.Itoa(status)].(map[string]any)
	if res == nil {
		return nil, fmt.Errorf("%s %s does not answer %d", strings.ToUpper(method), path, status)
	}
	sch := dig(res, "content", "application/json", "schema", "properties", "data")
	if sch == nil {
		return nil, fmt.Errorf("%s %s %d has no enveloped data", strings.ToUpper(method), path, status)
	}
	return sch, nil
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

// resolve follows $ref and the allOf wrapper a nullable reference has; it
// returns the schema and whether it allows null.
func (c contract) resolve(s map[string]any) (map[string]any, bool) {
	nullable, _ := s["nullable"].(bool)
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		s, _ = all[0].(map[string]any)
	}
	if ref, ok := s["$ref"].(string); ok {
		s, _ = c.schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
	}
	n, _ := s["nullable"].(bool)
	return s, nullable || n
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage(nil))
)

// check reports where Go type t cannot hold what schema s describes.
func (c contract) check(t reflect.Type, s map[string]any, at string) []string {
	s, nullable := c.resolve(s)
	if s == nil {
		return []string{at + ": the API's schema is missing"}
	}
	pointer := false
	for t.Kind() == reflect.Pointer {
		t, pointer = t.Elem(), true
	}
	if nullable && !pointer && t.Kind() != reflect.Slice && t.Kind() != reflect.Map && t != rawType {
		return []string{at + ": the API may send null; the client's " + t.String() + " cannot hold it (use a pointer)"}
	}
	typ, _ := s["type"].(string)
	format, _ := s["format"].(string)
	mismatch := func() []string { return []string{fmt.Sprintf("%s: the API has %s, the client %s", at, typ, t)} }
	switch {
	case t == rawType || t.Kind() == reflect.Interface:
		return nil
	case t == timeType:
		if typ != "string" || format != "date-time" {
			return mismatch()
		}
	case t.Kind() == reflect.Struct:
		if typ != "object" {
			return mismatch()
		}
		return c.checkObject(t, s, at)
	case t.Kind() == reflect.Slice:
		if typ != "array" {
			return mismatch()
		}
		items, _ := s["items"].(map[string]any)
		return c.check(t.Elem(), items, at+"[]")
	case t.Kind() == reflect.Map:
		if typ != "object" {
			return mismatch()
		}
		items, _ := s["additionalProperties"].(map[string]any)
		return c.check(t.Elem(), items, at+"{}")
	case t.Kind() == reflect.String:
		if typ != "string" {
			return mismatch()
		}
	case t.Kind() == reflect.Bool:
		if typ != "boolean" {
			return mismatch()
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if typ != "integer" {
			return mismatch()
		}
		if format == "int64" && t.Bits() < 64 {
			return []string{fmt.Sprintf("%s: the API has a 64-bit integer, the client %s", at, t)}
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if typ != "number" && typ != "integer" {
			return mismatch()
		}
	default:
		return []string{fmt.Sprintf("%s: the client's %s has no JSON counterpart", at, t)}
	}
	return nil
}

func (c contract) checkObject(t reflect.Type, s map[string]any, at string) []string {
	props, _ := s["properties"].(map[string]any)
	var problems []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ps, _ := props[name].(map[string]any)
		if ps == nil {
			problems = append(problems, at+"."+name+": not in the API")
			continue
		}
		problems = append(problems, c.check(f.Type, ps, at+"."+name)...)
	}
	return problems
}

package httpapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/medforge/medforge/config"
)

func TestDecodeJSONBadInput(t *testing.T) {
	t.Parallel()
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Inner struct {
			Flag bool `json:"flag"`
		} `json:"inner"`
	}
	tests := []struct {
		name, in, wantField, wantDetail string
	}{
		{"empty", "", "", "empty"},
		{"whitespace", "  \n", "", "empty"},
		{"syntax", `{"name":}`, "", "at byte"},
		{"truncated", `{"name":"x"`, "", "truncated"},
		{"array instead of object", `[1,2]`, "", "must be a JSON an object"},
		{"wrong type", `{"count":"3"}`, "count", ""},
		{"nested wrong type", `{"inner":{"flag":"yes"}}`, "inner.flag", ""},
		{"unknown field", `{"nmae":"x"}`, "nmae", ""},
		{"trailing", `{"name":"x"}{"name":"y"}`, "", "after the JSON value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b body
			err := decodeJSON([]byte(tc.in), &b)
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != 400 || pe.Code != "invalid_json" {
				t.Fatalf("err = %v", err)
			}
			if tc.wantField != "" && (len(pe.Fields) != 1 || pe.Fields[0].Field != tc.wantField) {
				t.Fatalf("fields %+v, want %s", pe.Fields, tc.wantField)
			}
			if tc.wantDetail != "" && !strings.Contains(pe.Detail, strings.TrimPrefix(tc.wantDetail, "must be a JSON ")) {
				t.Fatalf("detail %q lacks %q", pe.Detail, tc.wantDetail)
			}
		})
	}
	var b body
	if err := decodeJSON([]byte(`{"name":"ok","count":2,"inner":{"flag":true}}`), &b); err != nil || b.Count != 2 || !b.Inner.Flag {
		t.Fatalf("good body: %v %+v", err, b)
	}
}

// FuzzDecodeJSON: request bodies are outside input; decoding gives a value
// or a 400 problem whose text is ours, never a panic or a leak of the raw
// decoder message.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"email":"a@b.c","password":"x"}`, `{"email":1}`, `[`, `{"x":1}`, "\x00", `{"email":"a"} 1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v struct {
			Email    string `json:"email"`
			Password string `json:"password"`
			N        *int   `json:"n,omitempty"`
		}
		err := decodeJSON(in, &v)
		if err == nil {
			if !json.Valid(in) {
				t.Fatalf("accepted invalid JSON %q", in)
			}
			return
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Status != 400 || strings.Contains(pe.Detail, "json:") {
			t.Fatalf("bad error %v", err)
		}
	})
}

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	local := newOriginPolicy(config.Config{Domain: "localhost"})
	prod := newOriginPolicy(config.Config{Domain: "example.org", ExtraOrigins: []string{"https://ops.example.net/"}})
	tests := []struct {
		name   string
		p      *originPolicy
		origin string
		want   bool
	}{
		{"local site", local, "http://medforge.localhost:8000", true},
		{"local upper case", local, "HTTP://MEDFORGE.LOCALHOST:8000", true},
		{"local ipv6 loopback", local, "http://[::1]:8000", true},
		{"local session host", local, "http://s-x.internal.medforge.localhost:8000", false},
		{"local userinfo trick", local, "http://evil@medforge.localhost", false},
		{"local path", local, "http://medforge.localhost/x", false},
		{"local bad port", local, "http://medforge.localhost:abc", false},
		{"prod https", prod, "https://api.medforge.example.org", true},
		{"prod explicit 443", prod, "https://api.medforge.example.org:443", true},
		{"prod http", prod, "http://api.medforge.example.org", false},
		{"prod port", prod, "https://api.medforge.example.org:444", false},
		{"prod parent domain", prod, "https://example.org", false},
		{"prod extra (trailing slash normalized)", prod, "https://ops.example.net", true},
		{"prod empty", prod, "", false},
		{"prod no scheme", prod, "medforge.example.org", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.Allowed(tc.origin); got != tc.want {
				t.Fatalf("Allowed(%q) = %v, want %v", tc.origin, got, tc.want)
			}
		})
	}
}

// FuzzOriginAllowed: the Origin header is outside input. Whatever is
// allowed must name one of MedForge's own hosts.
func FuzzOriginAllowed(f *testing.F) {
	p := newOriginPolicy(config.Config{Domain: "example.org"})
	for _, s := range []string{"https://medforge.example.org", "https://evil.example", "null", "https://a@medforge.example.org", "https://medforge.example.org.evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if !p.Allowed(origin) {
			return
		}
		o := strings.ToLower(origin)
		if !strings.HasPrefix(o, "https://") {
			t.Fatalf("allowed non-https %q", origin)
		}
		host := strings.TrimSuffix(strings.TrimPrefix(o, "https://"), ":443")
		if !p.hosts[host] {
			t.Fatalf("allowed foreign origin %q", origin)
		}
	})
}

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"a": true, "A-b_c.9": true, "": false, strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false, "a b": false, "a\nb": false, "ü": false, "a/b": false} {
		if got := saneRequestID(in); got != want {
			t.Errorf("saneRequestID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestOpenAPIPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/api/v2/me":                 "/api/v2/me",
		"/api/v2/competitions/:slug": "/api/v2/competitions/{slug}",
		"/api/v2/x/:id?":             "/api/v2/x/{id}",
		"/api/v2/proxy/*":            "/api/v2/proxy/{wildcard}",
		"/api/v2/a/:a/b/:b":          "/api/v2/a/{a}/b/{b}",
	} {
		if got := OpenAPIPath(in); got != want {
			t.Errorf("OpenAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

package routing

import (
	"strings"
	"testing"

	"github.com/medforge/medforge/sessions"
)

func TestParseHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, domain string
		ok                 bool
		slug               string
		exp                sessions.Exposure
	}{
		{name: "external", host: "s-abc234.external.medforge.localhost", domain: "localhost", ok: true, slug: "abc234", exp: sessions.External},
		{name: "internal with port", host: "s-abc.internal.medforge.example.org:8443", domain: "example.org", ok: true, slug: "abc", exp: sessions.Internal},
		{name: "upper case", host: "S-ABC.EXTERNAL.MEDFORGE.EXAMPLE.ORG", domain: "example.org", ok: true, slug: "abc", exp: sessions.External},
		{name: "trailing dot", host: "s-abc.external.medforge.example.org.", domain: "example.org", ok: true, slug: "abc", exp: sessions.External},
		{name: "trailing dot and port", host: "s-abc.external.medforge.example.org.:443", domain: "example.org", ok: true, slug: "abc", exp: sessions.External},
		{name: "wrong domain", host: "s-abc.external.medforge.evil.org", domain: "example.org", ok: false},
		{name: "domain as suffix of another", host: "s-abc.external.medforge.notexample.org", domain: "example.org", ok: false},
		{name: "extra label", host: "x.s-abc.external.medforge.example.org", domain: "example.org", ok: false},
		{name: "no s- prefix", host: "abc.external.medforge.example.org", domain: "example.org", ok: false},
		{name: "empty slug", host: "s-.external.medforge.example.org", domain: "example.org", ok: false},
		{name: "bad exposure", host: "s-abc.public.medforge.example.org", domain: "example.org", ok: false},
		{name: "site host", host: "medforge.example.org", domain: "example.org", ok: false},
		{name: "api host", host: "api.medforge.example.org", domain: "example.org", ok: false},
		{name: "external site", host: "external.medforge.example.org", domain: "example.org", ok: false},
		{name: "underscore", host: "s-a_b.external.medforge.example.org", domain: "example.org", ok: false},
		{name: "bad port", host: "s-abc.external.medforge.example.org:x", domain: "example.org", ok: false},
		{name: "percent", host: "s-a%2eb.external.medforge.example.org", domain: "example.org", ok: false},
		{name: "empty", host: "", domain: "example.org", ok: false},
		{name: "empty domain", host: "s-abc.external.medforge.", domain: "", ok: false},
		{name: "label too long", host: "s-" + strings.Repeat("a", 62) + ".external.medforge.example.org", domain: "example.org", ok: false},
		{name: "longest label", host: "s-" + strings.Repeat("a", 61) + ".external.medforge.example.org", domain: "example.org", ok: true, slug: strings.Repeat("a", 61), exp: sessions.External},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseHost(tc.host, tc.domain)
			if ok != tc.ok || ok && (got.Slug != tc.slug || got.Exposure != tc.exp) {
				t.Fatalf("ParseHost(%q) = %+v, %v; want %q %q %v", tc.host, got, ok, tc.slug, tc.exp, tc.ok)
			}
		})
	}
}

// FuzzParseHost: the Host header is outside input. A host that parses
// must be exactly the canonical session host of what it parsed to (up to
// case, port and one trailing dot).
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"s-abc.external.medforge.example.org", "S-A.INTERNAL.MEDFORGE.EXAMPLE.ORG:1", "s-a.external.medforge.example.org.", "x", ":::", "s-.external.medforge.example.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		sh, ok := ParseHost(host, "example.org")
		if !ok {
			return
		}
		want := "s-" + sh.Slug + "." + string(sh.Exposure) + ".medforge.example.org"
		h := strings.ToLower(host)
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		if h != want {
			t.Fatalf("ParseHost(%q) = %+v, but the canonical host is %q", host, sh, want)
		}
	})
}

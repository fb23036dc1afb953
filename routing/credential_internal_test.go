package routing

import (
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/sessions"
)

func TestCredentialParse(t *testing.T) {
	t.Parallel()
	s, other := newSigner(), newSigner()
	now := time.Unix(1_800_000_000, 0)
	good := claims{Kind: kindIDE, User: 7, Login: 9, Session: 3, Host: "s-abc.external.medforge.localhost:8080", Expires: now.Unix() + 60}
	v := s.sign(good)
	p, sig, _ := strings.Cut(strings.TrimPrefix(v, "v1."), ".")
	tampered := s.sign(claims{Kind: kindIDE, User: 8, Login: 9, Session: 3, Host: good.Host, Expires: good.Expires})
	tp, _, _ := strings.Cut(strings.TrimPrefix(tampered, "v1."), ".")
	tests := []struct {
		name string
		v    string
		kind string
		at   time.Time
		want error
	}{
		{"valid", v, kindIDE, now, nil},
		{"empty", "", kindIDE, now, errMalformed},
		{"no version", strings.TrimPrefix(v, "v1."), kindIDE, now, errMalformed},
		{"other version", "v2." + p + "." + sig, kindIDE, now, errMalformed},
		{"no signature", "v1." + p, kindIDE, now, errMalformed},
		{"empty payload", "v1.." + sig, kindIDE, now, errMalformed},
		{"extra part", v + ".x", kindIDE, now, errMalformed},
		{"signature not base64", "v1." + p + ".%%%", kindIDE, now, errMalformed},
		{"another user's payload under this signature", "v1." + tp + "." + sig, kindIDE, now, errForged},
		{"another key", other.sign(good), kindIDE, now, errForged},
		{"wrong kind", v, kindCode, now, errKind},
		{"expired", v, kindIDE, now.Add(time.Minute), errExpired},
		{"too long", "v1." + strings.Repeat("a", maxCredentialLen), kindIDE, now, errMalformed},
		{"signed garbage payload", "v1.bm90IGpzb24." + b64.EncodeToString(s.mac("bm90IGpzb24")), kindIDE, now, errMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.parse(tc.v, tc.kind, tc.at)
			if err != tc.want {
				t.Fatalf("parse: %v, want %v", err, tc.want)
			}
			if err == nil && got != good {
				t.Fatalf("claims %+v, want %+v", got, good)
			}
		})
	}
}

func TestCodeUsedOnce(t *testing.T) {
	t.Parallel()
	s := newSigner()
	now := time.Unix(1_800_000_000, 0)
	c := claims{Kind: kindCode, Nonce: randomToken(), Expires: now.Unix() + 60}
	if !s.use(c, now) {
		t.Fatal("first use refused")
	}
	if s.use(c, now) {
		t.Fatal("replay accepted")
	}
	if s.use(claims{Kind: kindCode, Expires: now.Unix() + 60}, now) {
		t.Fatal("a code without nonce accepted")
	}
	s.use(claims{Kind: kindCode, Nonce: randomToken(), Expires: now.Unix() + 60}, now.Add(2*time.Minute))
	if len(s.used) != 1 {
		t.Fatalf("expired nonces kept: %d", len(s.used))
	}
}

func TestSafePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/":                             "/",
		"/a/b?c=d#e":                    "/a/b?c=d#e",
		"":                              "/",
		"a/b":                           "/",
		"//evil.example/":               "/",
		"/\\evil.example":               "/",
		"/a\tb":                         "/",
		"/a\r\nSet-Cookie":              "/",
		"https://evil/":                 "/",
		"/" + strings.Repeat("a", 2048): "/",
	} {
		if got := safePath(in); got != want {
			t.Errorf("safePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCredentialParse: any input is refused or yields claims that sign back
// to a credential parse accepts; it never panics.
func FuzzCredentialParse(f *testing.F) {
	s := newSigner()
	now := time.Unix(1_800_000_000, 0)
	f.Add(s.sign(claims{Kind: kindIDE, User: 1, Host: "h", Expires: now.Unix() + 1}))
	f.Add("v1..")
	f.Add("v1.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := s.parse(v, kindIDE, now)
		if err != nil {
			return
		}
		if _, err := s.parse(s.sign(c), kindIDE, now); err != nil {
			t.Fatalf("re-signed claims refused: %v", err)
		}
	})
}

// BenchmarkCredentialDecide is the in-memory part of a session-host request
// authorized by its credential (verify the signed cookie, then Decide),
// against the reference BenchmarkDecideOnly: Decide alone, which is all an
// identity-cookie request does in memory once identity's cache answered.
// Both skip the cache lookup they share.
func BenchmarkCredentialDecide(b *testing.B) {
	tab, p, host := benchTable()
	s := newSigner()
	v := s.sign(claims{Kind: kindIDE, User: 7, Login: 9, Session: 3, Host: host, Expires: time.Now().Add(time.Hour).Unix()})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cl, err := s.parse(v, kindIDE, time.Now())
		if err != nil || cl.Host != host {
			b.Fatal(err)
		}
		if d := tab.Decide(host, "localhost", p); d.Status != 200 || d.Route.ID != cl.Session {
			b.Fatal(d)
		}
	}
}

func BenchmarkDecideOnly(b *testing.B) {
	tab, p, host := benchTable()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if d := tab.Decide(host, "localhost", p); d.Status != 200 {
			b.Fatal(d)
		}
	}
}

func benchTable() (*Table, *identity.Principal, string) {
	tab := &Table{changed: map[int64]uint64{}}
	m := map[string]*Route{"abc": {ID: 3, Slug: "abc", UserID: 7, Exposure: sessions.External, ContainerID: "c", Upstream: "10.0.0.1:8080"}}
	tab.routes.Store(&m)
	return tab, &identity.Principal{User: identity.User{ID: 7}, Method: identity.AuthCookie}, "s-abc.external.medforge.localhost:8080"
}

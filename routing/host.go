package routing

import (
	"strings"

	"github.com/medforge/medforge/sessions"
)

// SessionHost is a parsed session host name.
type SessionHost struct {
	Slug     string
	Exposure sessions.Exposure
}

// ParseHost parses host (a Host header: any case, an optional :port, an
// optional trailing dot) as s-<slug>.<external|internal>.medforge.<domain>.
// The slug must be 1-63 characters of [a-z0-9-] (a DNS label without the
// "s-"). Anything else, including extra labels before s-, reports false.
func ParseHost(host, domain string) (SessionHost, bool) {
	if len(host) > 253+6 {
		return SessionHost{}, false
	}
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		port := h[i+1:]
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return SessionHost{}, false
			}
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	rest, ok := strings.CutSuffix(h, ".medforge."+strings.ToLower(domain))
	if !ok || domain == "" {
		return SessionHost{}, false
	}
	label, exp, ok := strings.Cut(rest, ".")
	if !ok {
		return SessionHost{}, false
	}
	e := sessions.Exposure(exp)
	if !e.Valid() {
		return SessionHost{}, false
	}
	slug, ok := strings.CutPrefix(label, "s-")
	if !ok || slug == "" || len(label) > 63 {
		return SessionHost{}, false
	}
	for i := 0; i < len(slug); i++ {
		b := slug[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
			return SessionHost{}, false
		}
	}
	return SessionHost{Slug: slug, Exposure: e}, true
}

package routing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Credential kinds. A code travels once in a URL from the platform host to
// a session host; an IDE credential is the session host's own cookie.
const (
	kindCode = "code"
	kindIDE  = "ide"
)

// maxCredentialLen bounds what parse reads (a cookie or a query value).
const maxCredentialLen = 2048

// claims is what a code or an IDE credential binds: the user, the login it
// came from (it dies with that login), the session and its host.
type claims struct {
	Kind    string `json:"k"`
	User    int64  `json:"u"`
	Login   int64  `json:"l"` // identity's login session id (Principal.SessionID)
	Session int64  `json:"s"` // sessions row id
	Host    string `json:"h"` // lower-case session host, with its port
	Expires int64  `json:"x"` // unix seconds
	// Codes only.
	Nonce string `json:"n,omitempty"`  // one use
	State string `json:"st,omitempty"` // the session host's state cookie
	Path  string `json:"p,omitempty"`  // where the browser goes back to
}

// signer signs and verifies credentials with an HMAC-SHA256 key that
// lives only in this process's memory: nothing stored anywhere can forge
// one, and a restart only makes browsers repeat the handshake.
type signer struct {
	key [32]byte

	mu   sync.Mutex
	used map[string]int64 // code nonce -> expiry (unix s)

	// seen caches the claims of IDE credentials whose signature was
	// verified, so the hot path does not repeat the HMAC and JSON work on
	// every request; expiry is still checked every time. Bounded: emptied
	// when full.
	vmu  sync.RWMutex
	seen map[string]claims
}

// maxSeen bounds the verified-credential cache.
const maxSeen = 4096

func newSigner() *signer {
	s := &signer{used: map[string]int64{}, seen: map[string]claims{}}
	if _, err := rand.Read(s.key[:]); err != nil {
		panic(fmt.Sprintf("routing: no randomness for the credential key: %v", err))
	}
	return s
}

var b64 = base64.RawURLEncoding

// sign returns "v1.<payload>.<mac>", URL- and cookie-safe.
func (s *signer) sign(c claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain struct of strings and ints
	}
	p := b64.EncodeToString(payload)
	return "v1." + p + "." + b64.EncodeToString(s.mac(p))
}

func (s *signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(p))
	return m.Sum(nil)
}

// Errors of parse; none reveals more than "not valid" to a client.
var (
	errMalformed = errors.New("malformed credential")
	errForged    = errors.New("credential signature does not match")
	errExpired   = errors.New("credential expired")
	errKind      = errors.New("credential of another kind")
)

// parse verifies v (signature first, then kind and expiry) and returns its
// claims. Anything malformed, forged, expired or of another kind is an
// error.
func (s *signer) parse(v, kind string, now time.Time) (claims, error) {
	if kind == kindIDE {
		s.vmu.RLock()
		c, ok := s.seen[v]
		s.vmu.RUnlock()
		if ok {
			if now.Unix() >= c.Expires {
				return claims{}, errExpired
			}
			return c, nil
		}
	}
	c, err := s.verify(v, kind, now)
	if err == nil && kind == kindIDE {
		s.vmu.Lock()
		if len(s.seen) >= maxSeen {
			s.seen = map[string]claims{}
		}
		s.seen[v] = c
		s.vmu.Unlock()
	}
	return c, err
}

// verify is parse without the cache.
func (s *signer) verify(v, kind string, now time.Time) (claims, error) {
	if len(v) > maxCredentialLen {
		return claims{}, errMalformed
	}
	rest, ok := strings.CutPrefix(v, "v1.")
	if !ok {
		return claims{}, errMalformed
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || p == "" || strings.ContainsRune(sig, '.') {
		return claims{}, errMalformed
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return claims{}, errMalformed
	}
	if !hmac.Equal(got, s.mac(p)) {
		return claims{}, errForged
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return claims{}, errMalformed
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, errMalformed
	}
	if c.Kind != kind {
		return claims{}, errKind
	}
	if now.Unix() >= c.Expires {
		return claims{}, errExpired
	}
	return c, nil
}

// use marks a code's nonce spent; false when it already was (a replay).
// Spent nonces are kept until their code expires.
func (s *signer) use(c claims, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, exp := range s.used {
		if now.Unix() >= exp {
			delete(s.used, n)
		}
	}
	if c.Nonce == "" {
		return false
	}
	if _, spent := s.used[c.Nonce]; spent {
		return false
	}
	s.used[c.Nonce] = c.Expires
	return true
}

// randomToken is 16 random bytes, URL-safe.
func randomToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("routing: no randomness: %v", err))
	}
	return b64.EncodeToString(b[:])
}

// validState reports whether v looks like a randomToken.
func validState(v string) bool {
	if len(v) != 22 {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// safePath is p when it is a path on the same host (starts with one "/",
// no backslash, no control character, at most 2048 bytes), else "/": the
// handshake never redirects anywhere else.
func safePath(p string) string {
	if len(p) > 2048 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') ||
		strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "/"
	}
	return p
}

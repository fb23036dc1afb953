package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Token prefixes make leaked MedForge credentials recognizable to secret
// scanners and let the server reject a token of the wrong kind early.
const (
	SessionTokenPrefix = "mfs_"
	APITokenPrefix     = "mfp_"
)

// newToken returns a fresh 256-bit random token with prefix and its hash.
func newToken(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	raw := prefix + base64.RawURLEncoding.EncodeToString(b)
	return raw, HashToken(raw), nil
}

// HashToken is the SHA-256 of a token: what the database stores. Tokens have
// 256 bits of entropy, so a fast hash is enough to make a copy of the
// database useless as credentials.
func HashToken(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

// wellFormed reports whether raw looks like a token with prefix (a cheap
// check before any database work).
func wellFormed(raw, prefix string) bool {
	if !strings.HasPrefix(raw, prefix) || len(raw) != len(prefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(raw[len(prefix):])
	return err == nil
}

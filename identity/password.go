package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id cost parameters. They are recorded in every
// hash, so changing them affects only hashes made afterwards.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// DefaultParams follow OWASP's argon2id recommendation (19 MiB, t=2, p=1).
var DefaultParams = PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestParams are cheap parameters for test fixtures only; they are far too
// weak for real passwords.
var TestParams = PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// MaxPasswordLength bounds the password input (bytes) so a request cannot
// make hashing arbitrarily expensive.
const MaxPasswordLength = 1024

// HashPassword returns a PHC-format argon2id hash of password with a fresh
// random salt: $argon2id$v=19$m=...,t=...,p=...$salt$key.
func HashPassword(password string, p PasswordParams) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, in time that does
// not depend on how much of the key matches. A malformed hash is an error.
func VerifyPassword(password, hash string) (bool, error) {
	h, err := ParseHash(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1, nil
}

// Hash is a parsed argon2id hash.
type Hash struct {
	Params PasswordParams
	Salt   []byte
	Key    []byte
}

// Limits on parsed parameters, so a corrupted or hostile hash cannot make
// verification allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
)

// ParseHash parses a PHC-format argon2id hash. The error names the part
// that is wrong.
func ParseHash(s string) (Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return Hash{}, errors.New("password hash: want 5 '$'-separated fields")
	}
	if parts[1] != "argon2id" {
		return Hash{}, fmt.Errorf("password hash: algorithm %q is not argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Hash{}, fmt.Errorf("password hash: version %q is not v=%d", parts[2], argon2.Version)
	}
	var h Hash
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Hash{}, fmt.Errorf("password hash: parameter %q is not key=value", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Hash{}, fmt.Errorf("password hash: parameter %s: %q is not a number", k, v)
		}
		switch k {
		case "m":
			h.Params.MemoryKiB = uint32(n)
		case "t":
			h.Params.Time = uint32(n)
		case "p":
			if n > 255 {
				return Hash{}, fmt.Errorf("password hash: parameter p=%d is over 255", n)
			}
			h.Params.Threads = uint8(n)
		default:
			return Hash{}, fmt.Errorf("password hash: unknown parameter %q", k)
		}
	}
	if h.Params.MemoryKiB < 8 || h.Params.MemoryKiB > maxMemoryKiB {
		return Hash{}, fmt.Errorf("password hash: parameter m=%d out of range", h.Params.MemoryKiB)
	}
	if h.Params.Time < 1 || h.Params.Time > maxTime {
		return Hash{}, fmt.Errorf("password hash: parameter t=%d out of range", h.Params.Time)
	}
	if h.Params.Threads < 1 {
		return Hash{}, errors.New("password hash: parameter p must be at least 1")
	}
	if h.Params.MemoryKiB < 8*uint32(h.Params.Threads) {
		return Hash{}, fmt.Errorf("password hash: parameter m=%d below 8*p", h.Params.MemoryKiB)
	}
	var err error
	if h.Salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.Salt) < 8 {
		return Hash{}, errors.New("password hash: salt is not base64 of at least 8 bytes")
	}
	if h.Key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.Key) < 16 || len(h.Key) > 128 {
		return Hash{}, errors.New("password hash: key is not base64 of 16-128 bytes")
	}
	h.Params.SaltLen, h.Params.KeyLen = len(h.Salt), uint32(len(h.Key))
	return h, nil
}

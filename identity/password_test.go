package identity

import (
	"strings"
	"testing"
)

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("hunter2-but-longer", TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "hunter2") || !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("hunter2-but-longer", TestParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	for _, tc := range []struct {
		name, pw string
		want     bool
	}{{"right", "hunter2-but-longer", true}, {"wrong", "hunter3-but-longer", false}, {"empty", "", false}, {"prefix", "hunter2", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.pw, h)
			if err != nil || ok != tc.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestParseHashRejectsBadInput(t *testing.T) {
	t.Parallel()
	good, _ := HashPassword("x", TestParams)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "5 '$'-separated fields"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "5 '$'-separated"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, `algorithm "argon2i"`},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"no equals", "$argon2id$v=19$m64,t=1,p=1$" + salt + "$" + key, "not key=value"},
		{"not a number", "$argon2id$v=19$m=x,t=1,p=1$" + salt + "$" + key, "parameter m"},
		{"unknown parameter", "$argon2id$v=19$m=64,t=1,p=1,k=3$" + salt + "$" + key, "unknown parameter"},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key, "m=99999999 out of range"},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, "t=0 out of range"},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, "p must be"},
		{"too many threads", "$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key, "over 255"},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key, "salt"},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA", "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseHash(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseHash(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
			if _, err := VerifyPassword("x", tc.in); err == nil {
				t.Fatal("VerifyPassword accepted a bad hash")
			}
		})
	}
}

// FuzzParseHash: hashes come from the database; a corrupted one must give an
// error, never a panic or an unbounded verification.
func FuzzParseHash(f *testing.F) {
	good, _ := HashPassword("x", TestParams)
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.Params.MemoryKiB > maxMemoryKiB || h.Params.Time > maxTime || h.Params.Threads == 0 || len(h.Salt) < 8 || len(h.Key) < 16 {
			t.Fatalf("ParseHash accepted out-of-range %+v", h.Params)
		}
	})
}

func TestTokens(t *testing.T) {
	t.Parallel()
	raw, h, err := newToken(APITokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormed(raw, APITokenPrefix) || wellFormed(raw, SessionTokenPrefix) {
		t.Fatalf("wellFormed wrong for %q", raw)
	}
	if string(h) != string(HashToken(raw)) || len(h) != 32 || strings.Contains(string(h), raw[4:]) {
		t.Fatal("hash is not the SHA-256 of the token")
	}
	for _, bad := range []string{"", "mfp_", "mfp_short", raw + "x", "mfs_" + raw[4:], "mfp_" + strings.Repeat("!", 43)} {
		if wellFormed(bad, APITokenPrefix) {
			t.Errorf("wellFormed(%q) = true", bad)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a@example.org", true}, {"admin@medforge.localhost", true}, {"", false}, {"a", false},
		{"a@b", false}, {"Name <a@example.org>", false}, {"a b@example.org", false},
		{strings.Repeat("a", 250) + "@x.org", false},
	} {
		if got := ValidateEmail(tc.in) == ""; got != tc.ok {
			t.Errorf("ValidateEmail(%q) ok=%v, want %v", tc.in, got, tc.ok)
		}
	}
}

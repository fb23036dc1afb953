package sessions_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
)

func TestLoadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, s sessions.Settings)
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, s sessions.Settings) {
			assert.Equal(t, "auto", s.Mode)
			assert.EqualValues(t, 8e9, s.Config.NanoCPUs)
			assert.EqualValues(t, 32<<30, s.Config.MemoryBytes)
			assert.EqualValues(t, 4096, s.Config.PidsLimit)
			assert.Equal(t, 60*time.Second, s.Config.BackoffMax)
			assert.Zero(t, s.Config.IdleTimeout)
		}},
		{name: "backoff cap and packs", env: map[string]string{"SESSION_POLL_BACKOFF_MAX_SECONDS": "7", "MEDFORGE_PACKS": "r=img/r@sha256:ab, jax=img/jax"},
			check: func(t *testing.T, s sessions.Settings) {
				assert.Equal(t, 7*time.Second, s.Config.BackoffMax)
				assert.Equal(t, map[string]string{"r": "img/r@sha256:ab", "jax": "img/jax"}, s.Packs)
			}},
		{name: "prefixed backoff wins", env: map[string]string{"SESSION_POLL_BACKOFF_MAX_SECONDS": "7", "MEDFORGE_SESSION_POLL_BACKOFF_MAX_SECONDS": "9"},
			check: func(t *testing.T, s sessions.Settings) { assert.Equal(t, 9*time.Second, s.Config.BackoffMax) }},
		{name: "bad values are all named", env: map[string]string{"MEDFORGE_SESSIONS": "maybe", "MEDFORGE_SESSION_MEMORY": "lots", "MEDFORGE_SESSION_IDLE_TIMEOUT": "soon"},
			wantErr: "MEDFORGE_SESSIONS"},
		{name: "default pack comes from PACK_IMAGE", env: map[string]string{"MEDFORGE_PACKS": "default=x"}, wantErr: "MEDFORGE_PACKS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := sessions.LoadSettings(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				if tc.name == "bad values are all named" {
					assert.Contains(t, err.Error(), "MEDFORGE_SESSION_MEMORY")
					assert.Contains(t, err.Error(), "MEDFORGE_SESSION_IDLE_TIMEOUT")
				}
				return
			}
			require.NoError(t, err)
			tc.check(t, s)
		})
	}
}

func TestDigestPinned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		image string
		want  bool
	}{
		{name: "pinned", image: "registry.example.org/medforge/pack@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", want: true},
		{name: "local image id", image: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", want: true},
		{name: "short image id", image: "sha256:0123"},
		{name: "tag only", image: "registry.example.org/medforge/pack:latest"},
		{name: "short digest", image: "pack@sha256:abc"},
		{name: "upper case", image: "pack@sha256:" + "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, sessions.DigestPinned(tc.image))
		})
	}
}

// docs/sessions.md documents every session setting.
func TestSettingsDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/sessions.md")
	require.NoError(t, err)
	doc := string(b)
	for _, e := range sessions.Env {
		name := e.Name
		for _, suffix := range []string{"_MEMORY", "_PIDS", "_MAX_LIFETIME"} {
			// Documented on the line of their sibling (`_CPUS` / `_MEMORY` / `_PIDS`).
			if strings.HasSuffix(name, suffix) && strings.Contains(doc, "`"+suffix+"`") {
				name = ""
			}
		}
		if name != "" {
			assert.Contains(t, doc, "`"+name+"`", "docs/sessions.md lacks %s", name)
		}
	}
}

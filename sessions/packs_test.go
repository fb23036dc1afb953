package sessions_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/medforge/medforge/sessions"
)

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

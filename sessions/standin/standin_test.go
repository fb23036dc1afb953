package standin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildErrorStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream string
		want   string
	}{
		{name: "success", stream: `{"stream":"Step 1/5 : FROM scratch"}` + "\n" + `{"aux":{"ID":"sha256:abc"}}`},
		{name: "error", stream: `{"stream":"Step 1/5"}` + "\n" + `{"errorDetail":{"message":"boom"},"error":"boom"}`, want: "boom"},
		{name: "not json", stream: "garbage\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := buildError(strings.NewReader(tc.stream))
			if tc.want == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tc.want)
			}
		})
	}
}

// Building twice from the same source gives the same content-tagged image
// and the second build reuses it.
func TestBuildIsContentAddressed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	defer cli.Close()
	a, err := Build(ctx, cli, "")
	require.NoError(t, err)
	b, err := Build(ctx, cli, "")
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.True(t, strings.HasPrefix(a, Repository+":"))
	img, err := cli.ImageInspect(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "1000:1000", img.Config.User)
	assert.Equal(t, []string{"/standin"}, img.Config.Entrypoint)
	root, err := FindModuleRoot()
	require.NoError(t, err)
	assert.FileExists(t, root+"/deploy/packs/standin/Dockerfile")
}

package dockerrt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/standin"
)

func rnd() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The contract's networks exist after EnsureNetworks (twice: idempotent),
// with the fixed external subnet, the internal one without egress, and the
// host INPUT guard on the internal bridge.
func TestEnsureNetworks(t *testing.T) {
	ctx := ctxT(t)
	d, err := dockerrt.New(dockerrt.Options{})
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.EnsureNetworks(ctx))
	require.NoError(t, d.EnsureNetworks(ctx))
	ext, err := d.Client().NetworkInspect(ctx, dockerrt.ExternalNetwork, network.InspectOptions{})
	require.NoError(t, err)
	assert.False(t, ext.Internal)
	require.NotEmpty(t, ext.IPAM.Config)
	assert.Equal(t, dockerrt.ExternalSubnet, ext.IPAM.Config[0].Subnet)
	in, err := d.Client().NetworkInspect(ctx, dockerrt.InternalNetwork, network.InspectOptions{})
	require.NoError(t, err)
	assert.True(t, in.Internal)
	out, err := exec.CommandContext(ctx, "iptables", "-w", "5", "-S", "INPUT").CombinedOutput()
	require.NoError(t, err, string(out))
	bridge := in.Options["com.docker.network.bridge.name"]
	if bridge == "" {
		bridge = "br-" + in.ID[:12]
	}
	assert.Contains(t, string(out), "-i "+bridge+" -j "+dockerrt.InputChain)
}

// A network that should be internal but exists with egress is an error,
// never silently used.
func TestEnsureNetworksRefusesNonInternal(t *testing.T) {
	ctx := ctxT(t)
	name := "mf-test-net-" + rnd()
	d, err := dockerrt.New(dockerrt.Options{Networks: []dockerrt.NetworkSpec{{Name: name, Internal: true}}})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Client().NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Client().NetworkRemove(context.Background(), name) })
	err = d.EnsureNetworks(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not internal")
}

func TestStartRefusesAndMissingIsNotAnError(t *testing.T) {
	ctx := ctxT(t)
	holdouts := t.TempDir()
	d, err := dockerrt.New(dockerrt.Options{ForbiddenDir: holdouts})
	require.NoError(t, err)
	defer d.Close()
	image, err := standin.Build(ctx, d.Client(), "")
	require.NoError(t, err)
	instance := "rt-test-" + rnd()
	base := sessions.ContainerSpec{Image: image, Network: dockerrt.ExternalNetwork, User: "1000:1000",
		Labels: map[string]string{sessions.LabelManaged: "true", sessions.LabelInstance: instance}}
	require.NoError(t, d.EnsureNetworks(ctx))

	tests := []struct {
		name string
		edit func(*sessions.ContainerSpec)
		want string
	}{
		{name: "holdouts mounted", want: "TEST_HOLDOUTS_DIR", edit: func(s *sessions.ContainerSpec) {
			s.Mounts = []sessions.Mount{{Source: filepath.Join(holdouts, "titanic"), Target: "/data/x", ReadOnly: true}}
		}},
		{name: "no managed label", want: "medforge.managed", edit: func(s *sessions.ContainerSpec) {
			s.Labels = map[string]string{sessions.LabelInstance: instance}
		}},
		{name: "no network", want: "network", edit: func(s *sessions.ContainerSpec) { s.Network = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			spec.Name = "mf-session-rt" + rnd()
			tc.edit(&spec)
			_, err := d.Start(ctx, spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	list, err := d.List(ctx, map[string]string{sessions.LabelInstance: instance})
	require.NoError(t, err)
	assert.Empty(t, list, "nothing was created")

	spec := base
	spec.Name = "mf-session-rt" + rnd()
	spec.NanoCPUs = 4096 * 1e9 // more CPUs than any host: capped, not refused
	id, err := d.Start(ctx, spec)
	require.NoError(t, err)
	info, err := d.Client().ContainerInspect(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, int64(runtime.NumCPU())*1e9, info.HostConfig.NanoCPUs)
	list, err = d.List(ctx, map[string]string{sessions.LabelInstance: instance})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Running)
	assert.Equal(t, spec.Name, list[0].Name)
	addr, err := d.Address(ctx, id)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(addr, "172.30.0."), addr)
	require.NoError(t, d.Stop(ctx, id, time.Second))
	require.NoError(t, d.Stop(ctx, id, time.Second), "stopping a stopped container")
	require.NoError(t, d.Remove(ctx, id))
	require.NoError(t, d.Remove(ctx, id), "removing a missing container")
	require.NoError(t, d.Stop(ctx, id, time.Second), "stopping a missing container")
}

// A dead engine address is reported as ErrRuntimeUnavailable.
func TestPingDeadSocket(t *testing.T) {
	d, err := dockerrt.New(dockerrt.Options{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock"), CallTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer d.Close()
	err = d.Ping(ctxT(t))
	assert.ErrorIs(t, err, sessions.ErrRuntimeUnavailable)
}

// engineWithStandin connects to the environment's engine (closed when the
// test ends), builds the stand-in IDE image and makes sure the session
// networks exist; it returns the engine and the image.
func engineWithStandin(t *testing.T, ctx context.Context) (*dockerrt.Docker, string) {
	t.Helper()
	d, err := dockerrt.New(dockerrt.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	image, err := standin.Build(ctx, d.Client(), "")
	require.NoError(t, err)
	require.NoError(t, d.EnsureNetworks(ctx))
	return d, image
}

// A GPU by UUID reaches the engine as an nvidia device request: on this
// host without the NVIDIA runtime the engine refuses exactly that, and the
// failed start leaves no container behind.
func TestGPUDeviceRequestReachesEngine(t *testing.T) {
	ctx := ctxT(t)
	d, image := engineWithStandin(t, ctx)
	instance := "rt-gpu-" + rnd()
	_, err := d.Start(ctx, sessions.ContainerSpec{Name: "mf-session-gpu" + rnd(), Image: image, Network: dockerrt.ExternalNetwork,
		Labels: map[string]string{sessions.LabelManaged: "true", sessions.LabelInstance: instance}, GPUUUID: "GPU-12345678-aaaa"})
	if err == nil {
		t.Skip("this engine has the NVIDIA runtime; the lifecycle tests cover it")
	}
	assert.Contains(t, err.Error(), "nvidia")
	list, err := d.List(ctx, map[string]string{sessions.LabelInstance: instance})
	require.NoError(t, err)
	assert.Empty(t, list)
}

// A network created here hands out dynamic addresses from its IP range
// only, keeping the fixed low addresses free.
func TestNetworkIPRange(t *testing.T) {
	ctx := ctxT(t)
	name := "mf-test-range-" + rnd()
	d, err := dockerrt.New(dockerrt.Options{Networks: []dockerrt.NetworkSpec{{Name: name, Subnet: "10.231.7.0/24", Gateway: "10.231.7.1", IPRange: "10.231.7.128/25"}}})
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.EnsureNetworks(ctx))
	t.Cleanup(func() { _ = d.Client().NetworkRemove(context.Background(), name) })
	image, err := standin.Build(ctx, d.Client(), "")
	require.NoError(t, err)
	id, err := d.Start(ctx, sessions.ContainerSpec{Name: "mf-session-range" + rnd(), Image: image, Network: name,
		Labels: map[string]string{sessions.LabelManaged: "true", sessions.LabelInstance: "rt-range-" + rnd()}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Remove(context.Background(), id) })
	addr, err := d.Address(ctx, id)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(addr, "10.231.7.128:"), "first dynamic address is the range's first: %s", addr)
}

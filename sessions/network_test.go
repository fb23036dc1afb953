package sessions_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// hostAddr is a non-loopback, non-Docker address of this host.
func hostAddr(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	require.NoError(t, err)
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 || strings.HasPrefix(i.Name, "docker") || strings.HasPrefix(i.Name, "br-") || strings.HasPrefix(i.Name, "veth") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	t.Skip("no non-loopback host address to dial")
	return ""
}

// dialFrom runs the stand-in's dial probe inside a container and reports
// whether a TCP connection to addr succeeded.
func dialFrom(t *testing.T, ctx context.Context, containerID, addr string) (bool, string) {
	t.Helper()
	cli := docker(t)
	ex, err := cli.ContainerExecCreate(ctx, containerID, container.ExecOptions{Cmd: []string{"/standin", "dial", addr}, AttachStdout: true, AttachStderr: true})
	require.NoError(t, err)
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	require.NoError(t, err)
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, att.Reader)
	att.Close()
	for {
		ins, err := cli.ContainerExecInspect(ctx, ex.ID)
		require.NoError(t, err)
		if !ins.Running {
			return ins.ExitCode == 0, out.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A session on the internal network reaches nothing outside it: not the
// host's own address, not an external session, not the internet. The same
// probe from an external session reaches the host, which shows the probe
// can see egress when there is some.
func TestInternalNetworkHasNoEgress(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 2*time.Minute)
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostTarget := net.JoinHostPort(hostAddr(t), itoa(int64(ln.Addr().(*net.TCPAddr).Port)))

	ext, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{}), Exposure: sessions.External})
	require.NoError(t, err)
	in, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{CanUseInternal: true}), Exposure: sessions.Internal})
	require.NoError(t, err)
	e.waitStatus(ext.ID, sessions.StatusRunning, time.Minute)
	e.waitStatus(in.ID, sessions.StatusRunning, time.Minute)
	ids := map[string]string{}
	for _, c := range e.containers(ctx) {
		ids[c.Labels[sessions.LabelExposure]] = c.ID
	}
	info, err := docker(t).ContainerInspect(ctx, ids["internal"])
	require.NoError(t, err)
	assert.Equal(t, "medforge-internal-sessions", string(info.HostConfig.NetworkMode))
	extAddr, err := e.rt.Address(ctx, ids["external"])
	require.NoError(t, err)

	ok, out := dialFrom(t, ctx, ids["external"], hostTarget)
	require.True(t, ok, "control: an external session reaches the host at %s: %s", hostTarget, out)

	tests := []struct{ name, addr string }{
		{name: "host address", addr: hostTarget},
		{name: "host through the network's gateway", addr: net.JoinHostPort("172.30.1.1", itoa(int64(ln.Addr().(*net.TCPAddr).Port)))},
		{name: "external session", addr: extAddr},
		{name: "internet", addr: "1.1.1.1:443"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, out := dialFrom(t, ctx, ids["internal"], tc.addr)
			assert.False(t, ok, "internal session reached %s", tc.addr)
			t.Logf("internal -> %s: %s", tc.addr, strings.TrimSpace(out))
		})
	}
}

// No session container ever mounts TEST_HOLDOUTS_DIR: the configured
// training and public-eval roots are mounted read-only, and a
// configuration whose data roots would expose the holdouts (a root that
// contains them, or is inside them) is refused before any container starts.
func TestNeverMountsHoldouts(t *testing.T) {
	tests := []struct {
		name     string
		training func(root string) string
		refused  bool
	}{
		{name: "disjoint roots", training: func(root string) string { return filepath.Join(root, "training") }},
		{name: "training root contains the holdouts", training: func(root string) string { return root }, refused: true},
		{name: "training root inside the holdouts", training: func(root string) string { return filepath.Join(root, "holdouts") }, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{noStart: true})
			e.cfg.TrainingDataRoot = tc.training(e.root)
			e.svc = e.newService(nil)
			require.NoError(t, e.svc.Start(ctxT(t, time.Minute)))
			ctx := ctxT(t, time.Minute)
			s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{}), Exposure: sessions.External})
			require.NoError(t, err)
			if tc.refused {
				s = e.waitStatus(s.ID, sessions.StatusError, 30*time.Second)
				assert.Equal(t, "refused: the container would mount hidden test data", s.ErrorReason)
				assert.Empty(t, e.containers(ctx))
				return
			}
			e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)
			holdouts := filepath.Join(e.root, "holdouts")
			for _, c := range e.containers(ctx) {
				info, err := docker(t).ContainerInspect(ctx, c.ID)
				require.NoError(t, err)
				for _, m := range info.Mounts {
					assert.False(t, strings.HasPrefix(m.Source+"/", holdouts+"/") || strings.HasPrefix(holdouts+"/", m.Source+"/"),
						"mount %s overlaps TEST_HOLDOUTS_DIR", m.Source)
				}
			}
		})
	}
}

func TestContainerSpecValidate(t *testing.T) {
	t.Parallel()
	base := sessions.ContainerSpec{Name: "n", Image: "i", Network: "net"}
	tests := []struct {
		name   string
		mounts []sessions.Mount
		ok     bool
	}{
		{name: "no mounts", ok: true},
		{name: "sibling", mounts: []sessions.Mount{{Source: "/data/training"}}, ok: true},
		{name: "same dir", mounts: []sessions.Mount{{Source: "/data/holdouts"}}},
		{name: "trailing slash", mounts: []sessions.Mount{{Source: "/data/holdouts/"}}},
		{name: "inside", mounts: []sessions.Mount{{Source: "/data/holdouts/titanic"}}},
		{name: "above", mounts: []sessions.Mount{{Source: "/data"}}},
		{name: "dot dot", mounts: []sessions.Mount{{Source: "/data/training/../holdouts"}}},
		{name: "prefix but not parent", mounts: []sessions.Mount{{Source: "/data/holdouts-public"}}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			spec.Mounts = tc.mounts
			err := spec.Validate("/data/holdouts")
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, sessions.ErrHoldoutMount)
			}
		})
	}
}

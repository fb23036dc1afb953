package deploy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/standin"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store/testdb"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fwNet is a private session network for the firewall test: its own
// bridge, subnet and chain prefix, so the host's real MedForge networks
// and other tests are never touched.
type fwNet struct {
	t      *testing.T
	cli    *client.Client
	image  string
	name   string
	bridge string
	prefix string
	base   string // a.b.c
	ctl    string // a second network, standing for medforge-control
	ctlIP  string
	byIP   map[string]string // server container id by address
}

func (n *fwNet) ip(last int) string { return fmt.Sprintf("%s.%d", n.base, last) }
func (n *fwNet) subnet() string     { return n.base + ".0/24" }
func (n *fwNet) spec() string {
	return fmt.Sprintf("%s:%s:%s:%s", n.bridge, n.subnet(), n.ip(2), n.ip(3))
}

func newFwNet(t *testing.T) *fwNet {
	t.Helper()
	cli := dockerClient(t)
	ctx := ctxT(t, 5*time.Minute)
	img, err := standin.Build(ctx, cli, root(t))
	if err != nil {
		t.Fatal(err)
	}
	id := randHex(3)
	n := &fwNet{t: t, cli: cli, image: img, name: "mf-fwtest-" + id, bridge: "mffw" + id, prefix: "MFFW" + strings.ToUpper(id)}
	var lastErr error
	for i := 0; i < 8; i++ {
		x, _ := rand.Int(rand.Reader, big.NewInt(200))
		n.base = fmt.Sprintf("10.213.%d", 20+x.Int64())
		_, lastErr = cli.NetworkCreate(ctx, n.name, network.CreateOptions{
			Driver: "bridge", Options: map[string]string{"com.docker.network.bridge.name": n.bridge},
			// Fixed addresses below .128; the session runtime's
			// containers get theirs from the upper half.
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: n.subnet(), Gateway: n.ip(1), IPRange: n.base + ".128/25"}}},
		})
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("create test network: %v", lastErr)
	}
	n.ctl = n.name + "-ctl"
	ctlBase := fmt.Sprintf("10.214.%s", strings.TrimPrefix(n.base, "10.213."))
	if _, err := cli.NetworkCreate(ctx, n.ctl, network.CreateOptions{
		Driver: "bridge", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: ctlBase + ".0/24", Gateway: ctlBase + ".1"}}},
	}); err != nil {
		t.Fatalf("create control network: %v", err)
	}
	n.ctlIP = ctlBase + ".4"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.firewall("remove")
		for _, net := range []string{n.name, n.ctl} {
			if info, err := cli.NetworkInspect(ctx, net, network.InspectOptions{}); err == nil {
				for cid := range info.Containers {
					_ = cli.ContainerRemove(ctx, cid, container.RemoveOptions{Force: true})
				}
			}
			_ = cli.NetworkRemove(ctx, net)
		}
	})
	return n
}

func (n *fwNet) firewall(action string) string {
	n.t.Helper()
	cmd := exec.Command(filepath.Join(root(n.t), "ops", "network", "firewall-setup.sh"), action)
	cmd.Env = append(os.Environ(), "MEDFORGE_FW_NETWORKS="+n.spec(), "MEDFORGE_FW_PREFIX="+n.prefix)
	out, err := cmd.CombinedOutput()
	if err != nil && action != "remove" {
		n.t.Fatalf("firewall-setup.sh %s: %v\n%s", action, err, out)
	}
	return string(out)
}

// server starts a stand-in serving on addr (":8080") at ip on network.
func (n *fwNet) server(name, netName, ip, addr string) {
	n.t.Helper()
	ctx := ctxT(n.t, time.Minute)
	c, err := n.cli.ContainerCreate(ctx, &container.Config{Image: n.image, Env: []string{"MEDFORGE_STANDIN_ADDR=" + addr}},
		&container.HostConfig{}, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
		}}, nil, name)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		n.t.Fatal(err)
	}
	if n.byIP == nil {
		n.byIP = map[string]string{}
	}
	n.byIP[ip] = c.ID
}

// execDial runs the stand-in's dial probe inside a running container.
func (n *fwNet) execDial(id, target string) bool {
	n.t.Helper()
	ctx := ctxT(n.t, time.Minute)
	ex, err := n.cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: []string{"/standin", "dial", target}})
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.cli.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{}); err != nil {
		n.t.Fatal(err)
	}
	for {
		st, err := n.cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			n.t.Fatal(err)
		}
		if !st.Running {
			return st.ExitCode == 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// session starts a real session through the session runtime on the test
// network and returns its IDE's address (ip:8080); the probes exec in its
// container.
func (n *fwNet) session() string {
	t := n.t
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	st := testdb.Fresh(t)
	ws, err := workspace.NewDirectory(filepath.Join(t.TempDir(), "workspaces"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := dockerrt.New(dockerrt.Options{Networks: []dockerrt.NetworkSpec{{Name: n.name}}, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	gp, err := gpu.ParseDeclared("0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sessions.New(sessions.Config{
		Instance: "fwtest-" + randHex(4), Packs: map[string]string{"default": n.image}, ExternalNetwork: n.name,
		MemoryBytes: 128 << 20, PidsLimit: 128, StartTimeout: time.Minute, StopGrace: time.Second, PollInterval: time.Second,
	}, st, gp, ws, rt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	u := testdb.User(t, st, testdb.UserOpts{})
	sess, err := svc.Create(ctx, sessions.CreateRequest{UserID: u.ID, Exposure: sessions.External})
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, err := svc.Get(ctx, sess.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == sessions.StatusRunning {
			break
		}
		if !got.Status.Active() {
			t.Fatalf("session is %s: %s", got.Status, got.ErrorReason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	addr, err := svc.Upstream(ctx, sess.Slug)
	if err != nil {
		t.Fatal(err)
	}
	ip, _, _ := net.SplitHostPort(addr)
	if n.byIP == nil {
		n.byIP = map[string]string{}
	}
	n.byIP[ip] = sessions.ContainerName(sess.Slug)
	return ip
}

// dial runs a short-lived stand-in at ip on the test network that tries a
// TCP connection to target; it reports whether the connection opened.
func (n *fwNet) dial(ip, target string) bool {
	n.t.Helper()
	if id, ok := n.byIP[ip]; ok {
		return n.execDial(id, target)
	}
	ctx := ctxT(n.t, time.Minute)
	c, err := n.cli.ContainerCreate(ctx, &container.Config{Image: n.image, Cmd: []string{"dial", target}},
		&container.HostConfig{}, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			n.name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
		}}, nil, "")
	if err != nil {
		n.t.Fatal(err)
	}
	defer func() { _ = n.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) }()
	wait, errc := n.cli.ContainerWait(ctx, c.ID, container.WaitConditionNextExit)
	if err := n.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		n.t.Fatal(err)
	}
	select {
	case st := <-wait:
		return st.StatusCode == 0
	case err := <-errc:
		n.t.Fatal(err)
	}
	return false
}

// TestFirewallEastWest applies ops/network/firewall-setup.sh to a private
// session network holding a real session (started by the session runtime)
// and probes it with real containers: before, everything
// connects; with the rules, only the Caddy address reaches a session's
// :8080 and sessions reach neither each other, the API, the control
// network nor host ports; after remove, the network is as before.
func TestFirewallEastWest(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the firewall test applies iptables rules: run it as root (the test runner is root)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatal("iptables is missing (ops/dev/deps.sh installs it)")
	}
	n := newFwNet(t)
	session := n.session() // a real session, started by the session runtime
	peer, api := n.ip(11), n.ip(3)
	n.server(n.name+"-peer", n.name, peer, ":8080")
	n.server(n.name+"-api", n.name, api, ":8000")
	n.server(n.name+"-db", n.ctl, n.ctlIP, ":3306")
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostPort := fmt.Sprintf("%s:%d", n.ip(1), ln.Addr().(*net.TCPAddr).Port)

	type probe struct {
		name, from, to string
		before, with   bool
	}
	probes := []probe{
		{"caddy to a session's :8080", n.ip(2), session + ":8080", true, true},
		{"api probe to a session's :8080", api, session + ":8080", true, true},
		{"another container to a session's :8080", n.ip(20), session + ":8080", true, false},
		{"a session to another session's :8080", session, peer + ":8080", true, false},
		{"a session to the API", session, api + ":8000", true, false},
		{"a session to a host port", session, hostPort, true, false},
		{"a session to the control network", session, n.ctlIP + ":3306", false, false},
		{"caddy to a session's other port", n.ip(2), session + ":22", false, false},
	}
	check := func(phase string, want func(p probe) bool) {
		for _, p := range probes {
			if got := n.dial(p.from, p.to); got != want(p) {
				t.Errorf("%s: %s (%s -> %s) connected=%v, want %v", phase, p.name, p.from, p.to, got, want(p))
			}
		}
	}
	check("before", func(p probe) bool { return p.before })
	n.firewall("apply")
	n.firewall("apply") // idempotent
	out := n.firewall("check")
	if strings.Contains(out, "UNVERIFIED") || strings.Count(out, "VERIFIED") != 6 {
		t.Errorf("check after apply:\n%s", out)
	}
	check("with the rules", func(p probe) bool { return p.with })
	n.firewall("remove")
	if out := n.firewall("check"); !strings.Contains(out, "UNVERIFIED") {
		t.Errorf("check after remove:\n%s", out)
	}
	check("after remove", func(p probe) bool { return p.before })
}

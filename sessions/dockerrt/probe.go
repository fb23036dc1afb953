package dockerrt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/medforge/medforge/sessions"
)

// LabelProbe marks the throwaway containers of the isolation probe; its
// value is the session instance. Recovery never sees them (they carry no
// session labels), and each probe removes what an earlier, interrupted one
// left behind.
const LabelProbe = "medforge.probe"

// ProbeOptions configure an IsolationProbe.
type ProbeOptions struct {
	// Image holds the medforge binary at Entrypoint (the MedForge image).
	Image      string
	Entrypoint string
	// Networks are the session networks probed, each on its own.
	Networks []string
	// Instance scopes the probe containers (LabelProbe's value).
	Instance string
	// DialTimeout is how long the dialling container waits for a
	// connection before calling the port unreachable (default 2s).
	DialTimeout time.Duration
}

// IsolationProbe checks the east-west rule by experiment, on each session
// network: a listener container serves the IDE port (8080); this process
// (which the rule lets through) must reach it, else the probe cannot judge;
// then a second container on the same network dials it, as one session
// would dial another. Reaching it means the rule is not in force. Both
// containers run with every capability dropped, no new privileges, small
// limits, and are removed afterwards.
type IsolationProbe struct {
	d    *Docker
	opts ProbeOptions
}

var _ sessions.IsolationChecker = (*IsolationProbe)(nil)

// NewIsolationProbe builds the probe on d's engine.
func (d *Docker) NewIsolationProbe(opts ProbeOptions) (*IsolationProbe, error) {
	if opts.Image == "" {
		return nil, errors.New("isolation probe: no image (MEDFORGE_ISOLATION_PROBE_IMAGE)")
	}
	if opts.Entrypoint == "" {
		opts.Entrypoint = "/usr/local/bin/medforge"
	}
	if len(opts.Networks) == 0 {
		return nil, errors.New("isolation probe: no session network to probe")
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	return &IsolationProbe{d: d, opts: opts}, nil
}

// Method says how the verdict is reached.
func (p *IsolationProbe) Method() string {
	return "probe between two containers on " + strings.Join(p.opts.Networks, ", ")
}

// CheckIsolation runs the probe on every network; nil means a session
// container could not reach another's :8080 on any of them.
func (p *IsolationProbe) CheckIsolation(ctx context.Context) error {
	p.cleanup(ctx)
	defer p.cleanup(context.WithoutCancel(ctx))
	for _, n := range p.opts.Networks {
		if err := p.probe(ctx, n); err != nil {
			return fmt.Errorf("network %s: %w", n, err)
		}
	}
	return nil
}

// ErrReachable is the probe's finding that the rule is not in force.
var ErrReachable = errors.New("a session container reached another session container's :8080")

func (p *IsolationProbe) probe(ctx context.Context, netName string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	base := "mf-probe-" + hex.EncodeToString(b[:])
	lid, err := p.run(ctx, base+"-listen", netName, "listen", "0.0.0.0:"+IDEPort)
	if err != nil {
		return err
	}
	addr, err := p.d.Address(ctx, lid)
	if err != nil {
		return err
	}
	// The positive control: this process is allowed through, so the
	// listener must answer it; otherwise a blocked dial would prove nothing.
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		lastErr = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cannot judge: the probe listener %s does not answer this process either (%v); is the API attached to this network at its allowed address?", addr, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	did, err := p.run(ctx, base+"-dial", netName, "dial", "-timeout", p.opts.DialTimeout.String(), addr)
	if err != nil {
		return err
	}
	waitC, errC := p.d.cli.ContainerWait(ctx, did, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		switch w.StatusCode {
		case 0:
			return ErrReachable
		case 3:
			return nil
		}
		return fmt.Errorf("cannot judge: the dialling probe exited %d: %s", w.StatusCode, p.logs(ctx, did))
	case err := <-errC:
		return unavailable(fmt.Errorf("wait for the dialling probe: %w", err))
	}
}

// run starts one probe container running `medforge netprobe <args>`.
func (p *IsolationProbe) run(ctx context.Context, name, netName string, args ...string) (string, error) {
	pids := int64(64)
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(netName),
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		ReadonlyRootfs: true,
		Resources:      container.Resources{Memory: 64 << 20, MemorySwap: 64 << 20, NanoCPUs: 5e8, PidsLimit: &pids},
	}
	cfg := &container.Config{
		Image:      p.opts.Image,
		Entrypoint: []string{p.opts.Entrypoint},
		Cmd:        append([]string{"netprobe"}, args...),
		User:       "65532:65532",
		Labels:     map[string]string{LabelProbe: p.opts.Instance},
	}
	created, err := p.d.cli.ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{
		EndpointsConfig: map[string]*network.EndpointSettings{netName: {}},
	}, nil, name)
	if err != nil {
		return "", unavailable(fmt.Errorf("create probe container: %w", err))
	}
	if err := p.d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return "", unavailable(fmt.Errorf("start probe container: %w", err))
	}
	return created.ID, nil
}

func (p *IsolationProbe) logs(ctx context.Context, id string) string {
	rc, err := p.d.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 2048))
	// Docker's multiplexed stream has 8-byte frame headers; keep the text.
	return strings.Map(func(r rune) rune {
		if r < 32 && r != '\n' {
			return -1
		}
		return r
	}, strings.TrimSpace(string(b)))
}

// cleanup removes every probe container of this instance.
func (p *IsolationProbe) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := p.d.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProbe+"="+p.opts.Instance))})
	if err != nil {
		return
	}
	for _, c := range list {
		_ = p.d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

package dockerrt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/medforge/medforge/sessions"
)

// Network defaults of the Data Plane contract.
const (
	ExternalNetwork = "medforge-external-sessions"
	InternalNetwork = "medforge-internal-sessions"
	// ExternalSubnet is fixed so that Caddy (172.30.0.2) and the API
	// (172.30.0.3) keep their addresses.
	ExternalSubnet  = "172.30.0.0/24"
	ExternalGateway = "172.30.0.1"
	InternalSubnet  = "172.30.1.0/24"
	InternalGateway = "172.30.1.1"
	// Session containers get addresses from the upper half only, so the
	// fixed addresses at the bottom (.2 Caddy, .3 API) can never be taken
	// by a session while Caddy or the API is being recreated.
	ExternalIPRange = "172.30.0.128/25"
	InternalIPRange = "172.30.1.128/25"
	// IDEPort is where every pack's IDE listens.
	IDEPort = "8080"
)

// NetworkSpec describes one session network.
type NetworkSpec struct {
	Name     string
	Subnet   string // "" lets Docker choose
	Gateway  string
	IPRange  string // dynamic addresses come from here; "" is the whole subnet
	Internal bool   // no egress
	Bridge   string // host bridge interface name; "" lets Docker choose
}

// Options configure the Docker runtime.
type Options struct {
	// Host is the engine address (unix:///var/run/docker.sock); empty means
	// the environment's (DOCKER_HOST) or Docker's default.
	Host string
	// Networks are created by EnsureNetworks; defaults are the two session
	// networks of the contract.
	Networks []NetworkSpec
	// ForbiddenDir is TEST_HOLDOUTS_DIR: a spec that mounts it, or anything
	// inside or above it, is refused.
	ForbiddenDir string
	// CallTimeout bounds each engine call that has no deadline of its own.
	CallTimeout time.Duration
	// NoHostFirewall skips the iptables INPUT guard of internal networks
	// (see guardInput). Only for hosts where the operator's firewall does
	// the same; without either, internal sessions reach host services.
	NoHostFirewall bool
}

// DefaultNetworks are the contract's session networks.
func DefaultNetworks() []NetworkSpec {
	return []NetworkSpec{
		{Name: ExternalNetwork, Subnet: ExternalSubnet, Gateway: ExternalGateway, IPRange: ExternalIPRange, Bridge: "mf-ext0"},
		{Name: InternalNetwork, Subnet: InternalSubnet, Gateway: InternalGateway, IPRange: InternalIPRange, Internal: true, Bridge: "mf-int0"},
	}
}

// NamedNetworks are the contract's networks when the names are the
// contract's; other names (a Compose project's own networks) are used as
// they exist, or created with addresses Docker chooses.
func NamedNetworks(external, internal string) []NetworkSpec {
	if external == ExternalNetwork && internal == InternalNetwork {
		return DefaultNetworks()
	}
	return []NetworkSpec{{Name: external}, {Name: internal, Internal: true}}
}

// Docker runs session containers on a Docker engine. It is safe for
// concurrent use.
type Docker struct {
	cli  *client.Client
	opts Options

	ncpu atomic.Int64 // the engine's CPU count, once known
}

var (
	_ sessions.Runtime     = (*Docker)(nil)
	_ sessions.ExitWatcher = (*Docker)(nil)
)

// New connects lazily to the engine (nothing is dialled until the first
// call) and negotiates the API version on first use.
func New(opts Options) (*Docker, error) {
	if opts.Networks == nil {
		opts.Networks = DefaultNetworks()
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	copts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		copts = append(copts, client.WithHost(opts.Host))
	}
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Docker{cli: cli, opts: opts}, nil
}

// Client is the underlying Docker client (tests and the stand-in image
// builder use it).
func (d *Docker) Client() *client.Client { return d.cli }

// Close releases the client's connections.
func (d *Docker) Close() error { return d.cli.Close() }

func (d *Docker) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.opts.CallTimeout)
}

// unavailable marks errors that mean the engine did not answer.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", sessions.ErrRuntimeUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %w", sessions.ErrRuntimeUnavailable, err)
	}
	return err
}

// Ping checks that the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	if _, err := d.cli.Ping(ctx); err != nil {
		return unavailable(fmt.Errorf("ping docker: %w", err))
	}
	return nil
}

// EnsureNetworks creates each configured network when missing. An existing
// network is kept as is, but an internal network that turns out not to be
// internal is an error: containers on it would have egress.
func (d *Docker) EnsureNetworks(ctx context.Context) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	for _, n := range d.opts.Networks {
		if err := d.ensureNetwork(ctx, n); err != nil {
			return unavailable(err)
		}
		if n.Internal && !d.opts.NoHostFirewall {
			if err := d.guardInput(ctx, n.Name); err != nil {
				return fmt.Errorf("guard internal network %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

func (d *Docker) ensureNetwork(ctx context.Context, n NetworkSpec) error {
	got, err := d.cli.NetworkInspect(ctx, n.Name, network.InspectOptions{})
	if err == nil {
		if n.Internal && !got.Internal {
			return fmt.Errorf("network %s exists but is not internal: remove it so it can be recreated without egress", n.Name)
		}
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", n.Name, err)
	}
	opts := network.CreateOptions{
		Driver:   "bridge",
		Internal: n.Internal,
		Labels:   map[string]string{sessions.LabelManaged: "true"},
	}
	if n.Bridge != "" {
		opts.Options = map[string]string{"com.docker.network.bridge.name": n.Bridge}
	}
	if n.Subnet != "" {
		opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange}}}
	}
	if _, err := d.cli.NetworkCreate(ctx, n.Name, opts); err != nil {
		// Lost a race with another process creating it: fine.
		if _, again := d.cli.NetworkInspect(ctx, n.Name, network.InspectOptions{}); again == nil {
			return nil
		}
		return fmt.Errorf("create network %s: %w", n.Name, err)
	}
	return nil
}

// Start creates and starts the container. The spec is validated against
// ForbiddenDir first; a CPU limit above the host's CPU count is capped to
// it. When the start fails the container is removed.
func (d *Docker) Start(ctx context.Context, spec sessions.ContainerSpec) (string, error) {
	if err := spec.Validate(d.opts.ForbiddenDir); err != nil {
		return "", err
	}
	if spec.Labels[sessions.LabelManaged] != "true" {
		return "", errors.New("session containers must carry the medforge.managed=true label")
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	spec.NanoCPUs = d.clampCPUs(ctx, spec.NanoCPUs)
	init := true
	pids := spec.PidsLimit
	hc := &container.HostConfig{
		NetworkMode:   container.NetworkMode(spec.Network),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Init:          &init,
		CapDrop:       []string{"ALL"},
		SecurityOpt:   []string{"no-new-privileges:true"},
		Resources: container.Resources{
			NanoCPUs: spec.NanoCPUs,
			Memory:   spec.MemoryBytes,
		},
	}
	if pids > 0 {
		hc.Resources.PidsLimit = &pids
	}
	if spec.MemoryBytes > 0 {
		hc.Resources.MemorySwap = spec.MemoryBytes // no swap beyond the limit
	}
	if spec.GPUUUID != "" {
		hc.Resources.DeviceRequests = []container.DeviceRequest{{
			Driver:       "nvidia",
			DeviceIDs:    []string{spec.GPUUUID},
			Capabilities: [][]string{{"gpu"}},
		}}
	}
	for _, m := range spec.Mounts {
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate},
		})
	}
	cfg := &container.Config{
		Image:        spec.Image,
		Labels:       spec.Labels,
		Env:          spec.Env,
		User:         spec.User,
		Hostname:     spec.Name,
		ExposedPorts: nil,
	}
	created, err := d.cli.ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{
		EndpointsConfig: map[string]*network.EndpointSettings{spec.Network: {}},
	}, nil, spec.Name)
	if err != nil {
		return "", unavailable(fmt.Errorf("create container %s: %w", spec.Name, err))
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.CallTimeout)
		defer rcancel()
		_ = d.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
		return "", unavailable(fmt.Errorf("start container %s: %w", spec.Name, err))
	}
	return created.ID, nil
}

// clampCPUs caps a CPU limit at the engine's CPU count: Docker refuses a
// limit above it, and a limit equal to it means "all of this host".
func (d *Docker) clampCPUs(ctx context.Context, nano int64) int64 {
	if nano <= 0 {
		return nano
	}
	n := d.ncpu.Load()
	if n == 0 {
		info, err := d.cli.Info(ctx)
		if err != nil || info.NCPU <= 0 {
			return nano
		}
		n = int64(info.NCPU)
		d.ncpu.Store(n)
	}
	if max := n * 1e9; nano > max {
		return max
	}
	return nano
}

// Address is <ip>:8080 on the container's first network.
func (d *Docker) Address(ctx context.Context, id string) (string, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", unavailable(fmt.Errorf("inspect container %s: %w", id, err))
	}
	if info.State == nil || !info.State.Running {
		// A stopped container's address is free for another one.
		return "", fmt.Errorf("container %s is not running", id)
	}
	if info.NetworkSettings == nil {
		return "", fmt.Errorf("container %s has no network settings", id)
	}
	names := make([]string, 0, len(info.NetworkSettings.Networks))
	for n := range info.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ip := info.NetworkSettings.Networks[n].IPAddress; ip != "" {
			return net.JoinHostPort(ip, IDEPort), nil
		}
	}
	return "", fmt.Errorf("container %s has no IP address yet", id)
}

// Stop stops the container with grace before the kill.
func (d *Docker) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Round(time.Second) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, grace+d.opts.CallTimeout)
	defer cancel()
	err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return unavailable(fmt.Errorf("stop container %s: %w", id, err))
}

// Remove force-removes the container (anonymous volumes included).
func (d *Docker) Remove(ctx context.Context, id string) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) || isRemovalInProgress(err) {
		return nil
	}
	return unavailable(fmt.Errorf("remove container %s: %w", id, err))
}

func isRemovalInProgress(err error) bool {
	return strings.Contains(err.Error(), "is already in progress")
}

// List returns all containers, running or not, carrying every label of
// match; the medforge.managed label is always required.
func (d *Docker) List(ctx context.Context, match map[string]string) ([]sessions.Container, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	args := filters.NewArgs(filters.Arg("label", sessions.LabelManaged+"=true"))
	for k, v := range match {
		args.Add("label", k+"="+v)
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, unavailable(fmt.Errorf("list containers: %w", err))
	}
	out := make([]sessions.Container, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, sessions.Container{ID: c.ID, Name: name, Labels: c.Labels, Running: c.State == "running"})
	}
	return out, nil
}

// WatchExits calls fn each time a container carrying every label of match
// (and medforge.managed) dies or is destroyed, until ctx ends or the event
// stream breaks (the error says why; callers re-subscribe). It lets
// recovery finalize a vanished session at once instead of at the next poll.
func (d *Docker) WatchExits(ctx context.Context, match map[string]string, fn func(id string)) error {
	args := filters.NewArgs(
		filters.Arg("type", "container"),
		filters.Arg("event", "die"),
		filters.Arg("event", "destroy"),
		filters.Arg("label", sessions.LabelManaged+"=true"),
	)
	for k, v := range match {
		args.Add("label", k+"="+v)
	}
	msgs, errs := d.cli.Events(ctx, events.ListOptions{Filters: args})
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return unavailable(fmt.Errorf("docker events: %w", err))
		case m := <-msgs:
			fn(m.Actor.ID)
		}
	}
}

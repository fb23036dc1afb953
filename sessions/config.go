package sessions

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env lists the session runtime's environment variables with their
// defaults and meaning; docs/sessions.md shows the same table.
var Env = []struct{ Name, Default, Doc string }{
	{"MEDFORGE_SESSIONS", "auto", "on, off, or auto (on when the Docker engine answers at start; otherwise the endpoints are not mounted and a warning says why)."},
	{"MEDFORGE_GPUS", "", "GPU provider: empty uses NVML when libnvidia-ml loads, else no GPU; none, or a declared list such as 0,1,2,3 for hosts without NVIDIA (shown as declared)."},
	{"MEDFORGE_PACK_IMAGE", "", "Image of the default pack, digest-pinned (image@sha256:...) unless the domain is local; empty builds and uses the stand-in IDE (local runs only)."},
	{"MEDFORGE_PACKS", "", "More allowed packs: name=image,name2=image2."},
	{"MEDFORGE_WORKSPACES", "", "zfs:<parent dataset> or dir:<path>; empty uses ZFS tank/medforge/workspaces when present, else directories under <run dir>/workspaces."},
	{"MEDFORGE_WORKSPACE_QUOTA", "", "ZFS quota of each workspace (e.g. 50G); empty for none."},
	{"MEDFORGE_DOCKER_HOST", "", "Docker engine address; empty uses DOCKER_HOST or the default socket."},
	{"MEDFORGE_SESSION_INSTANCE", "", "Label value scoping which containers this process manages; empty uses the database name, so two databases on one host never reconcile each other's containers."},
	{"MEDFORGE_SESSION_CPUS", "8", "CPUs per session container (0 for no limit)."},
	{"MEDFORGE_SESSION_MEMORY", "32g", "Memory per session container (bytes, or with k/m/g suffix; 0 for no limit)."},
	{"MEDFORGE_SESSION_PIDS", "4096", "Process limit per session container (0 for no limit)."},
	{"MEDFORGE_SESSION_START_TIMEOUT", "2m", "How long a session may stay starting before it becomes error."},
	{"MEDFORGE_SESSION_STOP_GRACE", "10s", "How long a stopping container gets before it is killed."},
	{"MEDFORGE_SESSION_POLL_INTERVAL", "5s", "Recovery loop period."},
	{"SESSION_POLL_BACKOFF_MAX_SECONDS", "60", "Cap of the recovery loop's exponential backoff, in seconds (MEDFORGE_ prefix also accepted)."},
	{"MEDFORGE_SESSION_EXTERNAL_NETWORK", "medforge-external-sessions", "Docker network of EXTERNAL sessions (created when missing; the Compose stack creates it with the fixed addresses the firewall trusts)."},
	{"MEDFORGE_SESSION_INTERNAL_NETWORK", "medforge-internal-sessions", "Docker network of INTERNAL sessions, without egress."},
	{"MEDFORGE_SESSION_HOST_GUARD", "iptables", "Who keeps internal sessions off host ports: iptables (this process adds an INPUT rule; it must run in the host's network namespace) or host (ops/network/firewall-setup.sh on the host does it, as in the Compose stack)."},
	{"MEDFORGE_ISOLATION_CHECK", "auto", "East-west check (sessions cannot reach each other's :8080): probe (two throwaway containers per session network, at start and every MEDFORGE_ISOLATION_PROBE_INTERVAL; creates answer 503 and /healthz is degraded while it fails), off, or auto (probe outside local runs)."},
	{"MEDFORGE_ISOLATION_PROBE_IMAGE", "", "Image with the medforge binary that the probe containers run (the MedForge image); required when the check is on."},
	{"MEDFORGE_ISOLATION_PROBE_INTERVAL", "5m", "How often the east-west probe runs again."},
	{"MEDFORGE_SESSION_IDLE_TIMEOUT", "0", "Stop running sessions without a routed request for this long (0 disables)."},
	{"MEDFORGE_SESSION_MAX_LIFETIME", "0", "Stop running sessions this long after they started (0 disables)."},
}

// Settings are the session runtime's settings read from the environment;
// cmd/medforge turns them into providers and a Service.
type Settings struct {
	Mode        string // on, off, auto
	GPUs        string
	PackImage   string
	Packs       map[string]string
	Workspaces  string
	Quota       string
	DockerHost  string
	Config      Config
	BackoffMaxS int
	// HostGuard is iptables or host (MEDFORGE_SESSION_HOST_GUARD).
	HostGuard string
	// IsolationCheck is probe, off or auto; ProbeImage and ProbeInterval
	// configure the probe.
	IsolationCheck string
	ProbeImage     string
	ProbeInterval  time.Duration
}

// LoadSettings reads the variables in Env through lookup (os.LookupEnv when
// nil). Every bad value is reported, each naming its variable.
func LoadSettings(lookup func(string) (string, bool)) (Settings, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(name string) string {
		if v, ok := lookup(name); ok {
			return strings.TrimSpace(v)
		}
		for _, e := range Env {
			if e.Name == name {
				return e.Default
			}
		}
		return ""
	}
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, a...)))
	}
	dur := func(name string) time.Duration {
		v := get(name)
		if v == "0" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(name, "want a duration such as 30s or 2m, got %q", v)
		}
		return d
	}
	s := Settings{
		Mode: strings.ToLower(get("MEDFORGE_SESSIONS")), GPUs: get("MEDFORGE_GPUS"), PackImage: get("MEDFORGE_PACK_IMAGE"),
		Workspaces: get("MEDFORGE_WORKSPACES"), Quota: get("MEDFORGE_WORKSPACE_QUOTA"), DockerHost: get("MEDFORGE_DOCKER_HOST"),
		Packs: map[string]string{},
	}
	s.Config.ExternalNetwork = get("MEDFORGE_SESSION_EXTERNAL_NETWORK")
	s.Config.InternalNetwork = get("MEDFORGE_SESSION_INTERNAL_NETWORK")
	if s.Config.ExternalNetwork == "" || s.Config.InternalNetwork == "" || s.Config.ExternalNetwork == s.Config.InternalNetwork {
		bad("MEDFORGE_SESSION_EXTERNAL_NETWORK", "the external and internal session networks need two different names, got %q and %q", s.Config.ExternalNetwork, s.Config.InternalNetwork)
	}
	s.HostGuard = strings.ToLower(get("MEDFORGE_SESSION_HOST_GUARD"))
	if s.HostGuard != "iptables" && s.HostGuard != "host" {
		bad("MEDFORGE_SESSION_HOST_GUARD", "want iptables or host, got %q", s.HostGuard)
	}
	s.IsolationCheck = strings.ToLower(get("MEDFORGE_ISOLATION_CHECK"))
	if s.IsolationCheck != "probe" && s.IsolationCheck != "off" && s.IsolationCheck != "auto" {
		bad("MEDFORGE_ISOLATION_CHECK", "want probe, off or auto, got %q", s.IsolationCheck)
	}
	s.ProbeImage = get("MEDFORGE_ISOLATION_PROBE_IMAGE")
	s.ProbeInterval = dur("MEDFORGE_ISOLATION_PROBE_INTERVAL")
	if s.Mode != "on" && s.Mode != "off" && s.Mode != "auto" {
		bad("MEDFORGE_SESSIONS", "want on, off or auto, got %q", s.Mode)
	}
	if v := get("MEDFORGE_PACKS"); v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, img, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" || img == "" || k == "default" {
				bad("MEDFORGE_PACKS", "want name=image pairs (default is MEDFORGE_PACK_IMAGE), got %q", kv)
				continue
			}
			s.Packs[k] = img
		}
	}
	c := &s.Config
	c.Instance = get("MEDFORGE_SESSION_INSTANCE")
	if cpus, err := strconv.ParseFloat(get("MEDFORGE_SESSION_CPUS"), 64); err != nil || cpus < 0 {
		bad("MEDFORGE_SESSION_CPUS", "want a number of CPUs, got %q", get("MEDFORGE_SESSION_CPUS"))
	} else {
		c.NanoCPUs = int64(cpus * 1e9)
	}
	if m, err := parseBytes(get("MEDFORGE_SESSION_MEMORY")); err != nil {
		bad("MEDFORGE_SESSION_MEMORY", "%v", err)
	} else {
		c.MemoryBytes = m
	}
	if p, err := strconv.ParseInt(get("MEDFORGE_SESSION_PIDS"), 10, 64); err != nil || p < 0 {
		bad("MEDFORGE_SESSION_PIDS", "want a count, got %q", get("MEDFORGE_SESSION_PIDS"))
	} else {
		c.PidsLimit = p
	}
	c.StartTimeout = dur("MEDFORGE_SESSION_START_TIMEOUT")
	c.StopGrace = dur("MEDFORGE_SESSION_STOP_GRACE")
	c.PollInterval = dur("MEDFORGE_SESSION_POLL_INTERVAL")
	c.IdleTimeout = dur("MEDFORGE_SESSION_IDLE_TIMEOUT")
	c.MaxLifetime = dur("MEDFORGE_SESSION_MAX_LIFETIME")
	backoffName := "SESSION_POLL_BACKOFF_MAX_SECONDS"
	if _, ok := lookup("MEDFORGE_" + backoffName); ok {
		backoffName = "MEDFORGE_" + backoffName
	}
	if n, err := strconv.Atoi(get(backoffName)); err != nil || n < 1 {
		bad(backoffName, "want a whole number of seconds >= 1, got %q", get(backoffName))
	} else {
		s.BackoffMaxS = n
		c.BackoffMax = time.Duration(n) * time.Second
	}
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

// parseBytes reads 1073741824, 512m or 32g.
func parseBytes(v string) (int64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "k"):
		mult, v = 1<<10, strings.TrimSuffix(v, "k")
	case strings.HasSuffix(v, "m"):
		mult, v = 1<<20, strings.TrimSuffix(v, "m")
	case strings.HasSuffix(v, "g"):
		mult, v = 1<<30, strings.TrimSuffix(v, "g")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want bytes such as 34359738368 or 32g, got %q", v)
	}
	return n * mult, nil
}

// DigestPinned reports whether image names an image by digest
// (repo@sha256:<64 hex>), as production requires, or by its local image id
// (sha256:<64 hex>, the digest of its configuration, which names every
// layer's digest): a host without a registry has no repository digests.
func DigestPinned(image string) bool {
	if id, ok := strings.CutPrefix(image, "sha256:"); ok {
		image = "@sha256:" + id
	}
	_, digest, ok := strings.Cut(image, "@sha256:")
	if !ok || len(digest) != 64 {
		return false
	}
	for _, r := range digest {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

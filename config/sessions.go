package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sessions holds the session runtime's settings (docs/sessions.md);
// cmd/medforge turns them into providers and a sessions.Config.
type Sessions struct {
	// Runtime is docker (the default) or kubernetes.
	Runtime string
	// Kube holds the Kubernetes runtime's settings.
	Kube KubeSessions
	// Mode is on, off or auto (on when the Docker engine answers).
	Mode string
	// GPUs is the GPU provider: empty (NVML when present), none, or a
	// declared list such as 0,1,2,3.
	GPUs string
	// PackImage is the default pack's image, Packs more allowed packs by name.
	PackImage string
	Packs     map[string]string
	// Workspaces is zfs:<dataset>, dir:<path> or empty (auto);
	// WorkspaceQuota the ZFS quota of each workspace.
	Workspaces     string
	WorkspaceQuota string
	// DockerHost is the Docker engine's address (empty: the default).
	DockerHost string
	// Instance scopes which containers this process manages (empty: the
	// database name).
	Instance string
	// Limits per session container; zero means unlimited.
	NanoCPUs    int64
	MemoryBytes int64
	PidsLimit   int64
	// StartTimeout, StopGrace, PollInterval and BackoffMax time the
	// lifecycle and the recovery loop; IdleTimeout and MaxLifetime stop
	// sessions (zero disables either).
	StartTimeout time.Duration
	StopGrace    time.Duration
	PollInterval time.Duration
	BackoffMax   time.Duration
	IdleTimeout  time.Duration
	MaxLifetime  time.Duration
	// ExternalNetwork and InternalNetwork are the session networks' names.
	ExternalNetwork string
	InternalNetwork string
	// HostGuard is who keeps internal sessions off host ports: iptables
	// (this process) or host (the host firewall).
	HostGuard string
	// IsolationCheck is probe, off or auto; ProbeImage and ProbeInterval
	// configure the east-west probe.
	IsolationCheck string
	ProbeImage     string
	ProbeInterval  time.Duration
	// GPUBusyPercent is the GPU utilisation that counts as activity for
	// idle culling; WarnBefore how long before a stop the session warns;
	// MaxExtension the most a user may extend a session, once.
	GPUBusyPercent int
	WarnBefore     time.Duration
	MaxExtension   time.Duration
	// Snapshot retention per user (zero disables a rule).
	SnapshotKeepLast   int
	SnapshotMaxAge     time.Duration
	SnapshotQuotaBytes int64
}

// KubeSessions are the Kubernetes runtime's settings (MEDFORGE_KUBE_*,
// docs/sessions.md "Kubernetes runtime").
type KubeSessions struct {
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster account.
	Kubeconfig string
	// Namespace is where the API and Caddy run.
	Namespace string
	// StorageClass and SnapshotClass of workspaces ("" for the defaults).
	StorageClass  string
	SnapshotClass string
	// WorkspaceSize and EphemeralStorage are Kubernetes quantities.
	WorkspaceSize    string
	EphemeralStorage string
	// GPUNodeSelector limits the GPU inventory to some nodes.
	GPUNodeSelector string
	// TrainingDataClaim and PublicEvalDataClaim are PVCs (in both session
	// namespaces) mounted read-only at /data/training and
	// /data/public-eval; empty mounts nothing there. HoldoutsClaim names
	// the hidden test data's PVC, which a data claim may never be.
	TrainingDataClaim   string
	PublicEvalDataClaim string
	HoldoutsClaim       string
	// UnschedulableGrace is how long a session Pod may stay Unschedulable
	// before the session goes back to the waitlist; UnschedulableHold how
	// long its GPU is then held back from allocation.
	UnschedulableGrace time.Duration
	UnschedulableHold  time.Duration
}

// sessionSettings are the session runtime's rows of Settings.
var sessionSettings = []Setting{
	{Env: "MEDFORGE_RUNTIME", Default: "docker",
		Doc: "Session runtime: docker (one Docker engine) or kubernetes (Pods on a cluster; docs/sessions.md, Kubernetes runtime).",
		apply: func(c *Config, v string) error {
			c.Sessions.Runtime = strings.ToLower(v)
			if c.Sessions.Runtime != "docker" && c.Sessions.Runtime != "kubernetes" {
				return errors.New("must be docker or kubernetes")
			}
			return nil
		}},
	{Env: "MEDFORGE_KUBECONFIG", Default: "",
		Doc:   "Kubernetes runtime: kubeconfig file; empty uses the in-cluster service account.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.Kubeconfig = v; return nil }},
	{Env: "MEDFORGE_KUBE_NAMESPACE", Default: "medforge",
		Doc:   "Kubernetes runtime: namespace of MedForge's API and Caddy, the only peers allowed to reach a session's :8080.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.Namespace = v; return nil }},
	{Env: "MEDFORGE_KUBE_STORAGE_CLASS", Default: "",
		Doc:   "Kubernetes runtime: storage class of workspace PVCs; empty uses the cluster's default.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.StorageClass = v; return nil }},
	{Env: "MEDFORGE_KUBE_WORKSPACE_SIZE", Default: "50Gi",
		Doc:   "Kubernetes runtime: size of each workspace PVC (a Kubernetes quantity).",
		apply: func(c *Config, v string) error { c.Sessions.Kube.WorkspaceSize = v; return nil }},
	{Env: "MEDFORGE_KUBE_SNAPSHOT_CLASS", Default: "",
		Doc:   "Kubernetes runtime: VolumeSnapshotClass of stop snapshots; empty uses the default class.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.SnapshotClass = v; return nil }},
	{Env: "MEDFORGE_KUBE_EPHEMERAL_STORAGE", Default: "20Gi",
		Doc:   "Kubernetes runtime: ephemeral-storage limit of each session Pod (a Kubernetes quantity).",
		apply: func(c *Config, v string) error { c.Sessions.Kube.EphemeralStorage = v; return nil }},
	{Env: "MEDFORGE_KUBE_GPU_NODE_SELECTOR", Default: "",
		Doc:   "Kubernetes runtime: label selector limiting the GPU inventory to some nodes; empty takes every node with allocatable nvidia.com/gpu.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.GPUNodeSelector = v; return nil }},
	{Env: "MEDFORGE_KUBE_TRAINING_DATA_CLAIM", Default: "",
		Doc:   "Kubernetes runtime: PVC of the public training data, in both session namespaces, mounted read-only at /data/training in every session Pod; empty mounts nothing.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.TrainingDataClaim = v; return nil }},
	{Env: "MEDFORGE_KUBE_PUBLIC_EVAL_DATA_CLAIM", Default: "",
		Doc:   "Kubernetes runtime: PVC of the public evaluation data, in both session namespaces, mounted read-only at /data/public-eval in every session Pod; empty mounts nothing.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.PublicEvalDataClaim = v; return nil }},
	{Env: "MEDFORGE_KUBE_UNSCHEDULABLE_GRACE", Default: "20s",
		Doc: "Kubernetes runtime: how long a session Pod may stay Unschedulable (GPU capacity taken by Pods MedForge does not manage) before the session goes back to the waitlist.",
		apply: func(c *Config, v string) (err error) {
			c.Sessions.Kube.UnschedulableGrace, err = parseDuration(v)
			return
		}},
	{Env: "MEDFORGE_KUBE_UNSCHEDULABLE_HOLD", Default: "60s",
		Doc: "Kubernetes runtime: how long the GPU of a session sent back to the waitlist as Unschedulable is held back from allocation (shown on the admin GPU page).",
		apply: func(c *Config, v string) (err error) {
			c.Sessions.Kube.UnschedulableHold, err = parseDuration(v)
			return
		}},
	{Env: "MEDFORGE_KUBE_HOLDOUTS_CLAIM", Default: "medforge-holdouts",
		Doc:   "Kubernetes runtime: PVC name of the hidden test holdouts; a session data claim of this name is refused at start, so holdouts never reach a session Pod.",
		apply: func(c *Config, v string) error { c.Sessions.Kube.HoldoutsClaim = v; return nil }},
	{Env: "MEDFORGE_SESSIONS", Default: "auto",
		Doc: "Session runtime: on, off, or auto (on when the Docker engine answers at start; otherwise the endpoints are not mounted and a warning says why).",
		apply: func(c *Config, v string) error {
			c.Sessions.Mode = strings.ToLower(v)
			switch c.Sessions.Mode {
			case "on", "off", "auto":
				return nil
			}
			return errors.New("must be on, off or auto")
		}},
	{Env: "MEDFORGE_GPUS", Default: "",
		Doc:   "GPU provider: empty uses NVML when libnvidia-ml loads, else no GPU; none, or a declared list such as 0,1,2,3 for hosts without NVIDIA (shown as declared).",
		apply: func(c *Config, v string) error { c.Sessions.GPUs = v; return nil }},
	{Env: "MEDFORGE_PACK_IMAGE", Default: "",
		Doc:   "Image of the default pack, digest-pinned (image@sha256:...) unless the domain is local; empty builds and uses the stand-in IDE (local runs only).",
		apply: func(c *Config, v string) error { c.Sessions.PackImage = v; return nil }},
	{Env: "MEDFORGE_PACKS", Default: "",
		Doc:   "More allowed packs: name=image,name2=image2.",
		apply: parsePacks},
	{Env: "MEDFORGE_WORKSPACES", Default: "",
		Doc: "zfs:<parent dataset> or dir:<path>; empty uses ZFS tank/medforge/workspaces when present, else directories under <run dir>/workspaces.",
		apply: func(c *Config, v string) error {
			if kind, arg, _ := strings.Cut(v, ":"); v != "" && (kind != "zfs" && kind != "dir" || arg == "") {
				return errors.New("must be zfs:<dataset> or dir:<path>")
			}
			c.Sessions.Workspaces = v
			return nil
		}},
	{Env: "MEDFORGE_WORKSPACE_QUOTA", Default: "",
		Doc:   "ZFS quota of each workspace (e.g. 50G); empty for none.",
		apply: func(c *Config, v string) error { c.Sessions.WorkspaceQuota = v; return nil }},
	{Env: "MEDFORGE_DOCKER_HOST", Default: "",
		Doc:   "Docker engine address; empty uses DOCKER_HOST or the default socket.",
		apply: func(c *Config, v string) error { c.Sessions.DockerHost = v; return nil }},
	{Env: "MEDFORGE_SESSION_INSTANCE", Default: "",
		Doc:   "Label value scoping which containers this process manages; empty uses the database name, so two databases on one host never reconcile each other's containers.",
		apply: func(c *Config, v string) error { c.Sessions.Instance = v; return nil }},
	{Env: "MEDFORGE_SESSION_CPUS", Default: "8",
		Doc: "CPUs per session container (0 for no limit).",
		apply: func(c *Config, v string) error {
			cpus, err := strconv.ParseFloat(v, 64)
			if err != nil || cpus < 0 || cpus > 1e6 {
				return errors.New("must be a number of CPUs such as 8 or 0.5")
			}
			c.Sessions.NanoCPUs = int64(cpus * 1e9)
			return nil
		}},
	{Env: "MEDFORGE_SESSION_MEMORY", Default: "32g",
		Doc: "Memory per session container (bytes, or with a k/m/g suffix; 0 for no limit).",
		apply: func(c *Config, v string) error {
			n, err := parseBytes(v)
			c.Sessions.MemoryBytes = int64(n)
			return err
		}},
	{Env: "MEDFORGE_SESSION_PIDS", Default: "4096",
		Doc: "Process limit per session container (0 for no limit).",
		apply: func(c *Config, v string) error {
			n, err := parseInt(v, 0)
			c.Sessions.PidsLimit = int64(n)
			return err
		}},
	{Env: "MEDFORGE_SESSION_START_TIMEOUT", Default: "2m",
		Doc:   "How long a session may stay starting before it becomes error.",
		apply: func(c *Config, v string) (err error) { c.Sessions.StartTimeout, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SESSION_STOP_GRACE", Default: "10s",
		Doc:   "How long a stopping container gets before it is killed.",
		apply: func(c *Config, v string) (err error) { c.Sessions.StopGrace, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SESSION_POLL_INTERVAL", Default: "5s",
		Doc:   "Recovery loop period.",
		apply: func(c *Config, v string) (err error) { c.Sessions.PollInterval, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SESSION_POLL_BACKOFF_MAX_SECONDS", Alias: "SESSION_POLL_BACKOFF_MAX_SECONDS", Default: "60",
		Doc: "Cap of the recovery loop's exponential backoff, in seconds.",
		apply: func(c *Config, v string) error {
			n, err := parseInt(v, 1)
			c.Sessions.BackoffMax = time.Duration(n) * time.Second
			return err
		}},
	{Env: "MEDFORGE_SESSION_IDLE_TIMEOUT", Default: "0",
		Doc:   "Stop running sessions without a routed request for this long (0 disables).",
		apply: func(c *Config, v string) (err error) { c.Sessions.IdleTimeout, err = parseDurationOrZero(v); return }},
	{Env: "MEDFORGE_SESSION_MAX_LIFETIME", Default: "0",
		Doc:   "Stop running sessions this long after they started (0 disables).",
		apply: func(c *Config, v string) (err error) { c.Sessions.MaxLifetime, err = parseDurationOrZero(v); return }},
	{Env: "MEDFORGE_SESSION_EXTERNAL_NETWORK", Default: "medforge-external-sessions",
		Doc:   "Docker network of EXTERNAL sessions (created when missing; the Compose stack creates it with the fixed addresses the firewall trusts).",
		apply: func(c *Config, v string) error { c.Sessions.ExternalNetwork = v; return nonEmpty(v) }},
	{Env: "MEDFORGE_SESSION_INTERNAL_NETWORK", Default: "medforge-internal-sessions",
		Doc: "Docker network of INTERNAL sessions, without egress; must differ from the external one.",
		apply: func(c *Config, v string) error {
			c.Sessions.InternalNetwork = v
			if v == c.Sessions.ExternalNetwork {
				return errors.New("must differ from MEDFORGE_SESSION_EXTERNAL_NETWORK")
			}
			return nonEmpty(v)
		}},
	{Env: "MEDFORGE_SESSION_HOST_GUARD", Default: "iptables",
		Doc: "Who keeps internal sessions off host ports: iptables (this process adds an INPUT rule; it must run in the host's network namespace) or host (ops/network/firewall-setup.sh on the host does it, as in the Compose stack).",
		apply: func(c *Config, v string) error {
			c.Sessions.HostGuard = strings.ToLower(v)
			if c.Sessions.HostGuard != "iptables" && c.Sessions.HostGuard != "host" {
				return errors.New("must be iptables or host")
			}
			return nil
		}},
	{Env: "MEDFORGE_ISOLATION_CHECK", Default: "auto",
		Doc: "East-west check (sessions cannot reach each other's :8080): probe (two throwaway containers per session network, at start and every MEDFORGE_ISOLATION_PROBE_INTERVAL; creates answer 503 and /healthz is degraded while it fails), off, or auto (probe outside local runs).",
		apply: func(c *Config, v string) error {
			c.Sessions.IsolationCheck = strings.ToLower(v)
			switch c.Sessions.IsolationCheck {
			case "probe", "off", "auto":
				return nil
			}
			return errors.New("must be probe, off or auto")
		}},
	{Env: "MEDFORGE_ISOLATION_PROBE_IMAGE", Default: "",
		Doc:   "Image with the medforge binary that the probe containers run (the MedForge image); required when the check is on.",
		apply: func(c *Config, v string) error { c.Sessions.ProbeImage = v; return nil }},
	{Env: "MEDFORGE_ISOLATION_PROBE_INTERVAL", Default: "5m",
		Doc:   "How often the east-west probe runs again.",
		apply: func(c *Config, v string) (err error) { c.Sessions.ProbeInterval, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SESSION_GPU_BUSY_PERCENT", Default: "10",
		Doc: "GPU utilisation (percent, NVML only) at or above which a session counts as busy, not idle, for idle culling.",
		apply: func(c *Config, v string) error {
			n, err := parseInt(v, 1)
			if err == nil && n > 100 {
				err = errors.New("must be a percentage from 1 to 100")
			}
			c.Sessions.GPUBusyPercent = n
			return err
		}},
	{Env: "MEDFORGE_SESSION_WARN_BEFORE", Default: "10m",
		Doc:   "Warn on the session page this long before an idle cull or a lifetime stop.",
		apply: func(c *Config, v string) (err error) { c.Sessions.WarnBefore, err = parseDuration(v); return }},
	{Env: "MEDFORGE_SESSION_MAX_EXTENSION", Default: "1h",
		Doc:   "The most a user may extend a session, once (pushes the lifetime back and restarts the idle clock); 0 disables extensions.",
		apply: func(c *Config, v string) (err error) { c.Sessions.MaxExtension, err = parseDurationOrZero(v); return }},
	{Env: "MEDFORGE_SNAPSHOT_KEEP_LAST", Default: "0",
		Doc: "Snapshot retention: keep the newest N snapshots per user (0: no limit).",
		apply: func(c *Config, v string) (err error) {
			c.Sessions.SnapshotKeepLast, err = parseInt(v, 0)
			return
		}},
	{Env: "MEDFORGE_SNAPSHOT_MAX_AGE", Default: "0",
		Doc: "Snapshot retention: drop snapshots older than this, in days (30d) or as a duration (0: no limit).",
		apply: func(c *Config, v string) (err error) {
			if days, ok := strings.CutSuffix(v, "d"); ok {
				n, err := parseInt(days, 0)
				c.Sessions.SnapshotMaxAge = time.Duration(n) * 24 * time.Hour
				return err
			}
			c.Sessions.SnapshotMaxAge, err = parseDurationOrZero(v)
			return
		}},
	{Env: "MEDFORGE_SNAPSHOT_QUOTA", Default: "0",
		Doc: "Snapshot retention: bytes of snapshots kept per user (bytes, or with a k/m/g suffix; 0: no limit).",
		apply: func(c *Config, v string) error {
			n, err := parseBytes(v)
			c.Sessions.SnapshotQuotaBytes = int64(n)
			return err
		}},
}

// nonEmpty refuses an empty value.
func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// routingSettings are the session routing's rows of Settings (docs/routing.md).
var routingSettings = []Setting{
	{Env: "MEDFORGE_ROUTING_RESYNC", Default: "10s",
		Doc: "How often the in-memory route table is rebuilt from the database (a safety net; session changes made by this process apply at once). At least 100ms.",
		apply: func(c *Config, v string) (err error) {
			c.RoutingResync, err = parseDurationAtLeast(v, 100*time.Millisecond)
			return
		}},
	{Env: "MEDFORGE_ROUTING_ACTIVITY_FLUSH", Default: "30s",
		Doc: "How often last activity of routed sessions is written for idle culling (one UPDATE per active session per flush). At least 100ms.",
		apply: func(c *Config, v string) (err error) {
			c.RoutingActivityFlush, err = parseDurationAtLeast(v, 100*time.Millisecond)
			return
		}},
}

// parsePacks reads MEDFORGE_PACKS: name=image pairs; the default pack comes
// from MEDFORGE_PACK_IMAGE and cannot be named here.
func parsePacks(c *Config, v string) error {
	c.Sessions.Packs = map[string]string{}
	for _, kv := range parseList(v) {
		k, img, ok := strings.Cut(kv, "=")
		k, img = strings.TrimSpace(k), strings.TrimSpace(img)
		if !ok || k == "" || img == "" || k == "default" {
			return errors.New("must be name=image pairs (the default pack is MEDFORGE_PACK_IMAGE), got " + strconv.Quote(kv))
		}
		c.Sessions.Packs[k] = img
	}
	return nil
}

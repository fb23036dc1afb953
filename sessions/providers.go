package sessions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// GPU is one physical GPU as a provider reports it.
type GPU struct {
	Index       int
	UUID        string // empty for a declared GPU
	Name        string
	MemoryBytes int64
}

// Health is the verdict of a GPU health gate. A zero Health is healthy.
type Health struct {
	Unhealthy bool
	Reason    string // why, for gpu_devices.disabled_reason
}

// GPUProvider lists the host's GPUs and gates them between users.
// Implementations are safe for concurrent use.
type GPUProvider interface {
	// Kind names the provider everywhere it is shown: "nvml" or "declared".
	Kind() string
	// Devices lists the GPUs present now.
	Devices(ctx context.Context) ([]GPU, error)
	// Check is the health gate run when a GPU is released, before it can go
	// to the next user. An error means the check itself failed; the caller
	// treats that as unhealthy.
	Check(ctx context.Context, g GPU) (Health, error)
	// Attach reports whether containers get the GPU through a device request
	// by UUID (true for NVML; a declared GPU attaches nothing).
	Attach() bool
}

// Workspace is one session's persistent storage.
type Workspace struct {
	// Name identifies it to the provider and to admins: a ZFS dataset
	// (tank/medforge/workspaces/<user>/<session>) or a directory path.
	Name string
	// HostPath is the folder to bind-mount at the IDE's home.
	HostPath string
	// Clone is true when the workspace is a copy-on-write clone of the
	// snapshot it was restored from (ZFS): that snapshot must then outlive
	// the workspace, and DeleteSnapshot refuses it with ErrSnapshotInUse.
	Clone bool
	// Source, when set, is the snapshot (<workspace>@<snap>) the runtime
	// must create the workspace from when it creates the workspace itself
	// (Kubernetes: the PVC's dataSource is that VolumeSnapshot). Providers
	// that restore on their own (ZFS, directories) leave it empty.
	Source string
}

// WorkspaceProvider creates per-session workspaces and their stop snapshots.
// Implementations are safe for concurrent use on different sessions.
type WorkspaceProvider interface {
	// Kind names the provider: "zfs" or "directory".
	Kind() string
	// Ensure creates the session's workspace when missing, owned by
	// 1000:1000, and returns it. Calling it again returns the same one.
	Ensure(ctx context.Context, userID, sessionID int64) (Workspace, error)
	// Snapshot takes the read-only snapshot snap (stop-<unixms>) of the
	// workspace named name. It is idempotent: when the snapshot already
	// exists it does nothing, and a crash midway leaves no snapshot of that
	// name behind, so a retry after a restart yields exactly one.
	Snapshot(ctx context.Context, name, snap string) error
	// Snapshots lists the snapshot names of the workspace named name.
	Snapshots(ctx context.Context, name string) ([]string, error)
	// Restore creates the workspace of session sessionID (of userID) from
	// the snapshot snapshot (the full name <workspace>@<snap>, which must
	// be one of this provider's): a clone for ZFS, a copy for directories.
	// The snapshot is never changed. It is idempotent: when the workspace
	// exists already (a launch repeated after a restart) it is returned as
	// it is, and a crash midway leaves no half-made workspace behind.
	Restore(ctx context.Context, userID, sessionID int64, snapshot string) (Workspace, error)
	// SnapshotSize is the number of bytes the snapshot refers to.
	SnapshotSize(ctx context.Context, snapshot string) (int64, error)
	// SnapshotPath is a host folder showing the snapshot's files read-only
	// (downloads read it; nothing may write there).
	SnapshotPath(ctx context.Context, snapshot string) (string, error)
	// DeleteSnapshot destroys the snapshot. A missing snapshot is not an
	// error; one that a workspace still depends on (a ZFS clone origin) is
	// ErrSnapshotInUse and is left whole.
	DeleteSnapshot(ctx context.Context, snapshot string) error
}

// RestoreLimiter is implemented by workspace providers that cannot restore
// every snapshot into every exposure (Kubernetes: a VolumeSnapshot restores
// only into its own namespace, so an EXTERNAL snapshot cannot start an
// INTERNAL session). The allocation transaction asks it before anything is
// allocated or queued; its refusal wraps ErrRestoreUnsupported.
type RestoreLimiter interface {
	// CanRestore is nil when a snapshot of exposure from can start a
	// session of exposure into.
	CanRestore(from, into Exposure) error
}

// ErrRestoreUnsupported: the workspace provider cannot make this restore
// (see RestoreLimiter); the error's text says why and is safe to show.
var ErrRestoreUnsupported = errors.New("this restore is not offered by the session runtime")

// ErrUnsupported: an operation the configured runtime or workspace provider
// does not offer at all (Kubernetes: snapshot downloads); the error's text
// says which and is safe to show.
var ErrUnsupported = errors.New("not offered by this session runtime")

// ErrSnapshotInUse: a workspace (a ZFS clone), an active session or a
// queued request still depends on the snapshot, so it is kept.
var ErrSnapshotInUse = errors.New("snapshot in use")

// SplitSnapshot splits a full snapshot name <workspace>@<snap>; ok is false
// when either part is empty.
func SplitSnapshot(full string) (workspace, snap string, ok bool) {
	i := strings.LastIndexByte(full, '@')
	if i <= 0 || i == len(full)-1 {
		return "", "", false
	}
	return full[:i], full[i+1:], true
}

// Label keys on every session container. Reconciliation matches containers
// to rows by these labels only, never by name.
const (
	LabelManaged  = "medforge.managed"
	LabelInstance = "medforge.instance"
	LabelSession  = "medforge.session.id"
	LabelSlug     = "medforge.session.slug"
	LabelUser     = "medforge.user.id"
	LabelExposure = "medforge.exposure"
	LabelGPU      = "medforge.gpu.id"
)

// Mount is one bind mount of a session container.
type Mount struct {
	Source   string // host path
	Target   string // path in the container
	ReadOnly bool
}

// ContainerSpec is everything the runtime needs to start one session.
type ContainerSpec struct {
	Name    string
	Image   string
	Network string
	Labels  map[string]string
	Env     []string
	User    string // uid:gid
	Mounts  []Mount
	// Workspace is the workspace's name (Workspace.Name); runtimes whose
	// workspaces are volumes rather than host folders (Kubernetes: a PVC)
	// mount it by this name.
	Workspace string
	// WorkspaceSource is Workspace.Source: the snapshot a runtime that
	// creates the workspace itself must create it from.
	WorkspaceSource string
	// GPUUUID, when set, is attached through a device request by UUID.
	GPUUUID     string
	NanoCPUs    int64
	MemoryBytes int64
	PidsLimit   int64
}

// Validate refuses a spec that mounts anything inside or above forbidden
// (TEST_HOLDOUTS_DIR), or lacks a name, image or network.
func (c ContainerSpec) Validate(forbidden string) error {
	if c.Name == "" || c.Image == "" || c.Network == "" {
		return errors.New("container spec needs a name, an image and a network")
	}
	for _, m := range c.Mounts {
		if forbidden != "" && overlaps(m.Source, forbidden) {
			return fmt.Errorf("%w: %s", ErrHoldoutMount, m.Source)
		}
	}
	return nil
}

// overlaps reports whether one path contains the other.
func overlaps(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	if ra, err := filepath.EvalSymlinks(a); err == nil {
		a = ra
	}
	if rb, err := filepath.EvalSymlinks(b); err == nil {
		b = rb
	}
	within := func(p, root string) bool {
		return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
	}
	return within(a, b) || within(b, a)
}

// Container is a session container as the runtime sees it.
type Container struct {
	ID      string
	Name    string
	Labels  map[string]string
	Running bool
	// Failure, when set, is why the runtime knows the container failed
	// (on Kubernetes: the Pod failed or was evicted). Recovery ends such a
	// session as error with this reason instead of stopping it.
	Failure string
}

// ErrUnschedulable: the runtime's scheduler cannot place the session's
// container (Kubernetes: the Pod is Unschedulable, e.g. its node's GPUs are
// taken by Pods MedForge does not manage). ReadyChecker.Ready returns it
// wrapped; the Service then puts the request back on the waitlist
// instead of failing the session.
var ErrUnschedulable = errors.New("the scheduler cannot place the session")

// ErrRuntimeUnavailable wraps errors that mean the container engine did not
// answer at all (as opposed to refusing a request).
var ErrRuntimeUnavailable = errors.New("container runtime unavailable")

// Runtime runs session containers. Every method is idempotent where it says
// so, and all are safe for concurrent use.
type Runtime interface {
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
	// EnsureNetworks creates the session networks when missing.
	EnsureNetworks(ctx context.Context) error
	// Start creates and starts a container from spec and returns its id.
	// A container left behind by a failed Start is removed before it returns.
	Start(ctx context.Context, spec ContainerSpec) (string, error)
	// Address is host:port of the IDE (:8080) on the container's network.
	Address(ctx context.Context, id string) (string, error)
	// Stop stops the container, killing it after grace. A missing or
	// stopped container is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove removes the container; a missing one is not an error.
	Remove(ctx context.Context, id string) error
	// List returns every container (running or not) whose labels include
	// all of match.
	List(ctx context.Context, match map[string]string) ([]Container, error)
}

// ReadyChecker is implemented by runtimes that know themselves whether the
// IDE answers (on Kubernetes: the Pod's Ready condition, fed by its
// readiness probe on :8080). The Service then asks Ready instead of probing
// Address over HTTP, which it may not be able to reach.
type ReadyChecker interface {
	// Ready returns nil once the container's IDE answers.
	Ready(ctx context.Context, id string) error
}

// ExitWatcher is implemented by runtimes that can report container exits as
// they happen. The Service then runs a recovery pass at once when a session
// container dies or disappears, instead of at the next poll.
type ExitWatcher interface {
	// WatchExits calls fn with the container's id (as Start returned it;
	// "" when the runtime cannot tell) for each exit of a container whose
	// labels include match, until ctx ends (nil) or the stream breaks (an
	// error).
	WatchExits(ctx context.Context, match map[string]string, fn func(id string)) error
}

// InventoryWatcher is implemented by GPU providers whose inventory changes
// while the service runs (Kubernetes: GPU nodes join, leave, are cordoned or
// change their allocatable nvidia.com/gpu). The Service then re-syncs
// gpu_devices after each change, so the admin GPU page and the capacity the
// allocator sees follow the cluster, and hands GPUs that became free to the
// waitlist at once.
type InventoryWatcher interface {
	// WatchInventory calls fn after each change of the inventory, until
	// ctx ends (nil) or the watch breaks (an error). Bursts may be
	// reported as several calls; the Service coalesces them.
	WatchInventory(ctx context.Context, fn func()) error
}

// UtilizationSampler is implemented by GPU providers that can read a GPU's
// current utilisation (NVML). Recovery samples each running session's GPU
// on every pass; a session at or above Config.GPUBusyPercent is busy, and
// busy sessions are not culled as idle.
type UtilizationSampler interface {
	// Utilization is the percentage (0-100) of the last sample period in
	// which a kernel ran on g.
	Utilization(ctx context.Context, g GPU) (int, error)
}

package kubert

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/medforge/medforge/sessions"
)

// ErrNotOnKubernetes: a snapshot operation the Kubernetes workspace provider
// does not offer (downloads); it wraps sessions.ErrUnsupported.
var ErrNotOnKubernetes = fmt.Errorf("%w (kubernetes)", sessions.ErrUnsupported)

// snapshotGroup is the API group of a PVC's dataSource VolumeSnapshot.
var snapshotGroup = SnapshotGVR.Group

// Restore names the workspace PVC of session sessionID, made from snapshot
// (<pvc>@stop-<unixms>): Workspace.Source carries the snapshot, and Start
// creates the PVC with the VolumeSnapshot as its dataSource (a PVC can only
// be created in the session's namespace, which Start knows). The snapshot
// is never changed; a repeated launch finds the PVC made and keeps it.
func (d *Driver) Restore(ctx context.Context, userID, sessionID int64, snapshot string) (sessions.Workspace, error) {
	if _, _, ok := sessions.SplitSnapshot(snapshot); !ok {
		return sessions.Workspace{}, fmt.Errorf("snapshot %q: want <pvc>@stop-<unixms>", snapshot)
	}
	ws, err := d.Ensure(ctx, userID, sessionID)
	if err != nil {
		return sessions.Workspace{}, err
	}
	ws.Source = snapshot
	return ws, nil
}

// CanRestore refuses an EXTERNAL snapshot into an INTERNAL session: a
// VolumeSnapshot restores only into a PVC of its own namespace, and the
// exposures are two namespaces (cross-namespace data sources are an alpha
// feature of Kubernetes). The allocation transaction asks before anything
// is allocated. INTERNAL into EXTERNAL is refused before this, as on Docker.
func (d *Driver) CanRestore(from, into sessions.Exposure) error {
	if d.Namespace(from) != d.Namespace(into) {
		return fmt.Errorf("%w: on Kubernetes a snapshot of an %s session can only start an %s session (VolumeSnapshots restore within their namespace)",
			sessions.ErrRestoreUnsupported, from, from)
	}
	return nil
}

// snapshotSource checks that the VolumeSnapshot of snapshot (<pvc>@<snap>)
// is in namespace ns and of that workspace, and returns the PVC dataSource
// that restores it.
func (d *Driver) snapshotSource(ctx context.Context, ns, snapshot string) (*corev1.TypedLocalObjectReference, error) {
	pvc, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok {
		return nil, fmt.Errorf("snapshot %q: want <pvc>@stop-<unixms>", snapshot)
	}
	vs, err := d.dyn.Resource(SnapshotGVR).Namespace(ns).Get(ctx, snap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("restore: VolumeSnapshot %s/%s of %s does not exist", ns, snap, pvc)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("get VolumeSnapshot %s/%s: %w", ns, snap, err))
	}
	if vs.GetLabels()[LabelWorkspace] != pvc {
		return nil, fmt.Errorf("restore: VolumeSnapshot %s/%s is not a snapshot of %s", ns, snap, pvc)
	}
	return &corev1.TypedLocalObjectReference{APIGroup: &snapshotGroup, Kind: "VolumeSnapshot", Name: snap}, nil
}

// findSnapshot returns the VolumeSnapshot of snapshot (<pvc>@<snap>) from
// whichever session namespace holds it, or nil when none does.
func (d *Driver) findSnapshot(ctx context.Context, snapshot string) (*unstructured.Unstructured, error) {
	pvc, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok {
		return nil, fmt.Errorf("snapshot %q: want <pvc>@stop-<unixms>", snapshot)
	}
	for _, ns := range d.namespaces() {
		vs, err := d.dyn.Resource(SnapshotGVR).Namespace(ns).Get(ctx, snap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, unavailable(err)
		}
		if vs.GetLabels()[LabelWorkspace] == pvc {
			return vs, nil
		}
	}
	return nil, nil
}

// SnapshotSize is the VolumeSnapshot's status.restoreSize as the CSI
// snapshotter reports it (the size a restore needs), 0 until it does.
func (d *Driver) SnapshotSize(ctx context.Context, snapshot string) (int64, error) {
	vs, err := d.findSnapshot(ctx, snapshot)
	if err != nil || vs == nil {
		return 0, err
	}
	s, ok, _ := unstructured.NestedString(vs.Object, "status", "restoreSize")
	if !ok {
		return 0, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, nil
	}
	return q.Value(), nil
}

// SnapshotPath: there is no host folder of a snapshot on a cluster, so
// downloads are refused with ErrNotOnKubernetes (HTTP 501 with the reason;
// docs/sessions.md, "Kubernetes runtime"). Restore the snapshot into a
// session and download from the IDE instead.
func (d *Driver) SnapshotPath(context.Context, string) (string, error) {
	return "", fmt.Errorf("download a snapshot: %w: a VolumeSnapshot has no host folder to archive", ErrNotOnKubernetes)
}

// DeleteSnapshot deletes the VolumeSnapshot <snap> of workspace PVC <pvc>
// (the full name is <pvc>@<snap>); a missing one is not an error, and one
// of another workspace that happens to share the name is left alone.
func (d *Driver) DeleteSnapshot(ctx context.Context, snapshot string) error {
	pvc, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok {
		return fmt.Errorf("snapshot %q: want <pvc>@stop-<unixms>", snapshot)
	}
	for _, ns := range d.namespaces() {
		api := d.dyn.Resource(SnapshotGVR).Namespace(ns)
		vs, err := api.Get(ctx, snap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return unavailable(err)
		}
		if vs.GetLabels()[LabelWorkspace] != pvc {
			continue
		}
		uid := vs.GetUID()
		if err := api.Delete(ctx, snap, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) {
			return unavailable(fmt.Errorf("delete VolumeSnapshot %s/%s: %w", ns, snap, err))
		}
	}
	return nil
}

var _ sessions.RestoreLimiter = (*Driver)(nil)

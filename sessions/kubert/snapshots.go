package kubert

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medforge/medforge/sessions"
)

// ErrNotOnKubernetes: a snapshot operation the Kubernetes workspace provider
// does not offer yet.
var ErrNotOnKubernetes = errors.New("not supported by the kubernetes workspace provider yet")

// Restore is not offered yet on Kubernetes: a restore there is a PVC whose
// dataSource is the VolumeSnapshot, which Start would have to create. It
// fails the session's start with a clear reason instead of giving it an
// empty workspace.
func (d *Driver) Restore(context.Context, int64, int64, string) (sessions.Workspace, error) {
	return sessions.Workspace{}, fmt.Errorf("restore from a snapshot: %w", ErrNotOnKubernetes)
}

// SnapshotSize is unknown (0) on Kubernetes: the VolumeSnapshot API does
// not report bytes in a portable way.
func (d *Driver) SnapshotSize(context.Context, string) (int64, error) { return 0, nil }

// SnapshotPath has no host folder on Kubernetes, so downloads are refused.
func (d *Driver) SnapshotPath(context.Context, string) (string, error) {
	return "", fmt.Errorf("download a snapshot: %w", ErrNotOnKubernetes)
}

// DeleteSnapshot deletes the VolumeSnapshot <snap> of workspace PVC <pvc>
// (the full name is <pvc>@<snap>); a missing one is not an error.
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
		if err := api.Delete(ctx, snap, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return unavailable(fmt.Errorf("delete VolumeSnapshot %s/%s: %w", ns, snap, err))
		}
	}
	return nil
}

package kubert

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Only a Pod the scheduler has refused for the whole grace, for a reason
// other than its volumes, counts as unschedulable.
func TestUnschedulableCondition(t *testing.T) {
	d := &Driver{cfg: Config{UnschedulableGrace: 10 * time.Second}}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	pod := func(node string, since time.Duration, status corev1.ConditionStatus, reason, msg string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: status, Reason: reason, Message: msg,
			LastTransitionTime: metav1.NewTime(now.Add(-since)),
		}}}}
	}
	const gpuMsg = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
	for _, c := range []struct {
		name string
		p    *corev1.Pod
		want bool
	}{
		{"insufficient GPU past the grace", pod("", 11*time.Second, corev1.ConditionFalse, corev1.PodReasonUnschedulable, gpuMsg), true},
		{"insufficient GPU within the grace", pod("", 9*time.Second, corev1.ConditionFalse, corev1.PodReasonUnschedulable, gpuMsg), false},
		{"unbound PVC", pod("", time.Minute, corev1.ConditionFalse, corev1.PodReasonUnschedulable, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."), false},
		{"PVC not in the scheduler's cache", pod("", time.Minute, corev1.ConditionFalse, corev1.PodReasonUnschedulable, `0/1 nodes are available: persistentvolumeclaim "mf-workspace-x-1" not found.`), false},
		{"volume node affinity", pod("", time.Minute, corev1.ConditionFalse, corev1.PodReasonUnschedulable, "0/3 nodes are available: 3 node(s) had volume node affinity conflict."), false},
		{"bound", pod("n1", time.Minute, corev1.ConditionTrue, "", ""), false},
		{"other reason", pod("", time.Minute, corev1.ConditionFalse, "SchedulingGated", gpuMsg), false},
		{"no condition yet", &corev1.Pod{}, false},
	} {
		if _, got := d.unschedulable(c.p, now); got != c.want {
			t.Errorf("%s: unschedulable %v, want %v", c.name, got, c.want)
		}
	}
}

package kubert_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/medforge/medforge/internal/kubetest"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/kubert"
	"github.com/medforge/medforge/store/testdb"
)

// A running session's Pod, Service and PVC carry exactly the specified
// fields, and the scheduler bound the Pod to the node of its GPU row.
func TestSessionPodServicePVCFields(t *testing.T) {
	e := newEnv(t, envOpts{})
	uid := e.user(testdb.UserOpts{})
	s := e.running(uid, sessions.External)
	ctx := ctxT(t, 30*time.Second)
	cl := e.c.Client

	pod, err := cl.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := e.st.GetSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Labels: exactly the Docker runtime's.
	if want := e.svc.Labels(row); !reflect.DeepEqual(pod.Labels, want) {
		t.Errorf("pod labels = %v, want the Docker runtime's %v", pod.Labels, want)
	}
	if pod.Namespace != extNS || pod.Name != "mf-session-"+s.Slug {
		t.Errorf("pod %s/%s", pod.Namespace, pod.Name)
	}
	if row.ContainerID != extNS+"/mf-session-"+s.Slug {
		t.Errorf("container id recorded %q", row.ContainerID)
	}
	ps := pod.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("the service-account token is mounted")
	}
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if strings.Contains(m.MountPath, "serviceaccount") {
				t.Errorf("token volume mounted at %s", m.MountPath)
			}
		}
	}
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restart policy %s", ps.RestartPolicy)
	}
	psc := ps.SecurityContext
	if psc == nil || *psc.RunAsUser != 1000 || *psc.RunAsGroup != 1000 || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
		t.Fatalf("containers %d, init %d", len(ps.Containers), len(ps.InitContainers))
	}
	c := ps.Containers[0]
	if c.Image != image {
		t.Errorf("image %q, want the digest-pinned %q", c.Image, image)
	}
	sc := c.SecurityContext
	if sc == nil || *sc.RunAsUser != 1000 || *sc.RunAsGroup != 1000 || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || (sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("container security context %+v", sc)
	}
	want := map[corev1.ResourceName]string{"nvidia.com/gpu": "1", "cpu": "2", "memory": "8Gi", "ephemeral-storage": "20Gi"}
	for r, v := range want {
		lim, req := c.Resources.Limits[r], c.Resources.Requests[r]
		if lim.Cmp(resource.MustParse(v)) != 0 || req.Cmp(resource.MustParse(v)) != 0 {
			t.Errorf("%s: limit %s request %s, want %s for both", r, lim.String(), req.String(), v)
		}
	}
	if len(c.Resources.Limits) != len(want) {
		t.Errorf("limits %v", c.Resources.Limits)
	}
	// Volumes: the workspace PVC only; no host path, no holdout, no token.
	if len(ps.Volumes) != 1 || ps.Volumes[0].PersistentVolumeClaim == nil || ps.Volumes[0].PersistentVolumeClaim.ClaimName != row.Workspace {
		t.Errorf("volumes %+v, want only the workspace PVC %s", ps.Volumes, row.Workspace)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/home/coder" || c.VolumeMounts[0].ReadOnly {
		t.Errorf("mounts %+v", c.VolumeMounts)
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		t.Error("host namespaces shared")
	}
	// Placement: the scheduler bound it to the node of its GPU row.
	if ps.NodeName == "" || ps.NodeName != e.drv.NodeOf(s.GPUID) {
		t.Errorf("bound to %q, GPU %d is on %q", ps.NodeName, s.GPUID, e.drv.NodeOf(s.GPUID))
	}
	gpus, err := e.svc.GPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 2 || gpus[0].Provider != "kubernetes" || !strings.HasPrefix(gpus[0].Name, e.nodes[0]+"/gpu") {
		t.Errorf("inventory %+v, want 2 GPUs of node %s", gpus, e.nodes[0])
	}

	svc, err := cl.CoreV1().Services(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service ports %+v type %s", svc.Spec.Ports, svc.Spec.Type)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(svc.Spec.Selector) != 2 {
		t.Errorf("service selector %v does not select exactly the pod", svc.Spec.Selector)
	}
	// The session proxy's upstream is the Service's address.
	up, err := e.svc.Upstream(ctx, s.Slug)
	if err != nil || up != net.JoinHostPort(svc.Spec.ClusterIP, "8080") {
		t.Errorf("upstream %q (%v), want %s:8080", up, err, svc.Spec.ClusterIP)
	}

	pvc, err := cl.CoreV1().PersistentVolumeClaims(extNS).Get(ctx, row.Workspace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != kubetest.StorageClass {
		t.Errorf("storage class %v", pvc.Spec.StorageClassName)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("10Gi")) != 0 {
		t.Errorf("workspace size %s", q.String())
	}
	if !reflect.DeepEqual(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("access modes %v", pvc.Spec.AccessModes)
	}
}

// The session namespaces carry the declared east-west rule: only the router
// and the API reach a session's :8080 (so sessions never reach each
// other), and INTERNAL session Pods are selected by a no-egress policy.
func TestNetworkPolicies(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 30*time.Second)
	in := e.user(testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 2})
	si := e.running(in, sessions.Internal)
	se := e.running(in, sessions.External)
	cl := e.c.Client
	podI, err := cl.CoreV1().Pods(intNS).Get(ctx, "mf-session-"+si.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podE, err := cl.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+se.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applying := func(pod *corev1.Pod) map[string][]string { // policy name -> types
		l, err := cl.NetworkingV1().NetworkPolicies(pod.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, p := range l.Items {
			sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(pod.Labels)) {
				continue
			}
			for _, ty := range p.Spec.PolicyTypes {
				out[p.Name] = append(out[p.Name], string(ty))
			}
			if strings.Contains(strings.Join(out[p.Name], ","), "Egress") && len(p.Spec.Egress) != 0 {
				t.Errorf("%s/%s allows egress: %+v", p.Namespace, p.Name, p.Spec.Egress)
			}
			if len(p.Spec.Ingress) > 0 {
				r := p.Spec.Ingress[0]
				if len(p.Spec.Ingress) != 1 || len(r.Ports) != 1 || r.Ports[0].Port.IntValue() != 8080 || len(r.From) != 2 {
					t.Errorf("%s/%s ingress %+v, want one rule: :8080 from two peers", p.Namespace, p.Name, p.Spec.Ingress)
				}
				var peers []string
				for _, f := range r.From {
					if f.NamespaceSelector == nil || f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "medforge" || f.PodSelector == nil {
						t.Errorf("peer %+v is not a pod of the medforge namespace", f)
						continue
					}
					peers = append(peers, f.PodSelector.MatchLabels["app.kubernetes.io/name"])
				}
				sort.Strings(peers)
				if !reflect.DeepEqual(peers, []string{"medforge-api", "medforge-caddy"}) {
					t.Errorf("ingress peers %v, want the API and Caddy only", peers)
				}
			}
		}
		return out
	}
	gotI := applying(podI)
	wantI := map[string][]string{"medforge-session-ingress": {"Ingress"}, "medforge-session-no-egress": {"Egress"}}
	if !reflect.DeepEqual(gotI, wantI) {
		t.Errorf("internal pod policies %v, want %v", gotI, wantI)
	}
	gotE := applying(podE)
	if !reflect.DeepEqual(gotE, map[string][]string{"medforge-session-ingress": {"Ingress"}}) {
		t.Errorf("external pod policies %v, want ingress only", gotE)
	}
}

// With 5 users and 2 nodes of 2 GPUs, 4 sessions run (2 per node, each on
// its own GPU row) and the 5th is queued on the waitlist (the same one as on
// Docker); when one stops, the 5th is handed its GPU and starts on the
// freed node.
func TestFiveUsersFourGPUsOnTwoNodes(t *testing.T) {
	e := newEnv(t, envOpts{nodes: 2, gpus: 2})
	ctx := ctxT(t, 2*time.Minute)
	var users []int64
	for i := 0; i < 5; i++ {
		users = append(users, e.user(testdb.UserOpts{}))
	}
	var got []sessions.Session
	for _, u := range users[:4] {
		got = append(got, e.running(u, sessions.External))
	}
	perNode := map[string]int{}
	gpuSeen := map[int]bool{}
	for _, s := range got {
		pod, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		perNode[pod.Spec.NodeName]++
		if gpuSeen[s.GPUID] {
			t.Errorf("GPU %d given twice", s.GPUID)
		}
		gpuSeen[s.GPUID] = true
	}
	if perNode[e.nodes[0]] != 2 || perNode[e.nodes[1]] != 2 {
		t.Errorf("pods per node %v, want 2 on each", perNode)
	}
	pl, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: users[4], Exposure: sessions.External})
	if err != nil || pl.Queued == nil || pl.Session != nil {
		t.Fatalf("5th request: %+v, %v; want a place on the waitlist", pl, err)
	}
	if pl.Queued.Status != sessions.QueueQueued || pl.Queued.Position != 1 {
		t.Errorf("5th queued as %+v, want queued at position 1", pl.Queued)
	}
	// One stops; its GPU (and node) go to the 5th.
	if _, err := e.svc.Stop(ctx, got[1].ID, 0, sessions.StopUser); err != nil {
		t.Fatal(err)
	}
	var entry sessions.QueueEntry
	waitFor(t, 45*time.Second, func() bool {
		entry, err = e.svc.QueueStatus(ctx, users[4], sessions.External)
		return err == nil && entry.Status == sessions.QueueGranted && entry.SessionID != 0
	})
	s5 := e.waitStatus(e.svc, entry.SessionID, sessions.StatusRunning, 45*time.Second)
	if s5.GPUID != got[1].GPUID {
		t.Errorf("5th got GPU %d, the freed one is %d", s5.GPUID, got[1].GPUID)
	}
	pod, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s5.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != e.drv.NodeOf(got[1].GPUID) {
		t.Errorf("5th bound to %s, freed GPU is on %s", pod.Spec.NodeName, e.drv.NodeOf(got[1].GPUID))
	}
}

// Stop takes exactly one VolumeSnapshot stop-<unixms> of the workspace PVC,
// then deletes the Pod and Service and keeps the PVC; killing the API server
// mid-stop (after the name is claimed, and again after the snapshot is
// taken) and restarting MedForge still ends with exactly one.
func TestStopSnapshotsExactlyOnceAcrossAPIServerKill(t *testing.T) {
	for _, step := range []string{"", "snapshot-named", "snapshotted"} {
		name := step
		if name == "" {
			name = "clean"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			ctx := ctxT(t, 3*time.Minute)
			uid := e.user(testdb.UserOpts{})
			s := e.running(uid, sessions.External)
			row, err := e.st.GetSession(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if step != "" {
				killed := false
				e.svc.SetHookForTest(func(at string, id int64) error {
					if at == step && id == s.ID && !killed {
						killed = true
						e.c.StopAPIServer()
						return errors.New("crash at " + at)
					}
					return nil
				})
			}
			if _, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser); err != nil {
				t.Fatal(err)
			}
			if step != "" {
				// The process "dies" with the API server down; another
				// one starts once it is back.
				waitFor(t, 30*time.Second, func() bool { return e.c.Client != nil && !e.apiUp() })
				e.svc.Close()
				if err := e.c.RestartAPIServer(ctx); err != nil {
					t.Fatal(err)
				}
				e.drv = e.newDriver(false)
				e.svc = e.newService()
				if err := e.svc.Start(ctx); err != nil {
					t.Fatal(err)
				}
			}
			done := e.waitStatus(e.svc, s.ID, sessions.StatusStopped, time.Minute)
			ws, snap, ok := strings.Cut(done.Snapshot, "@")
			if !ok || ws != row.Workspace || !strings.HasPrefix(snap, "stop-") {
				t.Fatalf("recorded snapshot %q, want %s@stop-<unixms>", done.Snapshot, row.Workspace)
			}
			if _, err := strconv.ParseInt(strings.TrimPrefix(snap, "stop-"), 10, 64); err != nil {
				t.Errorf("snapshot name %q is not stop-<unixms>", snap)
			}
			if got := e.snapshots(extNS, row.Workspace); !reflect.DeepEqual(got, []string{snap}) {
				t.Errorf("VolumeSnapshots of %s: %v, want exactly [%s]", row.Workspace, got, snap)
			}
			vs, err := e.c.Dyn.Resource(kubert.SnapshotGVR).Namespace(extNS).Get(ctx, snap, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src := vs.Object["spec"].(map[string]any)["source"].(map[string]any)["persistentVolumeClaimName"]
			if src != row.Workspace {
				t.Errorf("snapshot source %v, want %s", src, row.Workspace)
			}
			if cls := vs.Object["spec"].(map[string]any)["volumeSnapshotClassName"]; cls != "medforge-workspaces" {
				t.Errorf("snapshot class %v", cls)
			}
			if _, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{}); err == nil {
				t.Error("pod still there after stop")
			}
			if _, err := e.c.Client.CoreV1().Services(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{}); err == nil {
				t.Error("service still there after stop")
			}
			if _, err := e.c.Client.CoreV1().PersistentVolumeClaims(extNS).Get(ctx, row.Workspace, metav1.GetOptions{}); err != nil {
				t.Errorf("workspace PVC gone after stop: %v", err)
			}
		})
	}
}

func (e *env) apiUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := e.c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

func waitFor(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Pod deleted behind the API's back is finalized (stopped, snapshot
// taken, Service removed), and a Pod with MedForge's labels but no active
// row is deleted as an orphan.
func TestPodDeletedBehindBackAndOrphan(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 2*time.Minute)
	uid := e.user(testdb.UserOpts{})
	s := e.running(uid, sessions.External)
	zero := int64(0)
	if err := e.c.Client.CoreV1().Pods(extNS).Delete(ctx, "mf-session-"+s.Slug, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	done := e.waitStatus(e.svc, s.ID, sessions.StatusStopped, 30*time.Second)
	if done.StopReason != sessions.StopContainerLost || done.Snapshot == "" {
		t.Errorf("finalized with reason %q snapshot %q", done.StopReason, done.Snapshot)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := e.c.Client.CoreV1().Services(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
		return err != nil
	})

	// An orphan: labelled for this instance, session 999999 has no row.
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mf-session-orphan" + e.instance[3:], Namespace: extNS, Labels: map[string]string{
			sessions.LabelManaged: "true", sessions.LabelInstance: e.instance, sessions.LabelSession: "999999",
			sessions.LabelSlug: "orphan", sessions.LabelUser: "1", sessions.LabelExposure: "external", sessions.LabelGPU: "0",
		}},
		Spec: corev1.PodSpec{
			NodeName:                     e.nodes[0],
			AutomountServiceAccountToken: new(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: new(true), RunAsUser: new(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "x", Image: image, SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: new(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
	if _, err := e.c.Client.CoreV1().Pods(extNS).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		_, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, orphan.Name, metav1.GetOptions{})
		return err != nil
	})
}

// A failed or evicted Pod turns its session into error with the reason.
func TestEvictedPodIsError(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{})
	s := e.running(uid, sessions.External)
	pod, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Reason = "Evicted"
	pod.Status.Message = "The node was low on resource: memory."
	if _, err := e.c.Client.CoreV1().Pods(extNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := e.waitStatus(e.svc, s.ID, sessions.StatusError, 30*time.Second)
	if !strings.Contains(done.ErrorReason, "Evicted") || !strings.Contains(done.ErrorReason, "low on resource") {
		t.Errorf("error reason %q does not say why", done.ErrorReason)
	}
	if done.Snapshot == "" {
		t.Error("no snapshot of the failed session's workspace")
	}
	// Its GPU is free again.
	s2 := e.running(e.user(testdb.UserOpts{}), sessions.External)
	_ = s2
}

// Stopping the API server makes the runtime's health (and so /healthz)
// degraded; starting it again makes it healthy.
func TestDegradedWhileAPIServerDown(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 3*time.Minute)
	if err := e.svc.Reconciler().Health(ctx); err != nil {
		t.Fatalf("healthy cluster reported %v", err)
	}
	e.c.StopAPIServer()
	err := e.svc.Reconciler().Health(ctx)
	if !errors.Is(err, sessions.ErrRuntimeUnavailable) {
		t.Fatalf("API server down: health %v, want runtime unavailable", err)
	}
	if err := e.c.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, func() bool { return e.svc.Reconciler().Health(ctx) == nil })
	// And sessions work again.
	e.running(e.user(testdb.UserOpts{}), sessions.External)
}

// The API's service account holds exactly the documented rules, and
// nothing beyond them: every test in this package already runs the driver
// as that account, so the verbs are also sufficient.
func TestRBACLeastPrivilege(t *testing.T) {
	c := controlPlane(t)
	ctx := ctxT(t, 30*time.Second)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "create", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "create"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{"snapshot.storage.k8s.io"}, Resources: []string{"volumesnapshots"}, Verbs: []string{"get", "list", "create", "delete"}},
	}
	for _, ns := range []string{extNS, intNS} {
		r, err := c.Client.RbacV1().Roles(ns).Get(ctx, "medforge-sessions", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Rules, want) {
			t.Errorf("%s role rules %+v", ns, r.Rules)
		}
	}
	sa, err := kubernetes.NewForConfig(c.As("medforge", "medforge-api"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := []struct{ verb, group, res, ns string }{
		{"create", "", "pods", extNS}, {"watch", "", "pods", intNS}, {"create", "snapshot.storage.k8s.io", "volumesnapshots", intNS},
		{"delete", "snapshot.storage.k8s.io", "volumesnapshots", extNS},
		{"list", "", "nodes", ""}, {"watch", "", "nodes", ""},
	}
	denied := []struct{ verb, group, res, ns string }{
		{"create", "", "pods", "medforge"}, {"create", "", "pods", "default"}, {"get", "", "secrets", extNS},
		{"get", "", "secrets", "medforge"}, {"delete", "", "persistentvolumeclaims", extNS}, {"update", "", "pods", extNS},
		{"patch", "", "pods", extNS}, {"update", "snapshot.storage.k8s.io", "volumesnapshots", extNS},
		{"create", "", "pods/exec", extNS}, {"delete", "", "nodes", ""}, {"get", "", "nodes", ""},
		{"create", "", "namespaces", ""}, {"create", "rbac.authorization.k8s.io", "roles", extNS},
		{"delete", "networking.k8s.io", "networkpolicies", intNS}, {"create", "", "serviceaccounts/token", "medforge"},
	}
	for _, a := range allowed {
		if ok, err := kubetest.CanI(ctx, sa, a.verb, a.group, a.res, a.ns); err != nil || !ok {
			t.Errorf("medforge-api cannot %s %s in %q (%v)", a.verb, a.res, a.ns, err)
		}
	}
	for _, d := range denied {
		if ok, err := kubetest.CanI(ctx, sa, d.verb, d.group, d.res, d.ns); err != nil || ok {
			t.Errorf("medforge-api may %s %s in %q (%v): more than it needs", d.verb, d.res, d.ns, err)
		}
	}
	// The worker has no rights at all.
	w, err := kubernetes.NewForConfig(c.As("medforge", "medforge-worker"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := kubetest.CanI(ctx, w, "list", "", "pods", extNS); ok {
		t.Error("the worker may list session pods")
	}
}

// An image that is not pinned by digest is refused before anything is
// created; the session ends in error.
func TestUnpinnedImageRefused(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true})
	e.cfg.Packs["latest"] = "registry.example/medforge/ide:latest"
	e.svc = e.newService()
	if err := e.svc.Start(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	uid := e.user(testdb.UserOpts{})
	s, err := e.svc.Create(ctxT(t, 10*time.Second), sessions.CreateRequest{UserID: uid, Exposure: sessions.External, Pack: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitStatus(e.svc, s.ID, sessions.StatusError, 30*time.Second)
	if _, err := e.c.Client.CoreV1().Pods(extNS).Get(ctxT(t, 5*time.Second), "mf-session-"+s.Slug, metav1.GetOptions{}); err == nil {
		t.Error("a pod was created for an unpinned image")
	}
}

// The GPU inventory follows the cluster while MedForge runs (an informer on
// Nodes): a node added at runtime appears on the admin GPU page and its GPU
// goes at once to the request waiting on the waitlist, which starts there;
// a node removed is shown absent and its GPU is no longer allocated.
func TestGPUInventoryFollowsNodes(t *testing.T) {
	e := newEnv(t, envOpts{nodes: 1, gpus: 1})
	ctx := ctxT(t, 2*time.Minute)
	u1, u2, u3 := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	e.running(u1, sessions.External)
	pl, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: u2, Exposure: sessions.External})
	if err != nil || pl.Queued == nil {
		t.Fatalf("2nd request on a 1-GPU cluster: %+v, %v; want queued", pl, err)
	}
	present := func() map[string]bool {
		gpus, err := e.svc.GPUs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, g := range gpus {
			out[g.Name] = g.Present
		}
		return out
	}

	// A node joins: its GPU is shown and handed to the waiting request.
	added, err := e.c.AddPoolNodes(ctx, e.pool, e.pool+"-late", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.nodes = append(e.nodes, added...)
	start := time.Now()
	var entry sessions.QueueEntry
	waitFor(t, 30*time.Second, func() bool {
		entry, err = e.svc.QueueStatus(ctx, u2, sessions.External)
		return err == nil && entry.Status == sessions.QueueGranted
	})
	t.Logf("node added -> queued request granted in %s", time.Since(start).Round(time.Millisecond))
	if p := present(); len(p) != 2 || !p[added[0]+"/gpu0"] {
		t.Errorf("GPU page %v, want the new node's gpu0 present", p)
	}
	s2 := e.waitStatus(e.svc, entry.SessionID, sessions.StatusRunning, 45*time.Second)
	pod, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+s2.Slug, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != added[0] {
		t.Errorf("granted session bound to %s, want the new node %s", pod.Spec.NodeName, added[0])
	}

	// Another node joins and leaves again, unused: shown, then absent, and
	// a request made after it left waits instead of getting its GPU.
	gone, err := e.c.AddPoolNodes(ctx, e.pool, e.pool+"-gone", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return present()[gone[0]+"/gpu0"] })
	e.c.DeleteNodes(ctx, gone)
	waitFor(t, 30*time.Second, func() bool { p := present(); _, listed := p[gone[0]+"/gpu0"]; return listed && !p[gone[0]+"/gpu0"] })
	pl, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: u3, Exposure: sessions.External})
	if err != nil || pl.Queued == nil {
		t.Fatalf("request after the node left: %+v, %v; want queued (its GPU is gone)", pl, err)
	}
	if p := present(); !p[e.nodes[0]+"/gpu0"] || !p[added[0]+"/gpu0"] || p[gone[0]+"/gpu0"] {
		t.Errorf("GPU page %v after the node left", p)
	}
}

// The public competition data is mounted into session Pods as on Docker:
// each data claim read-only (volume and mount) at /data/training and
// /data/public-eval, in both exposures; the holdouts claim never is, and a
// configuration that names it as data is refused before anything runs.
func TestDataClaimsMountedReadOnlyNeverHoldouts(t *testing.T) {
	e := newEnv(t, envOpts{data: true})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 2})
	for _, x := range []sessions.Exposure{sessions.External, sessions.Internal} {
		s := e.running(uid, x)
		ns := extNS
		if x == sessions.Internal {
			ns = intNS
		}
		pod, err := e.c.Client.CoreV1().Pods(ns).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		row, err := e.st.GetSession(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		type vol struct {
			claim    string
			volRO    bool
			mount    string
			mountRO  bool
			hostPath bool
		}
		byName := map[string]*vol{}
		var got []*vol
		for _, v := range pod.Spec.Volumes {
			g := &vol{hostPath: v.HostPath != nil}
			if c := v.PersistentVolumeClaim; c != nil {
				g.claim, g.volRO = c.ClaimName, c.ReadOnly
			}
			byName[v.Name] = g
			got = append(got, g)
		}
		for _, m := range pod.Spec.Containers[0].VolumeMounts {
			if g := byName[m.Name]; g != nil {
				g.mount, g.mountRO = m.MountPath, m.ReadOnly
			} else {
				t.Errorf("%s: mount %s of no volume", x, m.MountPath)
			}
		}
		want := []*vol{
			{claim: row.Workspace, mount: "/home/coder"},
			{claim: "training-" + e.instance, volRO: true, mount: "/data/training", mountRO: true},
			{claim: "public-eval-" + e.instance, volRO: true, mount: "/data/public-eval", mountRO: true},
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got {
				t.Logf("got %+v", *got[i])
			}
			t.Errorf("%s pod volumes differ from the workspace + two read-only data claims", x)
		}
		for _, g := range got {
			if strings.Contains(g.claim, "holdout") || strings.Contains(g.mount, "holdout") || g.hostPath {
				t.Errorf("%s pod mounts %+v", x, *g)
			}
		}
	}

	// The holdouts claim, or a data path outside /data/, is refused.
	rc := e.c.As("medforge", "medforge-api")
	for _, bad := range [][]kubert.DataClaim{
		{{Claim: "medforge-holdouts", Target: "/data/training"}},
		{{Claim: "public", Target: "/home/coder"}},
		{{Claim: "public", Target: "/data/../etc"}},
		{{Claim: "a", Target: "/data/x"}, {Claim: "b", Target: "/data/x"}},
		{{Claim: "Not_A_Name", Target: "/data/x"}},
	} {
		if _, err := kubert.New(rc, kubert.Config{DataClaims: bad}); err == nil {
			t.Errorf("data claims %+v accepted", bad)
		}
	}
	if _, err := kubert.New(rc, kubert.Config{HoldoutsClaim: "secret-labels", DataClaims: []kubert.DataClaim{{Claim: "secret-labels", Target: "/data/t"}}}); err == nil {
		t.Error("a data claim named like the configured holdouts claim was accepted")
	}
}

// Restore on Kubernetes: a session started from a stop snapshot gets a new
// workspace PVC whose dataSource is that VolumeSnapshot (left as it was),
// behind the Docker runtime's checks (another user's snapshot is not found,
// an INTERNAL snapshot never starts an EXTERNAL session) plus the
// namespace rule (an EXTERNAL snapshot cannot start an INTERNAL session).
// A snapshot in use is kept; deleting it, by its owner or by retention,
// deletes its VolumeSnapshot; a download is a clear "not offered".
func TestRestoreFromVolumeSnapshot(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 4*time.Minute)
	uid := e.user(testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 2})
	other := e.user(testdb.UserOpts{CanUseInternal: true})
	stopped := func(s sessions.Session) sessions.Session {
		t.Helper()
		if _, err := e.svc.Stop(ctx, s.ID, 0, sessions.StopUser); err != nil {
			t.Fatal(err)
		}
		return e.waitStatus(e.svc, s.ID, sessions.StatusStopped, time.Minute)
	}
	snapID := func(name string) int64 {
		t.Helper()
		l, err := e.svc.Snapshots(ctx, uid, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l {
			if s.Name == name {
				return s.ID
			}
		}
		t.Fatalf("snapshot %s not listed", name)
		return 0
	}
	vsExists := func(ns, name string) bool {
		_, snap, _ := sessions.SplitSnapshot(name)
		_, err := e.c.Dyn.Resource(kubert.SnapshotGVR).Namespace(ns).Get(ctx, snap, metav1.GetOptions{})
		return err == nil
	}
	restoredPVC := func(ns string, s sessions.Session, from string) {
		t.Helper()
		row, err := e.st.GetSession(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		pvc, err := e.c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, row.Workspace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		srcWS, snap, _ := sessions.SplitSnapshot(from)
		ds := pvc.Spec.DataSource
		if ds == nil || ds.APIGroup == nil || *ds.APIGroup != "snapshot.storage.k8s.io" || ds.Kind != "VolumeSnapshot" || ds.Name != snap {
			t.Errorf("restored PVC %s/%s dataSource %+v, want VolumeSnapshot %s", ns, pvc.Name, ds, snap)
		}
		if row.Workspace == srcWS || pvc.Labels[kubert.LabelRestoredFrom] != snap {
			t.Errorf("restored workspace %s (labels %v) from %s", row.Workspace, pvc.Labels, from)
		}
		pod, err := e.c.Client.CoreV1().Pods(ns).Get(ctx, "mf-session-"+s.Slug, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := pod.Spec.Volumes[0].PersistentVolumeClaim; c == nil || c.ClaimName != row.Workspace {
			t.Errorf("pod mounts %+v, want the restored PVC %s", pod.Spec.Volumes[0], row.Workspace)
		}
	}

	ext := stopped(e.running(uid, sessions.External)).Snapshot
	// Another user's snapshot is not found; EXTERNAL into INTERNAL is
	// refused on Kubernetes before anything is allocated or queued.
	if _, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: other, Exposure: sessions.External, FromSnapshot: ext}); !errors.Is(err, sessions.ErrSnapshotNotFound) {
		t.Errorf("another user's snapshot: %v, want not found", err)
	}
	if _, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.Internal, FromSnapshot: ext}); !errors.Is(err, sessions.ErrRestoreUnsupported) {
		t.Errorf("external snapshot into an internal session: %v, want restore unsupported", err)
	}
	if q, err := e.svc.Queue(ctx); err != nil || len(q) != 0 {
		t.Errorf("queue after refusals: %v, %v", q, err)
	}

	s2, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: ext})
	if err != nil {
		t.Fatal(err)
	}
	s2 = e.waitStatus(e.svc, s2.ID, sessions.StatusRunning, 45*time.Second)
	restoredPVC(extNS, s2, ext)
	if !vsExists(extNS, ext) {
		t.Error("the source VolumeSnapshot is gone after the restore")
	}
	// In use by the running session: kept.
	if _, err := e.svc.DeleteSnapshot(ctx, snapID(ext), uid, "user"); !errors.Is(err, sessions.ErrSnapshotInUse) {
		t.Errorf("delete of a snapshot in use: %v", err)
	}
	// Downloads are not offered on Kubernetes, with a reason.
	if _, _, err := e.svc.SnapshotPath(ctx, snapID(ext), uid); !errors.Is(err, sessions.ErrUnsupported) {
		t.Errorf("download: %v, want unsupported", err)
	}

	// INTERNAL: into EXTERNAL refused; into INTERNAL restored in its namespace.
	in := stopped(e.running(uid, sessions.Internal)).Snapshot
	if _, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: in}); !errors.Is(err, sessions.ErrSnapshotExposure) {
		t.Errorf("internal snapshot into an external session: %v", err)
	}
	s3, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.Internal, FromSnapshot: in})
	if err != nil {
		t.Fatal(err)
	}
	s3 = e.waitStatus(e.svc, s3.ID, sessions.StatusRunning, 45*time.Second)
	restoredPVC(intNS, s3, in)

	// Once nothing uses it, the owner's delete removes the VolumeSnapshot.
	last2 := stopped(s2).Snapshot
	if _, err := e.svc.DeleteSnapshot(ctx, snapID(ext), uid, "user"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return !vsExists(extNS, ext) })

	// Retention (keep the newest 1 per user) prunes the rest on the next
	// recovery pass, VolumeSnapshots included.
	last3 := stopped(s3).Snapshot
	e.svc.Close()
	e.cfg.Retention = sessions.Retention{KeepLast: 1}
	e.svc = e.newService()
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return !vsExists(extNS, last2) && !vsExists(intNS, in) })
	if !vsExists(intNS, last3) {
		t.Errorf("retention pruned the newest snapshot %s", last3)
	}
}

// When the scheduler cannot place a session's Pod (the node's GPUs are
// taken by a Pod MedForge does not manage), the session does not end in
// error: its row ends as stopped/requeued, its GPU is held back for a
// while (shown on the admin GPU page), and the request is back on the
// waitlist, queued at its place; once the capacity is back (the foreign
// Pod gone, the hold over) recovery hands the GPU over and the session
// runs. The one-active-session invariant holds throughout.
func TestUnschedulablePodGoesBackToWaitlist(t *testing.T) {
	e := newEnv(t, envOpts{nodes: 1, gpus: 2})
	ctx := ctxT(t, 3*time.Minute)
	// A Pod MedForge does not manage takes one of the node's two GPUs.
	gpu := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	foreign := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign-" + e.instance, Namespace: extNS},
		Spec: corev1.PodSpec{
			NodeName:                     e.nodes[0],
			AutomountServiceAccountToken: new(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: new(true), RunAsUser: new(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "x", Image: image,
				Resources: corev1.ResourceRequirements{Limits: gpu, Requests: gpu},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: new(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
	if _, err := e.c.Client.CoreV1().Pods(extNS).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, b := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	sa := e.running(a, sessions.External)
	pl, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: b, Exposure: sessions.External})
	if err != nil || pl.Session == nil {
		t.Fatalf("2nd request: %+v, %v; want a session (MariaDB has a 2nd GPU row)", pl, err)
	}
	sb := pl.Session
	start := time.Now()
	ended := e.waitStatus(e.svc, sb.ID, sessions.StatusStopped, 45*time.Second)
	t.Logf("unschedulable -> back on the waitlist in %s", time.Since(start).Round(time.Millisecond))
	if ended.StopReason != sessions.StopRequeued || ended.Snapshot != "" || ended.ErrorReason == "" {
		t.Errorf("unplaceable session ended as %q/%q (snapshot %q, reason %q), want stopped/requeued, no snapshot, a reason",
			ended.Status, ended.StopReason, ended.Snapshot, ended.ErrorReason)
	}
	entry, err := e.svc.QueueStatus(ctx, b, sessions.External)
	if err != nil || entry.Status != sessions.QueueQueued || entry.Position != 1 {
		t.Fatalf("queue entry %+v, %v; want queued at position 1", entry, err)
	}
	if _, err := e.c.Client.CoreV1().Pods(extNS).Get(ctx, "mf-session-"+sb.Slug, metav1.GetOptions{}); err == nil {
		t.Error("the unplaceable Pod is still there")
	}
	gpus, err := e.svc.GPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, g := range gpus {
		if g.ID == sb.GPUID {
			if g.HeldUntil == nil || !strings.Contains(g.HeldReason, "Insufficient nvidia.com/gpu") || g.Holder != nil {
				t.Errorf("admin GPU view of the unplaceable GPU: %+v", g)
			}
			held++
		}
	}
	if held != 1 {
		t.Errorf("GPU %d not on the admin page", sb.GPUID)
	}
	// Same semantics as the Docker waitlist: one request per user, and a
	// plain create does not overtake the queue.
	// The estimate counts the held GPU from the end of its hold.
	if entry.EstimatedStartAt == nil || !entry.EstimatedStartAt.After(time.Now().Add(time.Second)) {
		t.Errorf("estimated start %v (%s), want the end of the GPU's 5 s hold", entry.EstimatedStartAt, entry.EstimateUnknown)
	}
	if _, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: b, Exposure: sessions.External}); !errors.Is(err, sessions.ErrAlreadyQueued) {
		t.Errorf("second request while queued: %v", err)
	}
	c := e.user(testdb.UserOpts{})
	if _, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: c, Exposure: sessions.External}); !errors.Is(err, sessions.ErrNoGPU) {
		t.Errorf("a newcomer's create while b waits: %v, want no GPU", err)
	}

	// The capacity comes back: b gets the GPU and runs on the node.
	zero := int64(0)
	if err := e.c.Client.CoreV1().Pods(extNS).Delete(ctx, foreign.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 45*time.Second, func() bool {
		entry, err = e.svc.QueueStatus(ctx, b, sessions.External)
		return err == nil && entry.Status == sessions.QueueGranted
	})
	sb2 := e.waitStatus(e.svc, entry.SessionID, sessions.StatusRunning, 45*time.Second)
	if sb2.ID == sb.ID || sb2.UserID != b {
		t.Errorf("granted session %+v", sb2)
	}
	if cur, err := e.svc.Current(ctx, a, sessions.External); err != nil || cur.ID != sa.ID {
		t.Errorf("a's session %+v, %v", cur, err)
	}
}

// Re-syncing the inventory, as the node informer does on every change,
// while users create sessions never makes a create miss a free GPU: a sync
// writes (and locks) only the rows that change, so the allocation's SKIP
// LOCKED pick still sees every free GPU.
func TestInventorySyncDuringCreates(t *testing.T) {
	e := newEnv(t, envOpts{nodes: 2, gpus: 4})
	ctx := ctxT(t, time.Minute)
	users := make([]int64, 8)
	for i := range users {
		users[i] = e.user(testdb.UserOpts{})
	}
	done := make(chan struct{})
	syncs := make(chan int, 1)
	go func() {
		n := 0
		defer func() { syncs <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := e.svc.SyncGPUs(ctx); err != nil {
				t.Errorf("sync: %v", err)
				return
			}
			n++
		}
	}()
	errs := make(chan error, len(users))
	gpus := make(chan int, len(users))
	for _, u := range users {
		go func() {
			s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: u, Exposure: sessions.External})
			errs <- err
			gpus <- s.GPUID
		}()
	}
	seen := map[int]bool{}
	for range users {
		if err := <-errs; err != nil {
			t.Errorf("create during a re-sync: %v", err)
		}
		g := <-gpus
		if seen[g] {
			t.Errorf("GPU %d given twice", g)
		}
		seen[g] = true
	}
	close(done)
	t.Logf("%d re-syncs ran alongside %d creates", <-syncs, len(users))
}

// Package kubert runs sessions on Kubernetes (MEDFORGE_RUNTIME=kubernetes).
// One Driver implements the session runtime's three provider interfaces:
//
//   - sessions.Runtime (plus ReadyChecker and ExitWatcher): each session is a
//     Pod mf-session-<slug> with a Service for :8080 and a workspace PVC, in
//     the namespace of its exposure; state comes from an informer on the
//     session Pods;
//   - sessions.WorkspaceProvider: the PVC, snapshotted on stop as a CSI
//     VolumeSnapshot (snapshot.storage.k8s.io/v1) named stop-<unixms>;
//   - sessions.GPUProvider: the inventory is the nodes' allocatable
//     nvidia.com/gpu, one row per GPU named after its node.
//
// MariaDB stays the allocator (the one transaction that keeps one active
// session per GPU, per user and exposure, and the waitlist): the Pod asks
// the scheduler for one nvidia.com/gpu on the node of the GPU row it was
// given (required node affinity), and the NVIDIA device plugin picks the
// device there. See docs/sessions.md, "Kubernetes runtime".
package kubert

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/medforge/medforge/sessions"
)

// GPUResource is the extended resource the NVIDIA device plugin advertises.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// LabelWorkspace marks a VolumeSnapshot with the workspace (PVC) it is of.
const LabelWorkspace = "medforge.workspace"

// LabelRestoredFrom marks a restored workspace PVC with the VolumeSnapshot
// it was made from.
const LabelRestoredFrom = "medforge.restored-from"

// SnapshotGVR is the VolumeSnapshot resource.
var SnapshotGVR = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}

// Config configures the driver. Zero values take the defaults shown.
type Config struct {
	// ExternalNamespace and InternalNamespace hold the sessions of each
	// exposure (medforge-external-sessions, medforge-internal-sessions).
	ExternalNamespace string
	InternalNamespace string
	// SystemNamespace is where MedForge's API and Caddy run (medforge); the
	// NetworkPolicies admit only their Pods to a session's :8080.
	SystemNamespace string
	// RouterLabels and APILabels select the Caddy and API Pods
	// (app.kubernetes.io/name: medforge-caddy / medforge-api).
	RouterLabels map[string]string
	APILabels    map[string]string
	// StorageClass of workspace PVCs ("" uses the cluster's default) and
	// WorkspaceSize (50Gi).
	StorageClass  string
	WorkspaceSize resource.Quantity
	// SnapshotClass of stop VolumeSnapshots ("" uses the default class).
	SnapshotClass string
	// EphemeralStorage limit per session Pod (20Gi).
	EphemeralStorage resource.Quantity
	// RequireDigest refuses images not pinned by digest (production).
	RequireDigest bool
	// Instance is the session runtime's instance label (sessions.Config.
	// Instance); it is part of workspace PVC names, so two MedForge
	// deployments (two databases) sharing a cluster never share a PVC.
	Instance string
	// GPUNodeSelector, a label selector, limits the GPU inventory to some
	// nodes ("" takes every node with allocatable nvidia.com/gpu).
	GPUNodeSelector string
	// DataClaims are the public competition data: PVCs present in both
	// session namespaces, mounted read-only into every session Pod (the
	// Docker runtime's /data/training and /data/public-eval bind mounts).
	DataClaims []DataClaim
	// UnschedulableGrace is how long a session Pod may stay Unschedulable
	// before Ready reports sessions.ErrUnschedulable and the session goes
	// back to the waitlist (20 s: the scheduler retries meanwhile, and a
	// GPU freed by a Pod that is terminating lets it through).
	UnschedulableGrace time.Duration
	// HoldoutsClaim is the PVC of the hidden test holdouts
	// (medforge-holdouts); New refuses a data claim of that name, so it is
	// never mounted into a session.
	HoldoutsClaim string
}

// DataClaim is one read-only data volume of session Pods.
type DataClaim struct {
	// Claim is the PVC's name, the same in both session namespaces.
	Claim string
	// Target is the absolute mount path, under /data/.
	Target string
}

// validate refuses data claims that would expose holdouts, shadow the
// workspace, or are not valid names.
func (c *Config) validate() error {
	seen := map[string]bool{}
	for _, dc := range c.DataClaims {
		switch {
		case dc.Claim == "" || len(validation.IsDNS1123Subdomain(dc.Claim)) > 0:
			return fmt.Errorf("kubert: data claim %q is not a valid PVC name", dc.Claim)
		case dc.Claim == c.HoldoutsClaim:
			return fmt.Errorf("kubert: data claim %q is the holdouts claim: hidden test data is never mounted into a session", dc.Claim)
		case !strings.HasPrefix(dc.Target, "/data/") || path.Clean(dc.Target) != dc.Target || seen[dc.Target]:
			return fmt.Errorf("kubert: data claim %s: mount path %q must be a distinct clean path under /data/", dc.Claim, dc.Target)
		}
		seen[dc.Target] = true
	}
	return nil
}

func (c *Config) defaults() {
	if c.ExternalNamespace == "" {
		c.ExternalNamespace = "medforge-external-sessions"
	}
	if c.InternalNamespace == "" {
		c.InternalNamespace = "medforge-internal-sessions"
	}
	if c.SystemNamespace == "" {
		c.SystemNamespace = "medforge"
	}
	if c.RouterLabels == nil {
		c.RouterLabels = map[string]string{"app.kubernetes.io/name": "medforge-caddy"}
	}
	if c.APILabels == nil {
		c.APILabels = map[string]string{"app.kubernetes.io/name": "medforge-api"}
	}
	if c.WorkspaceSize.IsZero() {
		c.WorkspaceSize = resource.MustParse("50Gi")
	}
	if c.EphemeralStorage.IsZero() {
		c.EphemeralStorage = resource.MustParse("20Gi")
	}
	if c.UnschedulableGrace <= 0 {
		c.UnschedulableGrace = 20 * time.Second
	}
	if c.HoldoutsClaim == "" {
		c.HoldoutsClaim = "medforge-holdouts"
	}
}

// Driver is the Kubernetes session runtime. It is safe for concurrent use.
type Driver struct {
	cfg Config
	cl  kubernetes.Interface
	dyn dynamic.Interface

	imu      sync.Mutex
	started  bool
	stopInf  context.CancelFunc
	pods     map[string]listersv1.PodLister // by namespace
	informer map[string]cache.SharedIndexInformer
	synced   []cache.InformerSynced

	gmu      sync.Mutex
	nodeOfID map[int]string // GPU row id -> node, from the last Devices
}

// New builds a driver on a client configuration (in-cluster, or from a
// kubeconfig). It talks to the API server only when used.
func New(rc *rest.Config, cfg Config) (*Driver, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	cl, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, cl: cl, dyn: dyn, nodeOfID: map[int]string{}}, nil
}

// Config returns the effective configuration.
func (d *Driver) Config() Config { return d.cfg }

// Close stops the informers.
func (d *Driver) Close() {
	d.imu.Lock()
	defer d.imu.Unlock()
	if d.stopInf != nil {
		d.stopInf()
	}
}

// Namespace is the namespace of an exposure's sessions.
func (d *Driver) Namespace(e sessions.Exposure) string {
	if e == sessions.Internal {
		return d.cfg.InternalNamespace
	}
	return d.cfg.ExternalNamespace
}

func (d *Driver) namespaces() []string {
	return []string{d.cfg.ExternalNamespace, d.cfg.InternalNamespace}
}

// unavailable wraps errors that mean the API server did not answer.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) {
		return fmt.Errorf("%w: %v", sessions.ErrRuntimeUnavailable, err)
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		// No API status at all: the connection failed.
		return fmt.Errorf("%w: %v", sessions.ErrRuntimeUnavailable, err)
	}
	return err
}

// Ping checks that the API server answers and is ready.
func (d *Driver) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	body, err := d.cl.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%w: kubernetes API server: %v", sessions.ErrRuntimeUnavailable, err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("%w: kubernetes API server not ready: %.200s", sessions.ErrRuntimeUnavailable, body)
	}
	return nil
}

// ---- informers ----

// ensureInformers starts one Pod informer per session namespace (Pods
// labelled medforge.managed=true) and waits for their first sync.
func (d *Driver) ensureInformers(ctx context.Context) error {
	d.imu.Lock()
	if !d.started {
		bg, cancel := context.WithCancel(context.Background())
		d.stopInf = cancel
		d.pods = map[string]listersv1.PodLister{}
		d.informer = map[string]cache.SharedIndexInformer{}
		for _, ns := range d.namespaces() {
			f := informers.NewSharedInformerFactoryWithOptions(d.cl, 0, informers.WithNamespace(ns),
				informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sessions.LabelManaged + "=true" }))
			pi := f.Core().V1().Pods()
			d.informer[ns] = pi.Informer()
			d.pods[ns] = pi.Lister()
			d.synced = append(d.synced, pi.Informer().HasSynced)
			f.Start(bg.Done())
		}
		d.started = true
	}
	synced := d.synced
	d.imu.Unlock()
	for {
		all := true
		for _, s := range synced {
			all = all && s()
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: pod informer has not synced: %v", sessions.ErrRuntimeUnavailable, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Driver) cachedPod(ns, name string) (*corev1.Pod, error) {
	d.imu.Lock()
	l := d.pods[ns]
	d.imu.Unlock()
	if l == nil {
		return nil, errors.New("informer not started")
	}
	return l.Pods(ns).Get(name)
}

// WatchExits calls fn whenever a session Pod of match changes phase or
// readiness, starts terminating, or is deleted, until ctx ends.
func (d *Driver) WatchExits(ctx context.Context, match map[string]string, fn func(id string)) error {
	if err := d.ensureInformers(ctx); err != nil {
		return err
	}
	sel := labels.SelectorFromSet(match)
	relevant := func(obj any) bool {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, ok := obj.(*corev1.Pod)
		return ok && sel.Matches(labels.Set(p.Labels))
	}
	h := cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Pod)
			n, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 || !relevant(n) {
				return
			}
			if o.Status.Phase != n.Status.Phase || podReady(o) != podReady(n) ||
				(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) || n.Spec.NodeName != o.Spec.NodeName {
				// Name the Pod only when it is going away: the id tells
				// listeners (routing) to drop its address at once.
				id := ""
				if n.DeletionTimestamp != nil || n.Status.Phase == corev1.PodFailed || n.Status.Phase == corev1.PodSucceeded {
					id = n.Namespace + "/" + n.Name
				}
				fn(id)
			}
		},
		DeleteFunc: func(obj any) {
			if !relevant(obj) {
				return
			}
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			id := ""
			if p, ok := obj.(*corev1.Pod); ok {
				id = p.Namespace + "/" + p.Name
			}
			fn(id)
		},
	}
	d.imu.Lock()
	infs := make([]cache.SharedIndexInformer, 0, len(d.informer))
	for _, i := range d.informer {
		infs = append(infs, i)
	}
	d.imu.Unlock()
	var regs []func()
	for _, inf := range infs {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		regs = append(regs, func() { _ = inf.RemoveEventHandler(reg) })
	}
	<-ctx.Done()
	for _, r := range regs {
		r()
	}
	return nil
}

func alive(p *corev1.Pod) bool {
	return (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending || p.Status.Phase == "") && p.DeletionTimestamp == nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podFailure is why a Pod failed, or "" while it has not.
func podFailure(p *corev1.Pod) string {
	if p.Status.Phase != corev1.PodFailed {
		return ""
	}
	r := "the session's pod failed"
	if p.Status.Reason != "" {
		r += ": " + p.Status.Reason
	}
	if p.Status.Message != "" {
		r += ": " + p.Status.Message
	}
	return r
}

// unschedulable reports whether the scheduler has found no place for the
// Pod for at least UnschedulableGrace (its PodScheduled condition False,
// reason Unschedulable, since then), with the scheduler's message. A Pod
// waiting for its volumes (waitsForVolume) does not count: that is
// provisioning, not GPU capacity, and ends in the start timeout if it
// never resolves.
func (d *Driver) unschedulable(p *corev1.Pod, now time.Time) (string, bool) {
	if p.Spec.NodeName != "" {
		return "", false
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
			continue
		}
		if waitsForVolume(c.Message) || now.Sub(c.LastTransitionTime.Time) < d.cfg.UnschedulableGrace {
			return "", false
		}
		return c.Message, true
	}
	return "", false
}

// waitsForVolume reports whether a scheduler message is about the Pod's
// volumes ("pod has unbound immediate PersistentVolumeClaims",
// "persistentvolumeclaim ... not found" while the scheduler's cache lags,
// volume node affinity): the volume side resolves or ends in the start
// timeout, it is no reason to give the GPU back.
func waitsForVolume(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "persistentvolumeclaim") || strings.Contains(m, "volume")
}

// ---- sessions.Runtime ----

// EnsureNetworks creates or updates the session NetworkPolicies of both
// namespaces (see Policies). The namespaces themselves come from the
// deployment's manifests: the API's Role cannot create them.
func (d *Driver) EnsureNetworks(ctx context.Context) error {
	for _, p := range d.Policies() {
		api := d.cl.NetworkingV1().NetworkPolicies(p.Namespace)
		cur, err := api.Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := api.Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return unavailable(fmt.Errorf("create NetworkPolicy %s/%s: %w", p.Namespace, p.Name, err))
			}
		case err != nil:
			return unavailable(fmt.Errorf("get NetworkPolicy %s/%s: %w", p.Namespace, p.Name, err))
		default:
			cur.Spec = p.Spec
			cur.Labels = p.Labels
			if _, err := api.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return unavailable(fmt.Errorf("update NetworkPolicy %s/%s: %w", p.Namespace, p.Name, err))
			}
		}
	}
	return nil
}

// Policies are the session NetworkPolicies: in each session namespace,
// only the router and the API may reach a session's :8080 (so sessions
// never reach each other), and in the internal namespace sessions have no
// egress at all.
func (d *Driver) Policies() []*netv1.NetworkPolicy {
	port := intstr.FromInt32(8080)
	tcp := corev1.ProtocolTCP
	sessionsSel := metav1.LabelSelector{MatchLabels: map[string]string{sessions.LabelManaged: "true"}}
	sysNS := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": d.cfg.SystemNamespace}}
	lbl := map[string]string{"app.kubernetes.io/managed-by": "medforge"}
	var out []*netv1.NetworkPolicy
	for _, ns := range d.namespaces() {
		out = append(out, &netv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "medforge-session-ingress", Namespace: ns, Labels: lbl},
			Spec: netv1.NetworkPolicySpec{
				PodSelector: sessionsSel,
				PolicyTypes: []netv1.PolicyType{netv1.PolicyTypeIngress},
				Ingress: []netv1.NetworkPolicyIngressRule{{
					From: []netv1.NetworkPolicyPeer{
						{NamespaceSelector: sysNS, PodSelector: &metav1.LabelSelector{MatchLabels: d.cfg.RouterLabels}},
						{NamespaceSelector: sysNS, PodSelector: &metav1.LabelSelector{MatchLabels: d.cfg.APILabels}},
					},
					Ports: []netv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
				}},
			},
		})
	}
	out = append(out, &netv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "medforge-session-no-egress", Namespace: d.cfg.InternalNamespace, Labels: lbl},
		Spec: netv1.NetworkPolicySpec{
			PodSelector: sessionsSel,
			PolicyTypes: []netv1.PolicyType{netv1.PolicyTypeEgress},
			Egress:      []netv1.NetworkPolicyEgressRule{}, // none: no egress
		},
	})
	return out
}

// splitID splits a container id "<namespace>/<pod name>".
func splitID(id string) (string, string, error) {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("kubert: bad container id %q", id)
	}
	return ns, name, nil
}

// Start creates the session's workspace PVC (when missing), its Service and
// its Pod, and returns "<namespace>/<pod>". A Pod or Service left behind by
// a failed Start is removed before it returns.
func (d *Driver) Start(ctx context.Context, spec sessions.ContainerSpec) (string, error) {
	if err := d.ensureInformers(ctx); err != nil {
		return "", err
	}
	ns := d.Namespace(sessions.Exposure(spec.Labels[sessions.LabelExposure]))
	pod, err := d.PodFor(spec)
	if err != nil {
		return "", err
	}
	if err := d.ensurePVC(ctx, ns, spec.Workspace, spec.WorkspaceSource, spec.Labels); err != nil {
		return "", err
	}
	svc := d.serviceFor(spec, ns)
	if _, err := d.cl.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", unavailable(fmt.Errorf("create Service %s/%s: %w", ns, svc.Name, err))
	}
	id := ns + "/" + pod.Name
	if _, err := d.cl.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		_ = d.Remove(context.WithoutCancel(ctx), id)
		return "", unavailable(fmt.Errorf("create Pod %s: %w", id, err))
	}
	return id, nil
}

// PodFor builds a session's Pod (exported for tests and the manifests'
// documentation; Start uses it).
func (d *Driver) PodFor(spec sessions.ContainerSpec) (*corev1.Pod, error) {
	if spec.Name == "" || spec.Image == "" || spec.Workspace == "" {
		return nil, errors.New("kubert: a session pod needs a name, an image and a workspace")
	}
	if d.cfg.RequireDigest && !sessions.DigestPinned(spec.Image) {
		return nil, fmt.Errorf("kubert: image %q is not pinned by digest (image@sha256:...)", spec.Image)
	}
	// Only the workspace and the data claims are mounted: a host path has
	// no meaning on a cluster (and the session namespaces' restricted Pod
	// Security Standard refuses hostPath), and hidden test data must never
	// reach a session.
	for _, m := range spec.Mounts {
		if m.Target != "/home/coder" {
			return nil, fmt.Errorf("kubert: bind mount %s is not supported on Kubernetes; only the workspace is mounted", m.Target)
		}
	}
	ns := d.Namespace(sessions.Exposure(spec.Labels[sessions.LabelExposure]))
	gpuID, err := strconv.Atoi(spec.Labels[sessions.LabelGPU])
	if err != nil {
		return nil, fmt.Errorf("kubert: spec has no GPU label: %w", err)
	}
	node := d.nodeOf(gpuID)
	if node == "" {
		return nil, fmt.Errorf("kubert: GPU %d is on no known node (sync the inventory)", gpuID)
	}
	volumes, mounts := d.volumes(spec.Workspace)
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: ns, Labels: copyMap(spec.Labels)},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: new(int64(10)),
			SecurityContext:               podSecurity(),
			Affinity:                      onNode(node),
			Tolerations:                   []corev1.Toleration{{Key: string(GPUResource), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers:                    []corev1.Container{d.ideContainer(spec, mounts)},
			Volumes:                       volumes,
		},
	}, nil
}

// Session containers run as this user and group (the IDE image's coder).
const sessionUID, sessionGID = 1000, 1000

// podSecurity is a session Pod's security context: non-root as the
// session user, the workspace group-owned by it, the runtime's default
// seccomp profile.
func podSecurity() *corev1.PodSecurityContext {
	uid, gid := int64(sessionUID), int64(sessionGID)
	yes := true
	return &corev1.PodSecurityContext{
		RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes, FSGroup: &gid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurity is the IDE container's security context: non-root as
// the session user, no privilege escalation, every capability dropped, the
// runtime's default seccomp profile.
func containerSecurity() *corev1.SecurityContext {
	uid, gid := int64(sessionUID), int64(sessionGID)
	no, yes := false, true
	return &corev1.SecurityContext{
		RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes,
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// onNode pins a Pod to the named node (the one holding its GPU).
func onNode(node string) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}},
	}}
}

// ideContainer is a session Pod's one container: the IDE on port 8080
// with spec's environment plus MEDFORGE_NODE, its limits requested in
// full, ready once the port accepts connections.
func (d *Driver) ideContainer(spec sessions.ContainerSpec, mounts []corev1.VolumeMount) corev1.Container {
	limits := d.limits(spec)
	var env []corev1.EnvVar
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	env = append(env, corev1.EnvVar{Name: "MEDFORGE_NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}})
	return corev1.Container{
		Name:  "ide",
		Image: spec.Image,
		Env:   env,
		Ports: []corev1.ContainerPort{{Name: "ide", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Limits:   limits,
			Requests: limits.DeepCopy(),
		},
		SecurityContext: containerSecurity(),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
			PeriodSeconds: 2, FailureThreshold: 3,
		},
		VolumeMounts: mounts,
	}
}

// limits are a session container's resource limits: one GPU, the
// configured ephemeral storage, and spec's CPU and memory when set.
func (d *Driver) limits(spec sessions.ContainerSpec) corev1.ResourceList {
	limits := corev1.ResourceList{
		GPUResource:                     resource.MustParse("1"),
		corev1.ResourceEphemeralStorage: d.cfg.EphemeralStorage,
	}
	if spec.NanoCPUs > 0 {
		limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(spec.NanoCPUs/1e6, resource.DecimalSI)
	}
	if spec.MemoryBytes > 0 {
		limits[corev1.ResourceMemory] = *resource.NewQuantity(spec.MemoryBytes, resource.BinarySI)
	}
	return limits
}

// volumes are a session Pod's volumes and mounts: the workspace PVC at
// /home/coder, then each data claim read-only (on the volume and on the
// mount) at its target.
func (d *Driver) volumes(workspace string) ([]corev1.Volume, []corev1.VolumeMount) {
	vols := []corev1.Volume{{
		Name:         "workspace",
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: workspace}},
	}}
	mounts := []corev1.VolumeMount{{Name: "workspace", MountPath: "/home/coder"}}
	for i, dc := range d.cfg.DataClaims {
		name := "data-" + strconv.Itoa(i)
		vols = append(vols, corev1.Volume{
			Name:         name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dc.Claim, ReadOnly: true}},
		})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: dc.Target, ReadOnly: true})
	}
	return vols, mounts
}

func (d *Driver) serviceFor(spec sessions.ContainerSpec, ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: ns, Labels: copyMap(spec.Labels)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			Selector: map[string]string{
				sessions.LabelInstance: spec.Labels[sessions.LabelInstance],
				sessions.LabelSlug:     spec.Labels[sessions.LabelSlug],
			},
			Ports: []corev1.ServicePort{{Name: "ide", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// ensurePVC creates the workspace PVC name in ns when missing: empty, or
// (source set) restored from that snapshot, whose VolumeSnapshot must be
// in ns and of the workspace the name says.
func (d *Driver) ensurePVC(ctx context.Context, ns, name, source string, lbl map[string]string) error {
	api := d.cl.CoreV1().PersistentVolumeClaims(ns)
	if _, err := api.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return unavailable(fmt.Errorf("get PVC %s/%s: %w", ns, name, err))
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			sessions.LabelManaged:  "true",
			sessions.LabelInstance: lbl[sessions.LabelInstance],
			sessions.LabelSession:  lbl[sessions.LabelSession],
			sessions.LabelUser:     lbl[sessions.LabelUser],
			LabelWorkspace:         name,
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: d.cfg.WorkspaceSize}},
		},
	}
	if d.cfg.StorageClass != "" {
		pvc.Spec.StorageClassName = &d.cfg.StorageClass
	}
	if source != "" {
		ds, err := d.snapshotSource(ctx, ns, source)
		if err != nil {
			return err
		}
		pvc.Spec.DataSource = ds
		pvc.Labels[LabelRestoredFrom] = ds.Name
	}
	if _, err := api.Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return unavailable(fmt.Errorf("create PVC %s/%s: %w", ns, name, err))
	}
	return nil
}

// Ready returns nil once the Pod is Ready (its readiness probe reached the
// IDE on :8080), as the informer saw it.
func (d *Driver) Ready(ctx context.Context, id string) error {
	ns, name, err := splitID(id)
	if err != nil {
		return err
	}
	if err := d.ensureInformers(ctx); err != nil {
		return err
	}
	p, err := d.cachedPod(ns, name)
	if err != nil {
		return err
	}
	if f := podFailure(p); f != "" {
		return errors.New(f)
	}
	if msg, ok := d.unschedulable(p, time.Now()); ok {
		return fmt.Errorf("%w: pod %s: %s", sessions.ErrUnschedulable, id, msg)
	}
	if !podReady(p) || p.DeletionTimestamp != nil {
		return errors.New("pod not ready")
	}
	return nil
}

// Address is the Service's cluster address, ClusterIP:8080. id is
// "<namespace>/<name>", or a bare mf-session-<slug> (the session proxy's
// lookup by slug), searched in both session namespaces.
func (d *Driver) Address(ctx context.Context, id string) (string, error) {
	nss := d.namespaces()
	name := id
	if ns, n, err := splitID(id); err == nil {
		nss, name = []string{ns}, n
	}
	var svc *corev1.Service
	for _, ns := range nss {
		s, err := d.cl.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			svc = s
			break
		}
		if !apierrors.IsNotFound(err) {
			return "", unavailable(fmt.Errorf("get Service %s/%s: %w", ns, name, err))
		}
	}
	if svc == nil {
		return "", fmt.Errorf("no Service %s in the session namespaces", name)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", fmt.Errorf("service %s has no cluster IP", id)
	}
	return svc.Spec.ClusterIP + ":8080", nil
}

// Stop deletes the Pod with grace and waits until it is gone (a missing Pod
// is not an error), so the workspace is quiet before its snapshot.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	ns, name, err := splitID(id)
	if err != nil {
		return err
	}
	g := int64(grace / time.Second)
	err = d.cl.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &g})
	if err != nil && !apierrors.IsNotFound(err) {
		return unavailable(fmt.Errorf("delete Pod %s: %w", id, err))
	}
	deadline := time.Now().Add(grace + 30*time.Second)
	for {
		_, err := d.cl.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return unavailable(fmt.Errorf("get Pod %s: %w", id, err))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s still terminating after %s", id, grace+30*time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Remove deletes the Pod (at once) and the Service; missing ones are not an
// error. The workspace PVC stays, as a ZFS dataset would.
func (d *Driver) Remove(ctx context.Context, id string) error {
	ns, name, err := splitID(id)
	if err != nil {
		return err
	}
	zero := int64(0)
	if err := d.cl.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		return unavailable(fmt.Errorf("delete Pod %s: %w", id, err))
	}
	if err := d.cl.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return unavailable(fmt.Errorf("delete Service %s: %w", id, err))
	}
	return nil
}

// List returns the session Pods whose labels include match, from the
// informer's cache. A Pod counts as Running while it is Pending or Running
// and not terminating (a Pending Pod is a container still starting: a
// recovery pass that listed it just before its launch marked the row
// running must not take it for lost); a failed Pod carries the reason in
// Failure.
func (d *Driver) List(ctx context.Context, match map[string]string) ([]sessions.Container, error) {
	if err := d.ensureInformers(ctx); err != nil {
		return nil, err
	}
	sel := labels.SelectorFromSet(match)
	var out []sessions.Container
	for _, ns := range d.namespaces() {
		d.imu.Lock()
		l := d.pods[ns]
		d.imu.Unlock()
		pods, err := l.Pods(ns).List(sel)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			out = append(out, sessions.Container{
				ID: ns + "/" + p.Name, Name: p.Name, Labels: copyMap(p.Labels),
				Running: alive(p),
				Failure: podFailure(p),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Placement is where the scheduler bound a session's Pod.
type Placement struct {
	Node  string
	Bound bool
}

// Placement reads the bound Pod's node.
func (d *Driver) Placement(ctx context.Context, id string) (Placement, error) {
	ns, name, err := splitID(id)
	if err != nil {
		return Placement{}, err
	}
	p, err := d.cl.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Placement{}, unavailable(err)
	}
	return Placement{Node: p.Spec.NodeName, Bound: p.Spec.NodeName != ""}, nil
}

// ---- sessions.WorkspaceProvider ----

// Kind names the workspace provider.
func (d *Driver) Kind() string { return "kubernetes" }

// Ensure names the session's workspace PVC,
// mf-workspace-<instance>-<session id>. The PVC itself is created by Start,
// in the namespace of the session's exposure (which Ensure does not know).
func (d *Driver) Ensure(ctx context.Context, userID, sessionID int64) (sessions.Workspace, error) {
	return sessions.Workspace{Name: "mf-workspace-" + dnsLabel(d.cfg.Instance) + "-" + strconv.FormatInt(sessionID, 10)}, nil
}

// dnsLabel turns an instance name (a database name) into lowercase
// letters, digits and dashes, at most 40 characters, never empty.
func dnsLabel(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 40; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, '-')
		}
	}
	out := strings.Trim(string(b), "-")
	if out == "" {
		return "default"
	}
	return out
}

func (d *Driver) findPVC(ctx context.Context, name string) (*corev1.PersistentVolumeClaim, error) {
	for _, ns := range d.namespaces() {
		p, err := d.cl.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return p, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, unavailable(fmt.Errorf("get PVC %s/%s: %w", ns, name, err))
		}
	}
	return nil, fmt.Errorf("workspace PVC %s not found in the session namespaces", name)
}

// Snapshot creates the VolumeSnapshot snap (stop-<unixms>) of the workspace
// PVC name. An existing snapshot of that name and PVC is success, so a
// retry after a crash leaves exactly one; one of another PVC is an error.
func (d *Driver) Snapshot(ctx context.Context, name, snap string) error {
	pvc, err := d.findPVC(ctx, name)
	if err != nil {
		return err
	}
	spec := map[string]any{"source": map[string]any{"persistentVolumeClaimName": name}}
	if d.cfg.SnapshotClass != "" {
		spec["volumeSnapshotClassName"] = d.cfg.SnapshotClass
	}
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshot",
		"metadata": map[string]any{
			"name": snap, "namespace": pvc.Namespace,
			"labels": map[string]any{LabelWorkspace: name, sessions.LabelManaged: "true",
				sessions.LabelSession: pvc.Labels[sessions.LabelSession], sessions.LabelUser: pvc.Labels[sessions.LabelUser]},
		},
		"spec": spec,
	}}
	api := d.dyn.Resource(SnapshotGVR).Namespace(pvc.Namespace)
	_, err = api.Create(ctx, vs, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return unavailable(fmt.Errorf("create VolumeSnapshot %s/%s: %w", pvc.Namespace, snap, err))
	}
	cur, gerr := api.Get(ctx, snap, metav1.GetOptions{})
	if gerr != nil {
		return unavailable(gerr)
	}
	src, _, _ := unstructured.NestedString(cur.Object, "spec", "source", "persistentVolumeClaimName")
	if src != name {
		return fmt.Errorf("VolumeSnapshot %s/%s already exists for another workspace (%s)", pvc.Namespace, snap, src)
	}
	return nil
}

// Snapshots lists the VolumeSnapshot names of the workspace PVC name.
func (d *Driver) Snapshots(ctx context.Context, name string) ([]string, error) {
	var out []string
	for _, ns := range d.namespaces() {
		l, err := d.dyn.Resource(SnapshotGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelWorkspace + "=" + name})
		if err != nil {
			return nil, unavailable(err)
		}
		for _, it := range l.Items {
			out = append(out, it.GetName())
		}
	}
	sort.Strings(out)
	return out, nil
}

// ---- sessions.GPUProvider (through GPUs) ----

// GPUs is the driver's GPU provider: Kind "kubernetes". A separate type,
// since the driver's Kind already names the workspace provider.
type GPUs struct{ d *Driver }

// GPUs returns the driver's GPU provider.
func (d *Driver) GPUs() *GPUs { return &GPUs{d} }

// Kind names the provider.
func (g *GPUs) Kind() string { return "kubernetes" }

// Attach is false: the device plugin attaches the GPU, not MedForge.
func (g *GPUs) Attach() bool { return false }

// Check is healthy: on Kubernetes the device plugin withdraws unhealthy
// devices from the node's allocatable count, which the next sync sees.
func (g *GPUs) Check(ctx context.Context, _ sessions.GPU) (sessions.Health, error) {
	return sessions.Health{}, nil
}

// Devices lists one GPU per unit of each node's allocatable nvidia.com/gpu,
// named "<node>/gpu<i>". A GPU's id is stable for its node and position
// (a hash of the node name, so nodes joining or leaving do not renumber the
// others); the rare hash collision moves the later node (by name) on.
func (g *GPUs) Devices(ctx context.Context) ([]sessions.GPU, error) {
	nodes, err := g.d.cl.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: g.d.cfg.GPUNodeSelector})
	if err != nil {
		return nil, unavailable(fmt.Errorf("list nodes: %w", err))
	}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	usedBase := map[int]bool{}
	nodeOf := map[int]string{}
	var out []sessions.GPU
	for _, n := range nodes.Items {
		count := nodeGPUs(&n)
		if count == 0 {
			continue
		}
		base := nodeBase(n.Name)
		for usedBase[base] {
			base = (base + 1) % nodeSlots
		}
		usedBase[base] = true
		for i := 0; i < count; i++ {
			id := base*gpusPerNode + i
			nodeOf[id] = n.Name
			out = append(out, sessions.GPU{Index: id, Name: n.Name + "/gpu" + strconv.Itoa(i)})
		}
	}
	g.d.gmu.Lock()
	g.d.nodeOfID = nodeOf
	g.d.gmu.Unlock()
	return out, nil
}

// WatchInventory calls fn whenever a GPU node (of GPUNodeSelector) is
// added or deleted, or its allocatable nvidia.com/gpu or its
// schedulability (cordon) changes, until ctx ends: an informer on Nodes,
// so heartbeat-only status updates cost nothing. The Service re-syncs the
// inventory (Devices) on each call.
func (g *GPUs) WatchInventory(ctx context.Context, fn func()) error {
	f := informers.NewSharedInformerFactoryWithOptions(g.d.cl, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = g.d.cfg.GPUNodeSelector }))
	inf := f.Core().V1().Nodes().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { fn() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			if ok1 && ok2 && nodeGPUs(o) == nodeGPUs(n) {
				return
			}
			fn()
		},
		DeleteFunc: func(any) { fn() },
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	return nil
}

// nodeGPUs is how many GPU rows a node gives the inventory: its allocatable
// nvidia.com/gpu (at most gpusPerNode), 0 while it is cordoned.
func nodeGPUs(n *corev1.Node) int {
	q, ok := n.Status.Allocatable[GPUResource]
	if !ok || q.Value() <= 0 || n.Spec.Unschedulable {
		return 0
	}
	return int(min(q.Value(), gpusPerNode))
}

const (
	gpusPerNode = 64
	nodeSlots   = 1 << 25 // ids stay below 2^31
)

func nodeBase(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % nodeSlots)
}

func (d *Driver) nodeOf(gpuID int) string {
	d.gmu.Lock()
	defer d.gmu.Unlock()
	return d.nodeOfID[gpuID]
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var (
	_ sessions.Runtime           = (*Driver)(nil)
	_ sessions.ReadyChecker      = (*Driver)(nil)
	_ sessions.ExitWatcher       = (*Driver)(nil)
	_ sessions.WorkspaceProvider = (*Driver)(nil)
	_ sessions.GPUProvider       = (*GPUs)(nil)
	_ sessions.InventoryWatcher  = (*GPUs)(nil)
)

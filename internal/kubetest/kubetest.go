// Package kubetest starts a real Kubernetes control plane for tests: etcd, a
// kube-apiserver, a kube-scheduler and KWOK (simulated nodes and pods), all
// built by ops/kube/build.sh and found through $MEDFORGE_KUBE_BIN or that
// script's cache. There is no controller-manager, so the package does the
// three things it would: it creates each namespace's default service account,
// creates fake GPU nodes without the not-ready taint, and binds workspace
// PVCs to volumes (a stand-in for a CSI provisioner, named as such).
//
// NetworkPolicies are stored and validated but not enforced (there is no
// CNI); VolumeSnapshots are stored (the CRDs are installed) but no snapshot
// controller acts on them.
//
// It is for tests only and must never be imported by production code.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// StorageClass is the storage class of the test provisioner: PVCs of this
// class in the watched namespaces are bound to a fresh PersistentVolume.
const StorageClass = "medforge-test"

// Cluster is a running control plane. Its methods are safe for concurrent use.
type Cluster struct {
	Dir string // scratch folder: etcd data, certificates, logs, kubeconfig

	// Admin is a system:masters client configuration.
	Admin  *rest.Config
	Client kubernetes.Interface
	Dyn    dynamic.Interface

	bin      string
	apiPort  int
	etcdPort int
	token    string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	stop  context.CancelFunc
}

// BinDir finds the control-plane binaries: $MEDFORGE_KUBE_BIN, else the
// cache folder ops/kube/build.sh prints. It reports why when they are
// missing.
func BinDir() (string, error) {
	dir := os.Getenv("MEDFORGE_KUBE_BIN")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		out, err := exec.Command(filepath.Join(root, "ops/kube/build.sh"), "--dir").Output()
		if err != nil {
			return "", fmt.Errorf("ops/kube/build.sh --dir: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kwok", "kwok-stages"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s missing in %s: run ops/kube/build.sh (make test-kubernetes does)", b, dir)
		}
	}
	return dir, nil
}

// RepoRoot is the repository root (the folder with go.mod).
func RepoRoot() string {
	r, err := repoRoot()
	if err != nil {
		panic(err)
	}
	return r
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("kubetest: cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Require returns the binaries folder, or skips the test with the reason; under
// MEDFORGE_TEST_STRICT it fails instead, so `make test-kubernetes` cannot
// pass on skipped tests.
func Require(t testing.TB) string {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		if os.Getenv("MEDFORGE_TEST_STRICT") != "" {
			t.Fatalf("kubernetes control plane: %v", err)
		}
		t.Skipf("kubernetes control plane not built: %v", err)
	}
	return dir
}

// Start starts etcd, the API server, the scheduler and KWOK in dir and waits
// until the API answers. Namespaces listed in watch get a default service
// account and the test PVC binder. Call Close when done.
func Start(ctx context.Context, bin, dir string, watch ...string) (*Cluster, error) {
	c := &Cluster{Dir: dir, bin: bin, procs: map[string]*exec.Cmd{}}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	var err error
	if c.etcdPort, err = freePort(); err != nil {
		return nil, err
	}
	if c.apiPort, err = freePort(); err != nil {
		return nil, err
	}
	c.token = randHex(16)
	if err := c.writeAuth(); err != nil {
		return nil, err
	}
	if err := c.startEtcd(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.writeKubeconfig(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.startClients(); err != nil {
		c.Close()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	for _, ns := range watch {
		if err := c.EnsureNamespace(ctx, ns); err != nil {
			c.Close()
			return nil, err
		}
		go c.bindPVCs(bg, ns)
	}
	if err := c.ApplyFile(ctx, filepath.Join(RepoRoot(), "deploy/kubernetes/crds")); err != nil {
		c.Close()
		return nil, fmt.Errorf("snapshot CRDs: %w", err)
	}
	return c, c.waitCRDs(ctx)
}

// startClients starts the API server's clients that keep caches: the
// scheduler and KWOK.
func (c *Cluster) startClients() error {
	if err := c.spawn("kube-scheduler", filepath.Join(c.bin, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig(), "--leader-elect=false", "--secure-port=0",
		"--authentication-skip-lookup", "-v=1"); err != nil {
		return err
	}
	st := filepath.Join(c.bin, "kwok-stages")
	stages := []string{st + "/node/fast/node-initialize.yaml", st + "/node/heartbeat/node-heartbeat.yaml",
		st + "/pod/fast/pod-ready.yaml", st + "/pod/fast/pod-complete.yaml", st + "/pod/fast/pod-delete.yaml"}
	return c.spawn("kwok", filepath.Join(c.bin, "kwok"),
		"--kubeconfig="+c.Kubeconfig(), "--config="+strings.Join(stages, ","),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.244.0.1/16", "--node-ip=10.250.0.1", "--server-address=")
}

// RestartAPIServer starts the API server again after StopAPIServer, then
// restarts the scheduler and KWOK: their informers' relist backoff after an
// outage (up to 30 s per resource, and a stale volume cache meanwhile) is
// client-go's behaviour, not MedForge's, and would only make the tests
// after an outage slow and flaky.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	c.kill("kube-scheduler")
	c.kill("kwok")
	return c.startClients()
}

// Kubeconfig is the path of an admin kubeconfig for the cluster.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.Dir, "kubeconfig") }

func (c *Cluster) writeAuth() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(c.token+",medforge-test-admin,1,\"system:masters\"\n"), 0o600)
}

func (c *Cluster) startEtcd() error {
	peer, err := freePort()
	if err != nil {
		return err
	}
	cu := "http://127.0.0.1:" + strconv.Itoa(c.etcdPort)
	pu := "http://127.0.0.1:" + strconv.Itoa(peer)
	return c.spawn("etcd", filepath.Join(c.bin, "etcd"),
		"--data-dir="+filepath.Join(c.Dir, "etcd"), "--listen-client-urls="+cu, "--advertise-client-urls="+cu,
		"--listen-peer-urls="+pu, "--initial-advertise-peer-urls="+pu, "--initial-cluster=default="+pu,
		"--unsafe-no-fsync", "--log-level=warn")
}

// StartAPIServer starts (or restarts, after StopAPIServer) the API server on
// the cluster's fixed port and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.spawn("kube-apiserver", filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(c.etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(c.apiPort),
		"--endpoint-reconciler-type=none", "--cert-dir="+filepath.Join(c.Dir, "pki"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(c.Dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(c.Dir, "sa.key"),
		"--token-auth-file="+filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		// Without a controller-manager nothing would remove the taint
		// this plugin adds to new nodes.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--storage-media-type=application/json"); err != nil {
		return err
	}
	cfg := &rest.Config{
		Host:        "https://127.0.0.1:" + strconv.Itoa(c.apiPort),
		BearerToken: c.token,
		QPS:         500, Burst: 1000,
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ca, err := os.ReadFile(filepath.Join(c.Dir, "pki", "apiserver.crt"))
		if err == nil {
			cfg.TLSClientConfig = rest.TLSClientConfig{CAData: ca}
			cl, err := kubernetes.NewForConfig(cfg)
			if err == nil {
				body, err := cl.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				if err == nil && strings.TrimSpace(string(body)) == "ok" {
					break
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("kube-apiserver not ready after 90s; see %s", filepath.Join(c.Dir, "logs", "kube-apiserver.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Admin = cfg
	var err error
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	c.Dyn, err = dynamic.NewForConfig(cfg)
	return err
}

// Pid is the process id of a running component ("kube-apiserver", "etcd",
// "kube-scheduler", "kwok"), or 0.
func (c *Cluster) Pid(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd := c.procs[name]; cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}

// StopAPIServer kills the API server (SIGKILL: as a crash or a partition
// would look to clients). etcd, the scheduler and KWOK keep running.
func (c *Cluster) StopAPIServer() { c.kill("kube-apiserver") }

func (c *Cluster) writeKubeconfig() error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, c.Admin.Host, filepath.Join(c.Dir, "pki", "apiserver.crt"), c.token)
	return os.WriteFile(c.Kubeconfig(), []byte(kc), 0o600)
}

// spawn starts a process whose output goes to logs/<name>.log; Close (or
// kill) ends it.
func (c *Cluster) spawn(name, path string, args ...string) error {
	logf, err := os.OpenFile(filepath.Join(c.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, and killed with the test binary if that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	c.mu.Lock()
	c.procs[name] = cmd
	c.mu.Unlock()
	return nil
}

func (c *Cluster) kill(name string) {
	c.mu.Lock()
	cmd := c.procs[name]
	delete(c.procs, name)
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for i := 0; i < 100 && cmd.ProcessState == nil; i++ {
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops every process. The scratch folder stays for the test's
// TempDir cleanup (and for reading logs of a failed run).
func (c *Cluster) Close() {
	if c.stop != nil {
		c.stop()
	}
	for _, n := range []string{"kwok", "kube-scheduler", "kube-apiserver", "etcd"} {
		c.kill(n)
	}
}

// EnsureNamespace creates a namespace and its default service account
// (the service-account controller's job) when missing.
func (c *Cluster) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	_, err = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("default service account in %s: %w", ns, err)
	}
	return nil
}

// AddGPUNodes creates n fake nodes name-0..name-(n-1) with gpus
// nvidia.com/gpu each, managed by KWOK, labelled medforge.test/pool=name,
// and waits until they are Ready.
func (c *Cluster) AddGPUNodes(ctx context.Context, name string, n, gpus int) ([]string, error) {
	return c.AddPoolNodes(ctx, name, name, n, gpus)
}

// AddPoolNodes is AddGPUNodes for nodes prefix-0..prefix-(n-1) joining the
// existing pool (medforge.test/pool=pool): a node added at runtime.
func (c *Cluster) AddPoolNodes(ctx context.Context, pool, prefix string, n, gpus int) ([]string, error) {
	var names []string
	for i := 0; i < n; i++ {
		nn := fmt.Sprintf("%s-%d", prefix, i)
		res := corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("64"),
			corev1.ResourceMemory:           resource.MustParse("512Gi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("2Ti"),
			corev1.ResourcePods:             resource.MustParse("110"),
			"nvidia.com/gpu":                *resource.NewQuantity(int64(gpus), resource.DecimalSI),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        nn,
				Labels:      map[string]string{"kubernetes.io/hostname": nn, "type": "kwok", "medforge.test/pool": pool},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
		}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("node %s: %w", nn, err)
		}
		names = append(names, nn)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, nn := range names {
		for {
			node, err := c.Client.CoreV1().Nodes().Get(ctx, nn, metav1.GetOptions{})
			if err == nil && nodeReady(node) {
				// KWOK's initialize stage rewrites status; the GPU count
				// it keeps is the one the scheduler will use.
				if q := node.Status.Allocatable["nvidia.com/gpu"]; q.Value() == int64(gpus) {
					break
				}
				node.Status.Capacity["nvidia.com/gpu"] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
				node.Status.Allocatable["nvidia.com/gpu"] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
				_, _ = c.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("node %s not ready with %d GPUs after 60s (see logs/kwok.log)", nn, gpus)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return names, nil
}

// DeleteNodes removes nodes (and so, with no kubelet, leaves their pods
// bound to nothing: tests delete those themselves).
func (c *Cluster) DeleteNodes(ctx context.Context, names []string) {
	for _, n := range names {
		_ = c.Client.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, cnd := range n.Status.Conditions {
		if cnd.Type == corev1.NodeReady && cnd.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// bindPVCs is the test provisioner: it binds every PVC of StorageClass in ns
// to a new PersistentVolume, as a CSI provisioner plus the PV controller
// would, so the scheduler's volume binding lets the pod through.
func (c *Cluster) bindPVCs(ctx context.Context, ns string) {
	for ctx.Err() == nil {
		c.bindOnce(ctx, ns)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) bindOnce(ctx context.Context, ns string) {
	c.mu.Lock()
	cl := c.Client
	c.mu.Unlock()
	pvcs, err := cl.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		if pvc.Spec.VolumeName != "" || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClass {
			continue
		}
		pvName := "pv-" + string(pvc.UID)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: pvName, Labels: map[string]string{"medforge.test/provisioner": "kubetest"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      pvc.Spec.Resources.Requests,
				AccessModes:                   pvc.Spec.AccessModes,
				StorageClassName:              StorageClass,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: pvc.Name, UID: pvc.UID},
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					CSI: &corev1.CSIPersistentVolumeSource{Driver: "kubetest.medforge.local", VolumeHandle: pvName},
				},
			},
		}
		if _, err := cl.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			continue
		}
		if got, err := cl.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err == nil {
			got.Status.Phase = corev1.VolumeBound
			_, _ = cl.CoreV1().PersistentVolumes().UpdateStatus(ctx, got, metav1.UpdateOptions{})
		}
		pvc.Spec.VolumeName = pvName
		if pvc.Annotations == nil {
			pvc.Annotations = map[string]string{}
		}
		pvc.Annotations["pv.kubernetes.io/bind-completed"] = "yes"
		upd, err := cl.CoreV1().PersistentVolumeClaims(ns).Update(ctx, pvc, metav1.UpdateOptions{})
		if err != nil {
			continue
		}
		upd.Status.Phase = corev1.ClaimBound
		upd.Status.Capacity = pvc.Spec.Resources.Requests
		upd.Status.AccessModes = pvc.Spec.AccessModes
		_, _ = cl.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	}
}

// ApplyFile creates every object of a YAML file, or of every *.yaml file of
// a folder, with the admin client (server-side apply, so it can be repeated).
func (c *Cluster) ApplyFile(ctx context.Context, path string) error {
	objs, err := ReadObjects(path)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := c.Apply(ctx, o, false); err != nil {
			return err
		}
	}
	return nil
}

// ReadObjects decodes every object of a YAML file, or of every *.yaml file
// of a folder (not recursively; kustomization.yaml is skipped).
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	files := []string{path}
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if fi.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.yaml"))
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(fh, 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				fh.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(m) == 0 {
				continue
			}
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out, nil
}

// Apply server-side-applies one object (dryRun: the server validates and
// admits it but stores nothing).
func (c *Cluster) Apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	gvk := o.GroupVersionKind()
	res, namespaced, err := c.resourceFor(gvk)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	opts := metav1.ApplyOptions{FieldManager: "kubetest", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = c.Dyn.Resource(res)
	if namespaced {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = c.Dyn.Resource(res).Namespace(ns)
	}
	if _, err := ri.Apply(ctx, o.GetName(), o, opts); err != nil {
		return fmt.Errorf("%s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

func (c *Cluster) resourceFor(gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	lists, err := c.Client.Discovery().ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	for _, r := range lists.APIResources {
		if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
			return gvk.GroupVersion().WithResource(r.Name), r.Namespaced, nil
		}
	}
	return schema.GroupVersionResource{}, false, fmt.Errorf("no resource for kind %s", gvk)
}

func (c *Cluster) waitCRDs(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Client.Discovery().ServerResourcesForGroupVersion("snapshot.storage.k8s.io/v1")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("snapshot.storage.k8s.io/v1 not served: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// As returns a client configuration that acts as the service account ns/name
// (impersonation by the admin), so RBAC is enforced by the real authorizer.
func (c *Cluster) As(ns, name string) *rest.Config {
	cfg := rest.CopyConfig(c.Admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	return cfg
}

// CanI asks the authorizer whether the service account may do verb on
// resource (group "" for core) in ns.
func CanI(ctx context.Context, cl kubernetes.Interface, verb, group, res, ns string) (bool, error) {
	r, err := cl.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, selfReview(verb, group, res, ns), metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

func selfReview(verb, group, res, ns string) *authzv1.SelfSubjectAccessReview {
	return &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Namespace: ns},
	}}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

package kubert_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medforge/medforge/internal/kubetest"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/kubert"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

// One control plane for the package: starting an API server costs seconds.
// Tests share it but never each other's objects: each env has its own
// instance label, its own node pool (the GPU inventory is limited to it)
// and its own database, and removes its Pods and nodes when it ends.
var (
	clusterOnce sync.Once
	cluster     *kubetest.Cluster
	clusterErr  error
	clusterDir  string
)

const (
	extNS = "medforge-external-sessions"
	intNS = "medforge-internal-sessions"
	// image is what the pack allowlist names: pinned by digest, as
	// production requires. KWOK runs no container, so nothing is pulled.
	image = "registry.example/medforge/ide@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	if clusterDir != "" {
		if code == 0 {
			os.RemoveAll(clusterDir)
		} else {
			fmt.Fprintln(os.Stderr, "kubernetes control plane logs kept in", filepath.Join(clusterDir, "logs"))
		}
	}
	os.Exit(code)
}

// controlPlane starts the shared cluster once, with MedForge's namespaces
// and RBAC from deploy/kubernetes applied.
func controlPlane(t *testing.T) *kubetest.Cluster {
	t.Helper()
	bin := kubetest.Require(t)
	clusterOnce.Do(func() {
		clusterDir, clusterErr = os.MkdirTemp("", "medforge-kube-")
		if clusterErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cluster, clusterErr = kubetest.Start(ctx, bin, clusterDir, "medforge", extNS, intNS)
		if clusterErr != nil {
			return
		}
		root := kubetest.RepoRoot()
		for _, f := range []string{"namespaces.yaml", "rbac.yaml"} {
			if clusterErr = cluster.ApplyFile(ctx, filepath.Join(root, "deploy/kubernetes", f)); clusterErr != nil {
				return
			}
		}
	})
	if clusterErr != nil {
		t.Fatalf("start the kubernetes control plane: %v (logs in %s)", clusterErr, clusterDir)
	}
	return cluster
}

// env is one isolated session runtime on the shared cluster.
type env struct {
	t        *testing.T
	c        *kubetest.Cluster
	st       store.Store
	svc      *sessions.Service
	drv      *kubert.Driver
	cfg      sessions.Config
	instance string
	pool     string
	nodes    []string
	// data are the read-only data claims the driver mounts (envOpts.data).
	data []kubert.DataClaim
}

type envOpts struct {
	nodes, gpus int // fake nodes and GPUs per node (default 1 x 2)
	noStart     bool
	admin       bool // drive the cluster as admin instead of the API's service account
	// data creates read-only data PVCs (training, public-eval) in both
	// session namespaces and has the driver mount them.
	data bool
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	c := controlPlane(t)
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.gpus == 0 {
		o.gpus = 2
	}
	e := &env{t: t, c: c, instance: "kt-" + randHex(4)}
	e.pool = e.instance
	e.st, _ = testdb.FreshNamed(t, true)
	ctx := ctxT(t, 2*time.Minute)
	var err error
	if e.nodes, err = c.AddGPUNodes(ctx, e.pool, o.nodes, o.gpus); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	if o.data {
		e.data = []kubert.DataClaim{{Claim: "training-" + e.instance, Target: "/data/training"},
			{Claim: "public-eval-" + e.instance, Target: "/data/public-eval"}}
		for _, ns := range []string{extNS, intNS} {
			for _, dc := range e.data {
				pvc := &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: dc.Claim, Namespace: ns},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
						StorageClassName: new(kubetest.StorageClass),
						Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}
				if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	e.drv = e.newDriver(o.admin)
	e.cfg = sessions.Config{
		Instance:     e.instance,
		Packs:        map[string]string{"default": image},
		NanoCPUs:     2_000_000_000,
		MemoryBytes:  8 << 30,
		StartTimeout: 30 * time.Second,
		StopGrace:    time.Second,
		PollInterval: 300 * time.Millisecond,
		BackoffMax:   time.Second,
		// A pass that cannot reach the API server fails; two in a row
		// make /healthz degraded.
		UnhealthyAfter: 2,
		// A GPU the scheduler could not use is offered again soon.
		UnschedulableHold: 5 * time.Second,
	}
	e.svc = e.newService()
	if !o.noStart {
		if err := e.svc.Start(ctxT(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// newDriver is a driver acting as the API's service account (so every call
// passes the real RBAC authorizer with deploy/kubernetes/rbac.yaml), or as
// admin.
func (e *env) newDriver(admin bool) *kubert.Driver {
	e.t.Helper()
	rc := e.c.As("medforge", "medforge-api")
	if admin {
		rc = e.c.Admin
	}
	d, err := kubert.New(rc, kubert.Config{
		StorageClass:    kubetest.StorageClass,
		WorkspaceSize:   resource.MustParse("10Gi"),
		SnapshotClass:   "medforge-workspaces",
		RequireDigest:   true,
		Instance:        e.instance,
		GPUNodeSelector: "medforge.test/pool=" + e.pool,
		DataClaims:      e.data,
		// Short, so the unschedulable test is quick; long enough that a
		// scheduling retry after a PVC binds never counts.
		UnschedulableGrace: 2 * time.Second,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(d.Close)
	return d
}

// newService builds a Service on the env's database and a fresh driver: a
// restarted API process.
func (e *env) newService() *sessions.Service {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := sessions.New(e.cfg, e.st, e.drv.GPUs(), e.drv, e.drv, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(svc.Close)
	return svc
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// cleanup removes the env's Pods, Services and nodes (its PVCs and
// snapshots have unique names and stay, as on a cluster).
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.c.Client
	zero := int64(0)
	sel := metav1.ListOptions{LabelSelector: sessions.LabelInstance + "=" + e.instance}
	for _, ns := range []string{extNS, intNS} {
		_ = cl.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, sel)
		svcs, _ := cl.CoreV1().Services(ns).List(ctx, sel)
		if svcs != nil {
			for _, s := range svcs.Items {
				_ = cl.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{})
			}
		}
	}
	e.c.DeleteNodes(ctx, e.nodes)
}

func (e *env) user(o testdb.UserOpts) int64 {
	e.t.Helper()
	return testdb.User(e.t, e.st, o).ID
}

// waitStatus polls until the session has status want (or fails the test).
func (e *env) waitStatus(svc *sessions.Service, id int64, want sessions.Status, within time.Duration) sessions.Session {
	e.t.Helper()
	ctx := ctxT(e.t, within)
	var last sessions.Session
	for {
		s, err := svc.Get(ctx, id, 0)
		if err == nil {
			last = s
			if s.Status == want {
				return s
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("session %d: status %q (%s), want %q within %s", id, last.Status, last.ErrorReason, want, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *env) running(uid int64, x sessions.Exposure) sessions.Session {
	e.t.Helper()
	s, err := e.svc.Create(ctxT(e.t, 10*time.Second), sessions.CreateRequest{UserID: uid, Exposure: x})
	if err != nil {
		e.t.Fatalf("create session: %v", err)
	}
	return e.waitStatus(e.svc, s.ID, sessions.StatusRunning, 45*time.Second)
}

// snapshots lists the VolumeSnapshots of a workspace, as admin.
func (e *env) snapshots(ns, workspace string) []string {
	e.t.Helper()
	l, err := e.c.Dyn.Resource(kubert.SnapshotGVR).Namespace(ns).List(ctxT(e.t, 10*time.Second),
		metav1.ListOptions{LabelSelector: kubert.LabelWorkspace + "=" + workspace})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range l.Items {
		out = append(out, it.GetName())
	}
	return out
}

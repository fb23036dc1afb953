package kubernetes_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/medforge/medforge/internal/kubetest"
)

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// readKustomization refuses anything but resources: what is applied is
// exactly what the files say, so the dry run below covers all of it.
func readKustomization(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml uses more than apiVersion, kind and resources: %v", err)
	}
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("kustomization.yaml: kind %q, %d resources", k.Kind, len(k.Resources))
	}
	listed := append([]string(nil), k.Resources...)
	sort.Strings(listed)
	files, _ := filepath.Glob("*.yaml")
	var all []string
	for _, f := range files {
		if f != "kustomization.yaml" {
			all = append(all, f)
		}
	}
	if !reflect.DeepEqual(listed, all) {
		t.Errorf("kustomization resources %v, files %v: every manifest must be listed", listed, all)
	}
	return k.Resources
}

func objects(t *testing.T, files []string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, f := range files {
		objs, err := kubetest.ReadObjects(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, objs...)
	}
	return out
}

// Every object of the kustomization passes a server-side dry run on the real
// API server (schema validation, defaulting and admission, including Pod
// Security on the namespaces that enforce it).
func TestManifestsServerSideDryRun(t *testing.T) {
	bin := kubetest.Require(t)
	files := readKustomization(t)
	objs := objects(t, files)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := kubetest.Start(ctx, bin, dir)
	if err != nil {
		t.Fatalf("control plane: %v (logs in %s)", err, dir)
	}
	defer c.Close()
	kinds := map[string]int{}
	// Namespaces first, dry run; then created for real, since a dry run of
	// an object in a namespace that does not exist is refused.
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if err := c.Apply(ctx, o, true); err != nil {
				t.Errorf("dry run: %v", err)
			}
			if err := c.Apply(ctx, o, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() == "Namespace" {
			continue
		}
		if err := c.Apply(ctx, o, true); err != nil {
			t.Errorf("dry run: %v", err)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
		"NetworkPolicy", "StatefulSet", "Deployment", "Service", "ConfigMap", "VolumeSnapshotClass"} {
		if kinds[k] == 0 {
			t.Errorf("the manifests have no %s", k)
		}
	}
	if kinds["Namespace"] != 3 || kinds["Deployment"] != 3 {
		t.Errorf("kinds %v: want the 3 namespaces and the API, worker and Caddy deployments", kinds)
	}
}

// Caddy in the cluster runs the repository's Caddyfile and session route
// byte for byte, so the routing matrix is the single-host one.
func TestCaddyConfigIsTheRepositorys(t *testing.T) {
	for _, o := range objects(t, []string{"caddy.yaml"}) {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for key, file := range map[string]string{"Caddyfile": "../caddy/Caddyfile", "session-route.caddy": "../caddy/session-route.caddy"} {
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if data[key] != string(want) {
				t.Errorf("caddy.yaml %s differs from %s: regenerate it (docs/runbook.md, Kubernetes)", key, file)
			}
		}
		return
	}
	t.Fatal("caddy.yaml has no ConfigMap")
}

// Every workload runs as non-root without privilege escalation, with all
// capabilities dropped and seccomp RuntimeDefault; none runs privileged or
// mounts a host path.
func TestWorkloadsHardened(t *testing.T) {
	for _, o := range objects(t, readKustomization(t)) {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
			continue
		}
		name := o.GetKind() + "/" + o.GetName()
		spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if v, _, _ := unstructured.NestedBool(spec, "securityContext", "runAsNonRoot"); !v {
			t.Errorf("%s: runAsNonRoot not set", name)
		}
		if v, _, _ := unstructured.NestedString(spec, "securityContext", "seccompProfile", "type"); v != "RuntimeDefault" {
			t.Errorf("%s: seccomp %q", name, v)
		}
		vols, _, _ := unstructured.NestedSlice(spec, "volumes")
		for _, v := range vols {
			if _, ok := v.(map[string]any)["hostPath"]; ok {
				t.Errorf("%s mounts a host path", name)
			}
		}
		cs, _, _ := unstructured.NestedSlice(spec, "containers")
		for _, c := range cs {
			cm := c.(map[string]any)
			if v, found, _ := unstructured.NestedBool(cm, "securityContext", "allowPrivilegeEscalation"); !found || v {
				t.Errorf("%s: allowPrivilegeEscalation not false", name)
			}
			drop, _, _ := unstructured.NestedStringSlice(cm, "securityContext", "capabilities", "drop")
			if strings.Join(drop, ",") != "ALL" {
				t.Errorf("%s: capabilities drop %v", name, drop)
			}
			img, _, _ := unstructured.NestedString(cm, "image")
			if !strings.Contains(img, "@sha256:") && !strings.HasPrefix(img, "mariadb:") {
				t.Errorf("%s: image %q not pinned by digest", name, img)
			}
		}
	}
}

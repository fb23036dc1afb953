package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/medforge/medforge/sessions/standin"
)

func root(t testing.TB) string {
	t.Helper()
	r, err := standin.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// envFile writes .env.example with the build context pointed at dir and
// the given overrides ("" deletes the variable).
func envFile(t *testing.T, dir string, override map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	override["MEDFORGE_API_BUILD_CONTEXT"] = dir
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if v, has := override[k]; ok && has && !strings.HasPrefix(line, "#") {
			if v == "" {
				continue
			}
			line = k + "=" + v
		}
		out = append(out, line)
	}
	p := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func composeConfig(t *testing.T, env string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t, time.Minute), "docker-compose", "--env-file", env, "-f", filepath.Join(root(t), "deploy", "compose", "docker-compose.yml"), "config")
	// Only the env file speaks: the runner's own MEDFORGE_* must not leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestComposeConfig validates the stack with docker-compose itself and
// checks the contract's topology in the resolved file.
func TestComposeConfig(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is missing (ops/dev/deps.sh installs it)")
	}
	ctx := t.TempDir()
	out, err := composeConfig(t, envFile(t, ctx, map[string]string{}))
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{
		"medforge-api:", "medforge-api-worker:", "medforge-db:", "medforge-caddy:",
		"name: medforge-control", "name: medforge-external-sessions", "name: medforge-internal-sessions",
		"ipv4_address: 172.30.0.2", "ipv4_address: 172.30.0.3", "subnet: 172.30.0.0/24", "internal: true",
		"ip_range: 172.30.0.128/25", "ip_range: 172.30.1.128/25",
		"context: " + ctx, "MEDFORGE_COOKIE_SECURE: 'true'",
	} {
		if !strings.Contains(out, want) && !strings.Contains(out, strings.ReplaceAll(want, "'", "\"")) {
			t.Errorf("resolved compose file lacks %q", want)
		}
	}
	// The holdouts are mounted into the API and the worker, and into no
	// session (sessions are not services; the API refuses such mounts).
	if strings.Count(out, "/tank/medforge/data/holdouts:/tank/medforge/data/holdouts:ro") != 2 {
		t.Errorf("holdouts mounted other than read-only into exactly the API and the worker:\n%s", out)
	}

	// .env.example names every variable the compose file reads.
	yml, err := os.ReadFile(filepath.Join(root(t), "deploy", "compose", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root(t), "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(string(yml), -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
			t.Errorf(".env.example lacks %s, which docker-compose.yml reads", m[1])
		}
	}

	tests := []struct{ name, unset string }{
		{"domain", "MEDFORGE_DOMAIN"},
		{"db password", "MEDFORGE_DB_PASSWORD"},
		{"pack image", "MEDFORGE_PACK_IMAGE"},
		{"tls cert", "MEDFORGE_TLS_CERT_FILE"},
		{"holdouts", "MEDFORGE_TEST_HOLDOUTS_DIR"},
	}
	for _, tc := range tests {
		t.Run("missing "+tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := composeConfig(t, envFile(t, ctx, map[string]string{tc.unset: ""}))
			if err == nil || !strings.Contains(out, tc.unset) {
				t.Fatalf("config without %s: err %v, output:\n%s", tc.unset, err, out)
			}
		})
	}
}

// TestAPIImageBuilds builds the static binary and the FROM-scratch API
// image the compose file uses, then runs it.
func TestAPIImageBuilds(t *testing.T) {
	t.Parallel()
	ctxDir := t.TempDir()
	tag := fmt.Sprintf("medforge/api:test-%d", time.Now().UnixNano())
	cmd := exec.CommandContext(ctxT(t, 15*time.Minute), filepath.Join(root(t), "ops", "host", "build-api-image.sh"), tag)
	cmd.Env = append(os.Environ(), "MEDFORGE_API_BUILD_CONTEXT="+ctxDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-api-image: %v\n%s", err, out)
	}
	cli := dockerClient(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = cli.ImageRemove(ctx, tag, imageRemoveOptions())
	})
	info, err := cli.ImageInspect(ctxT(t, time.Minute), tag)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.RootFS.Layers) != 1 || info.Config.User != "65532:65532" {
		t.Fatalf("image has %d layers (want 1: FROM scratch + the binary), user %q", len(info.RootFS.Layers), info.Config.User)
	}
	out, err := exec.CommandContext(ctxT(t, 2*time.Minute), "docker", "run", "--rm", "--network", "none", tag, "version").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		t.Fatalf("medforge version in the image: %v: %s", err, out)
	}
}

// TestValidateDeployVocabulary runs the host validator: every line it
// prints is a claim in the seed's vocabulary, and claims it can check here
// (the Docker engine, the compose file) come out VERIFIED.
func TestValidateDeployVocabulary(t *testing.T) {
	t.Parallel()
	env := envFile(t, t.TempDir(), map[string]string{})
	cmd := exec.CommandContext(ctxT(t, 3*time.Minute), filepath.Join(root(t), "ops", "host", "validate-deploy.sh"), env)
	out, _ := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("validate-deploy.sh printed too little:\n%s", out)
	}
	for _, l := range lines {
		w, _, _ := strings.Cut(l, " ")
		if w != "VERIFIED" && w != "UNVERIFIED" && w != "NOT_IMPLEMENTED" {
			t.Errorf("line outside the vocabulary: %q", l)
		}
	}
	for _, want := range []string{"VERIFIED Docker engine answers", "VERIFIED compose stack is valid"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

package deploy_test

import (
	"context"
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

// envFile writes .env.example with the given overrides ("" deletes the
// variable).
func envFile(t *testing.T, override map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
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

func composeConfig(t *testing.T, env string, files ...string) (string, error) {
	t.Helper()
	args := []string{"--env-file", env, "-f", filepath.Join(root(t), "deploy", "compose", "docker-compose.yml")}
	for _, f := range files {
		args = append(args, "-f", filepath.Join(root(t), "deploy", "compose", f))
	}
	cmd := exec.CommandContext(ctxT(t, time.Minute), "docker-compose", append(args, "config")...)
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
	out, err := composeConfig(t, envFile(t, map[string]string{}))
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{
		"medforge-api:", "medforge-api-worker:", "medforge-db:", "medforge-caddy:",
		"name: medforge-control", "name: medforge-external-sessions", "name: medforge-internal-sessions",
		"ipv4_address: 172.30.0.2", "ipv4_address: 172.30.0.3", "subnet: 172.30.0.0/24", "internal: true",
		"ip_range: 172.30.0.128/25", "ip_range: 172.30.1.128/25",
		"MEDFORGE_COOKIE_SECURE: 'true'", "MEDFORGE_EMBEDDED_WORKER: 'false'", "MEDFORGE_DATA_OWNER: 65532:65532",
		"MEDFORGE_ISOLATION_CHECK: probe", "MEDFORGE_SESSION_HOST_GUARD: host", "user: 65532:65532", "no-new-privileges:true",
	} {
		if !strings.Contains(out, want) && !strings.Contains(out, strings.ReplaceAll(want, "'", "\"")) {
			t.Errorf("resolved compose file lacks %q", want)
		}
	}
	// The holdouts are mounted into the API (which imports bundles) and,
	// read-only, into the worker, and into no session (sessions are not
	// services; the API refuses such mounts). Only the API holds the Docker
	// socket.
	if n := strings.Count(out, "/tank/medforge/data/holdouts:/tank/medforge/data/holdouts"); n != 2 {
		t.Errorf("holdouts mounted %d times, want the API and the worker:\n%s", n, out)
	}
	if strings.Count(out, "/tank/medforge/data/holdouts:/tank/medforge/data/holdouts:ro") != 1 {
		t.Errorf("the worker's holdouts mount is not read-only:\n%s", out)
	}
	if strings.Count(out, "docker.sock") != 2 { // source and target of one mount
		t.Errorf("the Docker socket is mounted other than into the API alone:\n%s", out)
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

	// The GPU override (UNVERIFIED on hardware here: no GPU) resolves and
	// gives the API the NVIDIA driver's utility libraries for NVML.
	t.Run("gpu override", func(t *testing.T) {
		t.Parallel()
		out, err := composeConfig(t, envFile(t, map[string]string{}), "docker-compose.gpu.yml")
		if err != nil || !strings.Contains(out, "driver: nvidia") || !strings.Contains(out, "NVIDIA_DRIVER_CAPABILITIES: utility") {
			t.Fatalf("gpu override: %v\n%s", err, out)
		}
	})

	tests := []struct{ name, unset string }{
		{"domain", "MEDFORGE_DOMAIN"},
		{"db password", "MEDFORGE_DB_PASSWORD"},
		{"pack image", "MEDFORGE_PACK_IMAGE"},
		{"tls dir", "MEDFORGE_TLS_DIR"},
		{"store dir", "MEDFORGE_STORE_DIR"},
		{"holdouts", "MEDFORGE_TEST_HOLDOUTS_DIR"},
	}
	for _, tc := range tests {
		t.Run("missing "+tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := composeConfig(t, envFile(t, map[string]string{tc.unset: ""}))
			if err == nil || !strings.Contains(out, tc.unset) {
				t.Fatalf("config without %s: err %v, output:\n%s", tc.unset, err, out)
			}
		})
	}
}

// TestImagesTakeTheirBase: every image of the stack is built on the base
// given as BASE (the Debian root from ops/images/base.sh here, an official
// image where a registry is reachable), and the Compose file's defaults are
// the images ops/images/build.sh tags. The images themselves are built and
// run by make test-stack (deploy/stacktest).
func TestImagesTakeTheirBase(t *testing.T) {
	t.Parallel()
	yml, err := os.ReadFile(filepath.Join(root(t), "deploy", "compose", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	build, err := os.ReadFile(filepath.Join(root(t), "ops", "images", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mariadb", "caddy", "medforge"} {
		df, err := os.ReadFile(filepath.Join(root(t), "deploy", "images", name, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^ARG BASE=`).Match(df) || !regexp.MustCompile(`(?m)^FROM \$\{BASE\}$`).Match(df) {
			t.Errorf("deploy/images/%s/Dockerfile does not build FROM ${BASE}", name)
		}
		ref := "medforge/" + name + ":local"
		if !strings.Contains(string(yml), ref) || !strings.Contains(string(build), "medforge/"+name+":$tag") {
			t.Errorf("%s: the compose default and build.sh's tag disagree", ref)
		}
	}
	if !regexp.MustCompile(`(?m)^USER 65532:65532$`).Match(mustRead(t, filepath.Join(root(t), "deploy", "images", "medforge", "Dockerfile"))) {
		t.Error("the MedForge image does not run as 65532:65532")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestValidateDeployVocabulary runs the host validator: every line it
// prints is a claim in the seed's vocabulary, and claims it can check here
// (the Docker engine, the compose file) come out VERIFIED.
func TestValidateDeployVocabulary(t *testing.T) {
	t.Parallel()
	env := envFile(t, map[string]string{})
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

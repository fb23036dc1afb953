package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/medforge/medforge/competitions/httpcomp"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store/testdb"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the routes serve mounts (make openapi)")

// goldenOpenAPI is the committed API contract: what serve answers at
// /api/v2/openapi.json with every capability on.
const goldenOpenAPI = "../../docs/openapi.json"

// The pinned generator of the client check (docs/api.md); `go run` caches
// its build in the Go build cache.
const (
	oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"
	oapiRuntime = "github.com/oapi-codegen/runtime v1.9.0"
)

// apiDocument mounts every capability's API routes the way serve's hooks
// do, with the runtimes built but not started (no Docker, no scoring), and
// returns the server's OpenAPI document, indented as the golden file is.
func apiDocument(t *testing.T) []byte {
	t.Helper()
	st := testdb.Store(t)
	env := map[string]string{"MEDFORGE_DOMAIN": "localhost", "MEDFORGE_RUN_DIR": t.TempDir()}
	cfg, _, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id, err := newIdentity(cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Deps{Config: cfg, Store: st, Identity: id, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mountIdentity(srv, id)
	comp, err := newCompetitions(cfg, st, log, true)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.Close()
	if err := httpcomp.Mount(srv, comp.svc, nil); err != nil {
		t.Fatal(err)
	}

	rt, err := dockerrt.New(dockerrt.Options{Host: "unix:///nonexistent/docker.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	gpus, err := gpu.ParseDeclared("none")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.NewDirectory(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc := sessionsConfig(cfg)
	sc.Packs = map[string]string{"default": "medforge/standin-ide:doc"}
	svc, err := sessions.New(sc, st, gpus, ws, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	senv := &serveEnv{Config: cfg, Store: st, Identity: id, Server: srv, Health: srv.Health(), Logger: log,
		Go: func(string, func(context.Context) error) {}}
	if err := mountSessions(ctx, senv, svc); err != nil {
		t.Fatal(err)
	}

	doc, err := srv.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestOpenAPIGolden: docs/openapi.json is exactly the document the routes
// produce, so every change to the API contract shows up in review. After
// adding or changing a route, run `make openapi` and commit the file.
func TestOpenAPIGolden(t *testing.T) {
	got := apiDocument(t)
	if *update {
		if err := os.WriteFile(goldenOpenAPI, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenOpenAPI)
	if err != nil {
		t.Fatalf("%v (run make openapi)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/openapi.json is stale; run `make openapi` and commit it. First difference at line %d:\n  routes: %s\n  golden: %s", i+1, g, w)
			}
		}
	}
}

// TestOpenAPIUsableByOutsideTools: the committed document validates with
// kin-openapi, and a Go client generated from it with oapi-codegen
// compiles. The first run builds the generator (a minute or two); later
// runs take it from the Go build cache.
func TestOpenAPIUsableByOutsideTools(t *testing.T) {
	b, err := os.ReadFile(goldenOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("kin-openapi cannot load docs/openapi.json: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("kin-openapi rejects docs/openapi.json: %v", err)
	}

	dir := t.TempDir()
	spec := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	gomod := "module medforge.test/apiclient\n\ngo 1.22\n\nrequire " + oapiRuntime + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	goTool := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goTool("run", oapiCodegen, "-generate", "types,client", "-package", "apiclient", "-o", "client.go", "openapi.json")
	gen, err := os.ReadFile(filepath.Join(dir, "client.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Scores keep their precision in a generated client (format double).
	if !regexp.MustCompile(`PrimaryScore\s+\*float64`).Match(gen) {
		t.Errorf("the generated Submission.PrimaryScore is not *float64")
	}
	goTool("mod", "tidy")
	goTool("build", "./...")
}

// checkServedMatchesGolden: every operation serve answers is the golden
// document's operation, byte for byte after decoding (serve may answer a
// subset: sessions are off on hosts without Docker).
func checkServedMatchesGolden(t *testing.T, served []byte) {
	t.Helper()
	type paths struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	var s, g paths
	golden, err := os.ReadFile(goldenOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(served, &s); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(golden, &g); err != nil {
		t.Fatal(err)
	}
	for path, ops := range s.Paths {
		for method, op := range ops {
			if !reflect.DeepEqual(op, g.Paths[path][method]) {
				t.Errorf("serve's %s %s differs from docs/openapi.json (run make openapi; a new adapter must be mounted in apiDocument too)", method, path)
			}
		}
	}
}

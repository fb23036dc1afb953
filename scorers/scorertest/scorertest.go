// Package scorertest builds scorer modules from source for tests: the
// built-in modules (reusing $MEDFORGE_SCORERS_DIR when `make test` already
// built them) and test-only modules such as the hostile ones of
// engine/sandbox. Builds are cached under os.TempDir() by a hash of their
// sources, so a second test binary does not rebuild.
//
// It is for tests only: it never decides anything at run time.
package scorertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/scorers"
)

// Root returns the repository root of this checkout.
func Root(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("scorertest: cannot locate source")
	}
	root, err := scorers.FindRoot(filepath.Dir(file))
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// Build returns the path of the built-in module name: from
// $MEDFORGE_SCORERS_DIR when it holds one, else built from this checkout's
// sources (cached by source hash).
func Build(tb testing.TB, name string) string {
	tb.Helper()
	if d := os.Getenv(scorers.DirEnv); d != "" {
		p := filepath.Join(d, name+".wasm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	root := Root(tb)
	h := hashTree(tb, root, "engine/abi", "scorers", "go.mod", "go.sum")
	return cached(tb, "builtin-"+name, h, func(ctx context.Context, out string) error {
		dir := filepath.Dir(out)
		if err := scorers.Build(ctx, root, dir, name); err != nil {
			return err
		}
		return os.Rename(filepath.Join(dir, name+".wasm"), out)
	})
}

// BuildGo returns the path of the Go package dir (absolute, or relative to
// the repository root) built as a wasip1 reactor module.
func BuildGo(tb testing.TB, dir string) string {
	tb.Helper()
	root := Root(tb)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		tb.Fatal(err)
	}
	h := hashTree(tb, root, "engine/abi", "scorers/sdk", "scorers/metrics", rel, "go.mod")
	return cached(tb, "go-"+filepath.Base(dir), h, func(ctx context.Context, out string) error {
		return scorers.BuildGo(ctx, root, "./"+filepath.ToSlash(rel), out)
	})
}

// BuildC returns the path of the C file src built as a wasm32-wasi reactor.
// The cache key covers src and every header in its folder.
func BuildC(tb testing.TB, src string) string {
	tb.Helper()
	h := sha256.New()
	headers, _ := filepath.Glob(filepath.Join(filepath.Dir(src), "*.h"))
	for _, f := range append([]string{src}, headers...) {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		h.Write(b)
	}
	return cached(tb, "c-"+strings.TrimSuffix(filepath.Base(src), ".c"), hex.EncodeToString(h.Sum(nil)[:8]), func(ctx context.Context, out string) error {
		return scorers.BuildC(ctx, src, out)
	})
}

func cached(tb testing.TB, name, hash string, build func(context.Context, string) error) string {
	tb.Helper()
	// A cache shared deliberately across test runs and packages, keyed by
	// the source hash and Go version: it is never removed, and each build
	// happens in a temporary folder removed below.
	dir := filepath.Join(os.TempDir(), "medforge-scorertest", runtime.Version())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, name+"-"+hash+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, name+".wasm")
	if err := build(ctx, built); err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	if err := os.Rename(built, out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// hashTree hashes the named files and folders (relative to root), skipping
// testdata and anything that is not Go, C or a module file.
func hashTree(tb testing.TB, root string, paths ...string) string {
	tb.Helper()
	h := sha256.New()
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			ext := filepath.Ext(path)
			if ext != ".go" && ext != ".c" && ext != ".h" && ext != ".mod" && ext != ".sum" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			h.Write([]byte(rel))
			h.Write([]byte{0})
			h.Write(b)
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

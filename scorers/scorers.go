package scorers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Built-in module names; each builds to <name>.wasm.
const (
	// Accuracy scores titanic-survival (Go).
	Accuracy = "accuracy"
	// Top1 scores cifar-100-classification (Go).
	Top1 = "top1"
	// MapIoU scores rsna-pneumonia-detection (Go).
	MapIoU = "map-iou"
	// AccuracyC is Accuracy written in C; it must agree with Accuracy exactly.
	AccuracyC = "accuracy-c"
	// ROCAUC scores breast-cancer-diagnosis (Go): sklearn's roc_auc_score.
	ROCAUC = "roc-auc"
)

// Builtins lists every built-in module name.
var Builtins = []string{Accuracy, Top1, MapIoU, AccuracyC, ROCAUC}

// DirEnv names the environment variable that points at built modules.
const DirEnv = "MEDFORGE_SCORERS_DIR"

// Dir returns where built modules live: $MEDFORGE_SCORERS_DIR when set,
// else the folder "scorers" next to the running executable (bin/scorers
// beside bin/medforge).
func Dir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return d, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("scorers: find executable: %w", err)
	}
	return filepath.Join(filepath.Dir(exe), "scorers"), nil
}

// Path returns the path of the built module name in Dir, or an error naming
// the path and `make scorers` when it is not there.
func Path(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+".wasm")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("scorers: built-in module %s not found at %s (run `make scorers` or set %s): %w", name, p, DirEnv, err)
	}
	return p, nil
}

// Build compiles the built-in modules names (all of Builtins when none are
// given) from the repository at root into outDir/<name>.wasm. Each file is
// written under a temporary name and renamed, so readers never see half a
// module.
func Build(ctx context.Context, root, outDir string, names ...string) error {
	if len(names) == 0 {
		names = Builtins
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		out := filepath.Join(outDir, name+".wasm")
		var err error
		switch name {
		case Accuracy, Top1, MapIoU, ROCAUC:
			err = BuildGo(ctx, root, "./scorers/"+name, out)
		case AccuracyC:
			err = BuildC(ctx, filepath.Join(root, "scorers", name, "accuracy.c"), out)
		default:
			err = fmt.Errorf("unknown built-in module %q", name)
		}
		if err != nil {
			return fmt.Errorf("scorers: build %s: %w", name, err)
		}
	}
	return nil
}

// BuildGo builds the Go package pkg (a path relative to the module at root,
// or absolute) as a wasip1 reactor module into out.
func BuildGo(ctx context.Context, root, pkg, out string) error {
	tmp := out + ".tmp"
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildmode=c-shared", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if err := run(cmd); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// BuildC builds the C file src as a wasm32-wasi reactor module into out with
// Debian's clang, lld and wasi-libc.
func BuildC(ctx context.Context, src, out string) error {
	tmp := out + ".tmp"
	cmd := exec.CommandContext(ctx, "clang", "--target=wasm32-wasi", "-O2", "-Wall", "-Werror",
		"-mexec-model=reactor", "-o", tmp, src)
	if err := run(cmd); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	// Not on PATH: `go test` and `go run` name their toolchain in GOROOT.
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		msg := bytes.TrimSpace(stderr.Bytes())
		if len(msg) > 0 {
			return fmt.Errorf("%v: %s", err, msg)
		}
		return err
	}
	return nil
}

// ErrNoRoot is returned by FindRoot outside a checkout of the repository.
var ErrNoRoot = errors.New("scorers: repository root (go.mod) not found")

// FindRoot walks up from dir to the folder holding go.mod.
func FindRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRoot
		}
		dir = parent
	}
}

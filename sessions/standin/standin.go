// Package standin builds the stand-in IDE image (deploy/packs/standin) from
// this repository's source: a static Go binary in a FROM-scratch image that
// serves HTTP on :8080 and echoes websockets. Tests, benchmarks and
// `make run` without MEDFORGE_PACK_IMAGE use it, because no image can be
// pulled on those hosts.
//
// It never pulls anything and never tags anything but medforge/standin-ide.
package standin

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// Repository is the image repository of the stand-in; the tag is a digest
// of the binary, so an unchanged source reuses the image already built.
const Repository = "medforge/standin-ide"

// Build compiles deploy/packs/standin under moduleRoot (found from the
// working directory when empty) and builds its image unless an image with
// the same content tag exists. It returns the image reference.
func Build(ctx context.Context, cli *client.Client, moduleRoot string) (string, error) {
	if moduleRoot == "" {
		r, err := FindModuleRoot()
		if err != nil {
			return "", err
		}
		moduleRoot = r
	}
	tmp, err := os.MkdirTemp("", "medforge-standin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "standin")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "./deploy/packs/standin")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build stand-in IDE: %w: %s", err, out)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	dockerfile, err := os.ReadFile(filepath.Join(moduleRoot, "deploy", "packs", "standin", "Dockerfile"))
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	sum.Write(binary)
	sum.Write(dockerfile)
	ref := Repository + ":" + hex.EncodeToString(sum.Sum(nil))[:16]
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"standin", 0o755, binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, PullParent: false,
		Labels: map[string]string{"org.medforge.pack": "standin"},
	})
	if err != nil {
		return "", fmt.Errorf("build stand-in image: %w", err)
	}
	defer resp.Body.Close()
	if err := buildError(resp.Body); err != nil {
		return "", fmt.Errorf("build stand-in image: %w", err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("stand-in image %s missing after build: %w", ref, err)
	}
	return ref, nil
}

// buildError reads the engine's JSON build stream and returns its error.
func buildError(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Error != "" {
			return errors.New(strings.TrimSpace(msg.Error))
		}
	}
	return sc.Err()
}

// FindModuleRoot walks up from the working directory to the folder holding
// MedForge's go.mod.
func FindModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/medforge/medforge")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("MedForge module root not found above the working directory")
		}
		dir = parent
	}
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

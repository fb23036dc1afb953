//go:build !linux

package sandbox

import (
	"os"
	"os/exec"
)

func setProcAttr(cmd *exec.Cmd) {}

func growPipe(*os.File) {}

func adviseHuge([]byte) {}

func confine(cfg runnerConfig) (string, error) { return cfg.CacheDir, nil }

func cgroupMemory(int, uint64) func() { return nil }

func chownTree(string, int, int) error { return nil }

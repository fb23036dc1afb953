//go:build !linux

package sandbox

import (
	"os"
	"os/exec"
)

func setProcAttr(cmd *exec.Cmd) {}

func growPipe(*os.File) {}

func adviseHuge([]byte) {}
